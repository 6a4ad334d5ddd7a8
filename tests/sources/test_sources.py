"""Dataset sources: registry, recipes, URL lists, the FFHQ metadata mirror, AnimeGAN styles, documented-only sets."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from mini_http import image_bytes

from cfkit.curate.sources import REJECT_REASONS, SOURCES, resolve
from cfkit.curate.sources.inputs import parse_url_list
from cfkit.curate.sources.recipes import load_dataset_recipe
from cfkit.errors import CfkitError, InputError
from cfkit.imageio import load_rgb

FAST = {"backoff": 0.01, "workers": 2, "progress": False, "allow_hosts": ["127.0.0.1"]}  # the test server


def test_registry_and_recipes():
    assert {"ffhq", "celeba", "idphoto", "anime", "handpainted", "bitmoji", "folder"} <= set(SOURCES.names())
    for name in SOURCES.names():
        rec = load_dataset_recipe(name)
        assert rec["name"] == name and "licence" in rec and rec["prepare"]["size"] > 0, name
        src = SOURCES.get(name)
        assert src.name == name and src.help and src.profile.name in ("photo", "drawing", "anime"), name
    assert load_dataset_recipe("ffhq")["official"]["metadata"]["md5"] == "425ae20f06a4da1d4dc0f46d40ba5fd6"


def test_recipes_prepare_block_is_a_typed_layer_that_agrees_with_the_code():
    """Every bundled recipe's ``prepare:`` block is PrepareOptions the code really uses; today's defaults hold."""
    from cfkit.curate.defaults import PREPARE_DEFAULTS, PrepareOptions
    from cfkit.curate.sources.recipes import prepare_layer
    from cfkit.options import command_options

    for name in SOURCES.names():
        where, block = prepare_layer(name)
        assert where.endswith(f"datasets/{name}.yaml: prepare")
        opts = command_options(PrepareOptions, (where, block))
        assert opts.size == PREPARE_DEFAULTS.size and opts.template == PREPARE_DEFAULTS.template, name


@pytest.fixture
def recipe_dir(tmp_path, monkeypatch):
    """A pipelines folder whose ``datasets/folder.yaml`` a test writes (the bundled one is left alone)."""
    from cfkit.curate.sources import recipes

    (tmp_path / "pipes" / "datasets").mkdir(parents=True)
    monkeypatch.setattr(recipes, "resource_dir", lambda _: tmp_path / "pipes")
    recipes.load_dataset_recipe.cache_clear()
    yield tmp_path / "pipes" / "datasets" / "folder.yaml"
    recipes.load_dataset_recipe.cache_clear()


def test_recipe_keys_nothing_reads_are_errors_naming_the_recipe(recipe_dir, run_cli, tmp_path):
    recipe_dir.write_text("name: folder\nprepare: {size: 128, detector: anime}\n")
    rc, _, err = run_cli("prepare", "folder", "--src", tmp_path / "nope", "--out", tmp_path / "o")
    assert rc == 2 and f"{recipe_dir}: prepare: unknown option(s) detector (known: mask," in err
    recipe_dir.write_text("name: folder\nkind: photo\n")
    rc, _, err = run_cli("prepare", "folder", "--src", tmp_path / "nope", "--out", tmp_path / "o")
    assert rc == 2 and f"{recipe_dir}: unknown key(s) kind" in err


def test_recipe_prepare_block_is_a_layer_under_the_flags(recipe_dir, run_cli, tmp_path):
    """The recipe's size reaches prepare (the worker's size check refuses 8 px); a --size flag overrides it."""
    from cfkit.curate import prepare

    recipe_dir.write_text("name: folder\nprepare: {size: 8}\n")
    rc, _, err = run_cli("prepare", "folder", "--src", tmp_path / "nope", "--out", tmp_path / "o")
    assert rc != 0 and "--size must be between 16 and 4096, got 8" in err
    with pytest.raises(CfkitError, match="got 8"):
        prepare("folder", tmp_path / "nope", tmp_path / "o")
    rc, _, err = run_cli("prepare", "folder", "--src", tmp_path / "nope", "--out", tmp_path / "o", "--size", "64")
    assert rc != 0 and "--src not found" in err


@pytest.mark.parametrize("name", ["celeba", "bitmoji", "idphoto", "handpainted", "folder"])
def test_sources_without_download_explain(name, tmp_path):
    with pytest.raises(CfkitError, match=f"cfkit prepare {name} --src"):
        resolve(name, None, tmp_path)


def test_celeba_names_its_official_locations(tmp_path):
    with pytest.raises(CfkitError, match="mmlab.ie.cuhk.edu.hk/projects/CelebA.html"):
        resolve("celeba", None, tmp_path)


def test_parse_url_list_forms():
    sha = "a" * 64
    text = f"# comment\nhttp://h/a.png {sha} CC BY 4.0\nhttp://h/b.png\tCC0\nhttp://h/c.png {'b' * 32}\n"
    items = parse_url_list(text)
    assert [(i.url, i.sha256, i.md5, i.licence) for i in items] == [
        ("http://h/a.png", sha, None, "CC BY 4.0"),
        ("http://h/b.png", None, None, "CC0"),
        ("http://h/c.png", None, "b" * 32, None),
    ]
    csv_items = parse_url_list("URL,License,sha256\nhttp://h/a.png,CC BY-SA 4.0,\n")
    assert (csv_items[0].url, csv_items[0].licence, csv_items[0].sha256) == ("http://h/a.png", "CC BY-SA 4.0", None)


def test_url_list_with_licence_column(server, tmp_path):
    bodies = [image_bytes(i) for i in range(4)]
    urls = [server.add(f"/img/{i}.png", b) for i, b in enumerate(bodies)]
    lines = [
        f"{urls[0]} {hashlib.sha256(bodies[0]).hexdigest()} CC BY 4.0",
        f"{urls[1]} {'0' * 64} CC0",  # wrong checksum
        f"{server.url}/img/missing.png CC0",
        f"{urls[2]}\tPublic Domain",
        urls[3],
    ]
    lst = tmp_path / "urls.txt"
    lst.write_text("\n".join(lines) + "\n")
    got = resolve("handpainted", str(lst), tmp_path / "work", limit=3, **FAST)
    assert [i.origin for i in got] == [urls[0], urls[2], urls[3]]  # rejections do not count toward the limit
    assert [i.licence for i in got] == ["CC BY 4.0", "Public Domain", None]
    assert got.rejected_by_reason() == {"checksum_mismatch": 1, "not_found": 1}
    assert set(got.rejected_by_reason()) <= set(REJECT_REASONS)
    for img in got:
        assert img.source == "handpainted" and img.path.is_file()
        assert img.meta["sha256"] == hashlib.sha256(img.path.read_bytes()).hexdigest()
        assert load_rgb(img.path).shape == (64, 64, 3)


def test_single_url_and_html_page_src(server, tmp_path):
    url = server.add("/one.jpg", image_bytes(9, fmt="JPEG"), ctype="image/jpeg")
    got = resolve("folder", url, tmp_path, **FAST)
    assert len(got) == 1 and got[0].origin == url and got[0].path.suffix == ".jpg"
    page = server.add("/gallery", b"<html></html>", ctype="text/html")
    with pytest.raises(InputError, match="cfkit scrape --page"):
        resolve("folder", page, tmp_path, **FAST)


def test_url_of_a_url_list(server, tmp_path):
    urls = [server.add(f"/u/{i}.png", image_bytes(80 + i)) for i in range(2)]
    lst = server.add(
        "/lists/faces.txt", ("\n".join(f"{u} CC BY 4.0" for u in urls) + "\n").encode(), ctype="text/plain"
    )
    got = resolve("folder", lst, tmp_path, **FAST)
    assert [i.origin for i in got] == urls and {i.licence for i in got} == {"CC BY 4.0"}


def _ffhq_mirror(server, n=5):
    """A miniature ffhq-dataset-v2.json pointing at 127.0.0.1, with good and deliberately bad entries."""
    meta = {}
    for i in range(n):
        body = image_bytes(i, size=128)
        path = f"thumbnails128x128/00000/{i:05d}.png"
        md5 = hashlib.md5(body).hexdigest()
        if i == 1:
            md5 = "0" * 32  # wrong checksum in the metadata
        if i == 2:
            body, ctype = b"<html>Sign in to continue</html>", "text/html"
        else:
            ctype = "image/png"
        server.add(f"/ffhq/{path}", body, ctype=ctype)
        lm = [[512.0 + k, 400.0 + k] for k in range(68)]
        meta[str(i)] = {
            "category": "training" if i < 4 else "validation",
            "metadata": {
                "photo_url": f"https://www.flickr.com/photos/x/{i}/",
                "author": f"author{i}",
                "license": "Attribution License",
                "license_url": "https://creativecommons.org/licenses/by/2.0/",
            },
            "image": {
                "file_path": f"images1024x1024/00000/{i:05d}.png",
                "file_url": "https://drive.google.com/x",
                "file_size": 1,
                "file_md5": "0" * 32,
                "face_landmarks": lm,
            },
            "thumbnail": {
                "file_url": "https://drive.google.com/uc?id=unreachable",
                "file_path": path,
                "file_size": len(body),
                "file_md5": md5,
                "pixel_size": [128, 128],
            },
        }
    blob = json.dumps(meta).encode()
    server.add("/ffhq/ffhq-dataset-v2.json", blob, ctype="application/json")
    return server.url + "/ffhq", hashlib.md5(blob).hexdigest()


def test_ffhq_mini_mirror(server, tmp_path, monkeypatch):
    base, md5 = _ffhq_mirror(server)
    monkeypatch.setenv("CFKIT_FFHQ_BASE_URL", base)
    got = resolve("ffhq", None, tmp_path, metadata_md5=md5, category="training", **FAST)
    assert [i.meta["ffhq_id"] for i in got] == ["0", "3"]
    assert {(r.origin.rsplit("/", 1)[1], r.reason) for r in got.rejected} == {
        ("00001.png", "checksum_mismatch"),
        ("00002.png", "not_image"),
    }
    first = got[0]
    assert first.path == tmp_path / "thumbnails128x128/00000/00000.png"
    assert first.licence == "Attribution License" and first.meta["author"] == "author0"
    assert first.meta["landmarks68"][0] == [64.0, 50.0]  # 1024 px landmarks scaled to the 128 px thumbnail
    assert got.licence.startswith("CC BY-NC-SA 4.0")
    # re-running resumes from the manifest: no image is fetched twice
    n_images = len([h for h in server.log if h.path.endswith(".png")])
    again = resolve("ffhq", None, tmp_path, metadata_md5=md5, limit=1, **FAST)
    assert len(again) == 1 and len([h for h in server.log if h.path.endswith(".png")]) == n_images


def test_ffhq_mirror_checksum_of_metadata(server, tmp_path):
    base, _ = _ffhq_mirror(server, n=2)
    with pytest.raises(InputError, match="checksum_mismatch"):
        resolve("ffhq", None, tmp_path, base_url=base, metadata_md5="f" * 32, **FAST)


def test_ffhq_local_metadata_and_unknown_variant(server, tmp_path):
    base, _ = _ffhq_mirror(server, n=2)
    meta = tmp_path / "ffhq.json"
    meta.write_bytes(server.routes["/ffhq/ffhq-dataset-v2.json"].body)
    got = resolve("ffhq", None, tmp_path / "w", metadata=str(meta), base_url=base, **FAST)
    assert len(got) == 1 and got.rejected_by_reason() == {"checksum_mismatch": 1}
    with pytest.raises(CfkitError, match="unknown variant"):
        resolve("ffhq", None, tmp_path / "w", metadata=str(meta), base_url=base, variant="huge", **FAST)


def _animegan_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for style, k in (("Hayao", 0), ("Paprika", 10)):
            for i in range(3):
                zf.writestr(f"dataset/{style}/style/{i}.jpg", image_bytes(k + i, fmt="JPEG"))
                zf.writestr(f"dataset/{style}/smooth/{i}.jpg", image_bytes(k + i + 50, fmt="JPEG"))
        zf.writestr("dataset/train_photo/p.jpg", image_bytes(99, fmt="JPEG"))
    return buf.getvalue()


def test_anime_release_zip(server, tmp_path):
    url = server.add("/AnimeGAN/releases/download/dataset-1/dataset.zip", _animegan_zip(), ctype="application/zip")
    got = resolve("anime", None, tmp_path, url=url, **FAST)
    assert [(i.meta["style"], i.path.name) for i in got] == [("Hayao", f"{i}.jpg") for i in range(3)]
    both = resolve("anime", None, tmp_path, url=url, style="all", limit=5, **FAST)
    assert len(both) == 5 and {i.meta["style"] for i in both} == {"Hayao", "Paprika"}
    assert len(server.hits("/AnimeGAN/releases/download/dataset-1/dataset.zip")) == 1  # fetched once
    local = resolve(
        "anime",
        str(tmp_path / "fetched" / next((tmp_path / "fetched").glob("*.zip")).name),
        tmp_path / "w2",
        style="Paprika",
    )
    assert [i.meta["style"] for i in local] == ["Paprika"] * 3
    with pytest.raises(CfkitError, match="unknown style"):
        resolve("anime", None, tmp_path, url=url, style="Ghibli", **FAST)
    with pytest.raises(CfkitError, match="drive.google.com"):
        resolve("anime", None, tmp_path, variant="selfie2anime")


def test_folder_src_and_missing(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "a.png").write_bytes(image_bytes(1))
    (tmp_path / "in" / "sub" / "b.jpg").write_bytes(image_bytes(2, fmt="JPEG"))
    got = resolve("idphoto", str(tmp_path / "in"), tmp_path / "w")
    assert [i.meta["relpath"] for i in got] == ["a.png", "sub/b.jpg"] and got[0].source == "idphoto"
    with pytest.raises(InputError, match="not found"):
        resolve("folder", str(tmp_path / "nope"), tmp_path / "w")
    with pytest.raises(CfkitError, match="unknown dataset source"):
        resolve("imagenet", None, tmp_path)


def test_a_source_module_is_all_it_takes(run_cli):
    """Profiles and the prepare help come from the sources themselves (no list to edit elsewhere)."""
    from cfkit.curate.profiles import ANIME, DRAWING, PHOTO
    from cfkit.curate.sources import profile

    assert profile("ffhq") is PHOTO and profile("bitmoji") is DRAWING and profile("anime") is ANIME
    rc, out, _ = run_cli("prepare", "--help")
    assert rc == 0
    for name in SOURCES.names():
        src = SOURCES.get(name)
        assert any(ln.split()[:2] == [name, src.profile.name] for ln in out.splitlines() if ln.strip()), name


def test_prepare_refuses_a_url_list_on_a_private_host_unless_allowed(server, tmp_path, run_cli):
    """User-given URLs are held to scrape's public-address policy: one line naming --allow-host, no request."""
    url = server.add("/img/0.png", image_bytes(3))
    lst = tmp_path / "urls.txt"
    lst.write_text(f"{url}\n")
    code, _, err = run_cli("prepare", "folder", "--src", lst, "--out", tmp_path / "out")
    assert code != 0 and err.strip().splitlines() == [
        f"error: {lst}: 127.0.0.1 resolves to 127.0.0.1, not a public address; pass --allow-host 127.0.0.1 "
        "to fetch from it"
    ]
    assert not server.log
    with pytest.raises(InputError, match="--allow-host 127.0.0.1"):
        resolve("folder", url, tmp_path / "w")
    got = resolve("folder", str(lst), tmp_path / "w", allow_hosts=["127.0.0.1"])
    assert [i.origin for i in got] == [url]
