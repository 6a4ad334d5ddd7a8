"""cfkit scrape against a local site: page parsing, robots, rate limit, dedupe, provenance, resume, CLI."""

from __future__ import annotations

import pandas as pd
import pytest
import typer
from mini_http import assert_paced, image_bytes

from cfkit.curate.scrape import PROVENANCE, page_images, scrape, scrape_options
from cfkit.curate.scrape_cli import register
from cfkit.curate.sources import resolve
from cfkit.errors import CfkitError

FAST = dict(min_interval=0.0, workers=2, retries=2, progress=False, allow_hosts=["127.0.0.1"])

PAGE = b"""<html><head><base href="/art/">
<meta name="license" content="CC BY-SA 4.0"></head><body>
<img src="a.png"><img src="data:image/png;base64,AAAA">
<picture><source srcset="b.png 1x, c.png 2x"><img src="/art/a.png" srcset="d.jpg 640w"></picture>
<a href="full/e.png">full size</a><a href="/about.html">about</a>
<img src="/private/secret.png"><img src="dup.png"><img src="page.png"><img src="missing.png">
</body></html>"""


LOCAL = ("--allow-host", "127.0.0.1")  # the test site is on loopback, which scraping refuses by default


def _site(server):
    server.add("/robots.txt", b"User-agent: *\nDisallow: /private/\n", ctype="text/plain")
    server.add("/gallery", PAGE, ctype="text/html")
    for i, name in enumerate(["a.png", "b.png", "c.png", "full/e.png"]):
        server.add(f"/art/{name}", image_bytes(30 + i))
    server.add("/art/d.jpg", image_bytes(40, fmt="JPEG"), ctype="image/jpeg")
    server.add("/art/dup.png", image_bytes(30))  # same bytes as a.png
    server.add("/art/page.png", b"<html>login</html>", ctype="text/html")
    server.add("/private/secret.png", image_bytes(50))
    return server.url + "/gallery"


def test_page_images_parsing():
    found, hint = page_images("http://h/x/page.html", PAGE.decode())
    assert found[:5] == [
        "http://h/art/a.png",
        "http://h/art/b.png",
        "http://h/art/c.png",
        "http://h/art/d.jpg",
        "http://h/art/full/e.png",
    ]
    assert "http://h/about.html" not in found and not any(u.startswith("data:") for u in found)
    assert hint == "CC BY-SA 4.0"
    _, rel = page_images("http://h/", '<a rel="license" href="/cc-by.html">CC</a>')
    assert rel == "http://h/cc-by.html"
    assert page_images("http://h/", "<p>no images</p>") == ([], None)


def test_scrape_page_polite_deduped_with_provenance(server, tmp_path):
    page = _site(server)
    out = tmp_path / "out"
    rep = scrape(out, pages=[page], options=scrape_options({"download": FAST}))
    assert rep.kept == 5
    assert rep.rejected == {"duplicate": 1, "not_found": 1, "not_image": 1, "robots_disallowed": 1}
    assert not server.hits("/private/secret.png")
    df = pd.read_parquet(out / PROVENANCE)
    assert len(df) == 9 and set(df.columns) >= {"url", "page", "fetched_at", "licence", "sha256", "status", "reason"}
    kept = df[df.status == "ok"]
    assert set(kept.licence) == {"CC BY-SA 4.0"} and set(kept.page) == {page}
    for _, row in kept.iterrows():
        assert row.file == f"{row.sha256[:20]}{'.jpg' if row.url.endswith('.jpg') else '.png'}"
        assert (out / row.file).is_file()
    assert len(list(out.glob("*.png"))) + len(list(out.glob("*.jpg"))) == 5

    # resume: a second run fetches only the page (and robots.txt is cached per run), no image again
    n_img = len([h for h in server.log if h.path.startswith("/art/")])
    rep2 = scrape(out, pages=[page], options=scrape_options({"download": FAST}))
    assert rep2.kept == 5 and len([h for h in server.log if h.path.startswith("/art/")]) == n_img

    # the scrape folder is a source whose images keep URL and licence
    got = resolve("handpainted", str(out), tmp_path / "work")
    assert len(got) == 5 and {i.licence for i in got} == {"CC BY-SA 4.0"}
    assert all(i.origin.startswith(server.url + "/art/") for i in got)


def test_scrape_url_list_and_rate_limit(server, tmp_path):
    urls = [server.add(f"/l/{i}.png", image_bytes(60 + i)) for i in range(4)]
    lst = tmp_path / "urls.csv"
    lst.write_text("url,licence\n" + "".join(f"{u},CC0\n" for u in urls))
    paced = scrape_options({"download": {**FAST, "min_interval": 0.2, "workers": 4}})
    rep = scrape(tmp_path / "o", urls_file=lst, options=paced)
    assert rep.kept == 4
    assert_paced(server, 0.2, n=5)  # robots.txt + 4 images, all to one host
    assert set(pd.read_parquet(tmp_path / "o" / PROVENANCE).licence) == {"CC0"}


def test_page_disallowed_by_robots(server, tmp_path):
    server.add("/robots.txt", b"User-agent: cfkit\nDisallow: /\n", ctype="text/plain")
    server.add("/gallery", PAGE, ctype="text/html")
    rep = scrape(tmp_path / "o", pages=[server.url + "/gallery"], options=scrape_options({"download": FAST}))
    assert rep.kept == 0 and rep.pages_failed == [(server.url + "/gallery", "robots_disallowed")]
    assert not server.hits("/gallery")


def test_scrape_needs_input(tmp_path):
    with pytest.raises(CfkitError, match="nothing to scrape"):
        scrape(tmp_path)


def test_scrape_cli(server, tmp_path, capsys):
    page = _site(server)
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # two commands: invoked by name as under `cfkit`
    with pytest.raises(SystemExit) as exc:
        app(["scrape", "--page", page, "--out", str(tmp_path / "o"), "--rate", "0", "--max-mb", "1", *LOCAL])
    assert exc.value.code == 0
    assert "5 images in" in capsys.readouterr().err
    assert (tmp_path / "o" / PROVENANCE).is_file()
    with pytest.raises(CfkitError, match="nothing to scrape"):
        app(["scrape", "--out", str(tmp_path / "o")], standalone_mode=False)
    with pytest.raises(SystemExit):
        app(["scrape", "--help"])
    assert "Example: cfkit scrape" in capsys.readouterr().out


def test_loopback_target_is_refused_unless_allowed(server, tmp_path):
    page = _site(server)
    rep = scrape(tmp_path / "o", pages=[page], options=scrape_options({"download": {**FAST, "allow_hosts": []}}))
    assert rep.kept == 0 and rep.pages_failed == [(page, "private_address")]
    assert not server.log  # not even robots.txt was asked for


def test_redirect_to_a_private_host_is_refused(server, tmp_path):
    """127.0.0.1 is allowed, ``localhost`` is not: a redirect there is refused before it is followed."""
    port = server.url.rsplit(":", 1)[1]
    server.add("/art/a.png", b"", status=302, headers={"Location": f"http://localhost:{port}/secret.png"})
    server.add("/secret.png", image_bytes(77))
    ok = server.add("/art/b.png", image_bytes(78))
    lst = tmp_path / "urls.txt"
    lst.write_text(f"{server.url}/art/a.png\n{ok}\n")
    rep = scrape(tmp_path / "o", urls_file=lst, options=scrape_options({"download": FAST}))
    assert rep.kept == 1 and rep.rejected == {"private_address": 1}
    assert server.hits("/art/a.png") and not server.hits("/secret.png")


def test_robots_server_error_means_disallow(server, tmp_path):
    """RFC 9309 2.3.1.3: a robots.txt answering 5xx forbids the whole host (a later run tries again)."""
    page = _site(server)
    server.add("/robots.txt", b"oops", ctype="text/plain", status=503)
    rep = scrape(tmp_path / "o", pages=[page], options=scrape_options({"download": FAST}))
    assert rep.kept == 0 and rep.pages_failed == [(page, "http_error")]
    assert not server.hits("/gallery") and not [h for h in server.log if h.path.startswith("/art/")]


def test_robots_wildcards_and_longest_match(server, tmp_path):
    """RFC 9309 rules that Python's urllib.robotparser gets wrong (it knows no ``*``/``$``, and takes the first
    matching rule instead of the longest)."""
    robots = b"User-agent: *\nDisallow: /img/\nAllow: /img/public/\nDisallow: /*.jpg$\n"
    server.add("/robots.txt", robots, ctype="text/plain")
    urls = {
        "/img/public/a.png": True,  # the longer Allow wins over Disallow: /img/
        "/img/b.png": False,
        "/c.jpg": False,  # wildcard + end anchor
        "/c.jpg.png": True,
    }
    for i, path in enumerate(urls):
        server.add(path, image_bytes(80 + i, fmt="JPEG" if path.endswith(".jpg") else "PNG"))
    lst = tmp_path / "urls.txt"
    lst.write_text("".join(f"{server.url}{p}\n" for p in urls))
    scrape(tmp_path / "o", urls_file=lst, options=scrape_options({"download": FAST}))
    assert {p: bool(server.hits(p)) for p in urls} == urls


def test_licence_text_with_rich_markup_is_printed_verbatim(server, tmp_path, run_cli):
    page = _site(server)
    server.add("/gallery", PAGE.replace(b"CC BY-SA 4.0", b"CC [/b] [bold red]x"), ctype="text/html")
    rc, _, err = run_cli("scrape", "--page", page, "--out", tmp_path / "o", "--rate", "0", *LOCAL)
    assert rc == 0, err
    assert "licence hint: CC [/b] [bold red]x" in err.replace("\n", " ")


def test_scrape_options_are_typed_and_hold_download_options():
    from cfkit.errors import InputError

    opts = scrape_options({"licence": "CC0", "download": {"workers": 2}})
    assert (opts.download.workers, opts.download.min_interval, opts.download.max_bytes) == (2, 1.0, 20 << 20)
    with pytest.raises(InputError, match=r"unknown option\(s\) worker "):
        scrape_options({"download": {"worker": 2}})
    with pytest.raises(InputError, match="max_page_bytes must be an integer"):
        scrape_options({"max_page_bytes": "5MB"})
