"""cfkit.fetch.http against a local server: resume, checksums, content checks, limits, politeness."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from mini_http import assert_paced, image_bytes
from PIL import Image

from cfkit.errors import CfkitError
from cfkit.fetch.http import MANIFEST, Downloader, DownloadItem, DownloadOptions, Reject, download_one, safe_relpath

FAST = dict(backoff=0.01, workers=2, progress=False)


def test_resume_after_dropped_connection(server, tmp_path):
    body = image_bytes(1, size=160, noise=True)  # ~77 kB
    url = server.add("/big.png", body, drop_after=30_000)
    with Downloader(tmp_path, DownloadOptions(**FAST)) as dl:
        res = dl.fetch(DownloadItem(url, sha256=hashlib.sha256(body).hexdigest()))
    assert res.ok, res
    assert (tmp_path / res.file).read_bytes() == body
    hits = server.hits("/big.png")
    assert [h.range for h in hits] == [None, "bytes=30000-"]
    assert (res.width, res.height) == (160, 160)


def test_killed_run_resumes_without_duplicates(server, tmp_path):
    body = image_bytes(2, size=160, noise=True)
    url = server.add("/a.png", body, drop_after=20_000)
    other = server.add("/b.png", image_bytes(3))
    items = [DownloadItem(url), DownloadItem(other)]
    with Downloader(tmp_path, DownloadOptions(retries=1, **FAST)) as dl:  # "killed" after the first attempt
        first = dl.run(items)
    assert [r.reason for r in first] == ["network", None]
    assert len(list((tmp_path / ".parts").iterdir())) == 1  # the partial file is kept
    with Downloader(tmp_path, DownloadOptions(**FAST)) as dl:
        second = dl.run(items)
    assert all(r.ok for r in second)
    assert server.hits("/a.png")[-1].range == "bytes=20000-"
    assert len(server.hits("/b.png")) == 1  # finished items are not fetched again
    n = len(server.log)
    with Downloader(tmp_path, DownloadOptions(**FAST)) as dl:
        third = dl.run(items)
    assert len(server.log) == n
    assert [r.file for r in third] == [r.file for r in second]
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(r.file for r in second)
    assert not list((tmp_path / ".parts").iterdir())


def test_resume_of_a_changed_file_starts_over(server, tmp_path):
    old_body, new_body = image_bytes(11, size=160, noise=True), image_bytes(12, size=160, noise=True)
    url = server.add("/v.png", old_body, drop_after=20_000)
    with Downloader(tmp_path, DownloadOptions(retries=1, **FAST)) as dl:
        assert dl.fetch(DownloadItem(url)).reason == "network"
    server.add("/v.png", new_body)  # the file was replaced upstream in between
    with Downloader(tmp_path, DownloadOptions(**FAST)) as dl:
        res = dl.fetch(DownloadItem(url, sha256=hashlib.sha256(new_body).hexdigest()))
    assert res.ok and (tmp_path / res.file).read_bytes() == new_body
    assert [h.range for h in server.hits("/v.png")] == [None, "bytes=20000-", None]


@pytest.mark.parametrize("field", ["sha256", "md5", "size"])
def test_checksum_mismatch(server, tmp_path, field):
    body = image_bytes(4)
    url = server.add("/x.png", body)
    wrong = {"sha256": "0" * 64, "md5": "0" * 32, "size": len(body) + 1}[field]
    with Downloader(tmp_path, DownloadOptions(**FAST)) as dl:
        res = dl.fetch(DownloadItem(url, **{field: wrong}))
        good = dl.fetch(DownloadItem(url + "?again", md5=hashlib.md5(body).hexdigest()))
    assert (res.status, res.reason) == ("rejected", "checksum_mismatch")
    assert good.ok
    assert list(tmp_path.glob("*.png")) == [tmp_path / good.file]


def test_html_404_server_error_and_lying_content_type(server, tmp_path):
    html = b"<html><body>Sign in to continue</body></html>"
    urls = [
        server.add("/page.png", html, ctype="text/html; charset=utf-8"),
        server.add("/lie.png", html, ctype="image/png"),
        server.url + "/missing.png",
        server.add("/boom.png", b"", status=500),
        server.add("/trunc.png", image_bytes(5)[:200]),
    ]
    with Downloader(tmp_path, DownloadOptions(retries=3, **FAST)) as dl:
        res = dl.run([DownloadItem(u) for u in urls])
    assert [r.reason for r in res] == ["not_image", "not_image", "not_found", "http_error", "corrupt"]
    assert len(server.hits("/boom.png")) == 3  # 5xx is retried, 404 is not
    assert len(server.hits("/missing.png")) == 1
    assert not list(tmp_path.glob("*.png"))
    lines = [json.loads(x) for x in (tmp_path / MANIFEST).read_text().splitlines()]
    assert {x["reason"] for x in lines} == {"not_image", "not_found", "http_error", "corrupt"}


def test_too_large(server, tmp_path):
    body = image_bytes(6, size=128, noise=True)
    declared = server.add("/declared.png", body)
    undeclared = server.add("/chunked.png", body, length=False)
    with Downloader(tmp_path, DownloadOptions(max_bytes=10_000, **FAST)) as dl:
        res = dl.run([DownloadItem(declared), DownloadItem(undeclared)])
    assert [r.reason for r in res] == ["too_large", "too_large"]
    with Downloader(tmp_path / "px", DownloadOptions(max_pixels=64 * 64, **FAST)) as dl:  # pixel bomb guard
        px = dl.fetch(DownloadItem(server.add("/wide.png", image_bytes(7, size=100))))
    assert px.reason == "too_large"
    buf = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buf, format="PNG")  # 81 MP in a few kB: a decompression bomb
    bomb = server.add("/bomb.png", buf.getvalue())
    with Downloader(tmp_path / "bomb", DownloadOptions(**FAST)) as dl:
        res = dl.fetch(DownloadItem(bomb))
    assert len(buf.getvalue()) < 100_000 and res.reason == "too_large" and "MP" in res.detail


def test_robots_disallow_and_user_agent(server, tmp_path):
    server.add("/robots.txt", b"User-agent: *\nDisallow: /private/\n", ctype="text/plain")
    ok = server.add("/public/a.png", image_bytes(8))
    no = server.add("/private/b.png", image_bytes(9))
    with Downloader(tmp_path, DownloadOptions(robots=True, **FAST)) as dl:
        res = dl.run([DownloadItem(ok), DownloadItem(no)])
    assert [r.reason for r in res] == [None, "robots_disallowed"]
    assert not server.hits("/private/b.png")
    assert all(h.user_agent.startswith("cfkit/") for h in server.log)


def test_rate_limit_per_host(server, tmp_path):
    urls = [server.add(f"/r{i}.png", image_bytes(10 + i)) for i in range(5)]
    with Downloader(tmp_path, DownloadOptions(min_interval=0.25, workers=4, backoff=0.01, progress=False)) as dl:
        res = dl.run([DownloadItem(u) for u in urls])
    assert all(r.ok for r in res)
    assert_paced(server, 0.25, n=5, policy=dl.policy)


def image_gaps(server) -> list[float]:
    """Seconds between consecutive image requests as the server saw them."""
    t = sorted(h.t for h in server.log if h.path.endswith(".png"))
    return [b - a for a, b in zip(t, t[1:], strict=False)]


def test_robots_crawl_delay_paces_requests(server, tmp_path):
    server.add("/robots.txt", b"User-agent: cfkit\nCrawl-delay: 1\n\nUser-agent: *\nDisallow:\n", ctype="text/plain")
    urls = [server.add(f"/c{i}.png", image_bytes(90 + i)) for i in range(2)]
    with Downloader(tmp_path, DownloadOptions(robots=True, workers=3, backoff=0.01, progress=False)) as dl:
        res = dl.run([DownloadItem(u) for u in urls])
    assert all(r.ok for r in res)
    (gap,) = image_gaps(server)  # robots.txt itself came before the delay was known
    assert gap >= 0.9, gap  # measured at the server (a little below 1 s for arrival jitter)


def test_huge_crawl_delay_is_capped(server, tmp_path):
    server.add("/robots.txt", b"User-agent: *\nCrawl-delay: 86400\n", ctype="text/plain")
    urls = [server.add(f"/d{i}.png", image_bytes(95 + i)) for i in range(2)]
    opts = DownloadOptions(robots=True, workers=2, backoff=0.01, progress=False, max_crawl_delay=0.4)
    with Downloader(tmp_path, opts) as dl:
        res = dl.run([DownloadItem(u) for u in urls])
    assert all(r.ok for r in res)
    (gap,) = image_gaps(server)
    assert 0.35 <= gap < 60, gap  # paced by the cap, not by a day


def test_too_large_is_retried_once_the_limit_is_raised(server, tmp_path):
    url = server.add("/big.png", image_bytes(6, size=128, noise=True))
    with Downloader(tmp_path, DownloadOptions(max_bytes=10_000, **FAST)) as dl:
        assert dl.fetch(DownloadItem(url)).reason == "too_large"
    with Downloader(tmp_path, DownloadOptions(max_bytes=10_000, **FAST)) as dl:  # same limit: not asked again
        assert dl.fetch(DownloadItem(url)).reason == "too_large"
    assert len(server.hits("/big.png")) == 1
    with Downloader(tmp_path, DownloadOptions(max_bytes=1 << 20, **FAST)) as dl:  # --max-mb raised
        assert dl.fetch(DownloadItem(url)).ok
    assert len(server.hits("/big.png")) == 2


def test_unsafe_names_and_dedupe(server, tmp_path):
    body = image_bytes(20)
    a = server.add("/a.png", body)
    b = server.add("/b.png", body)
    c = server.add("/..%2F..%2Fescape.png", image_bytes(21))
    out = tmp_path / "out"
    with Downloader(out, DownloadOptions(**FAST)) as dl:
        evil = dl.fetch(DownloadItem(a + "?evil", name="../../evil.png"))
        first = dl.fetch(DownloadItem(a))
        dup = dl.fetch(DownloadItem(b))
        hashed = dl.fetch(DownloadItem(c))
    assert evil.reason == "unsafe_path"
    assert not list(tmp_path.glob("*.png")) and not (tmp_path / "evil.png").exists()
    assert first.ok and dup.reason == "duplicate" and dup.file == first.file
    assert hashed.ok and "/" not in hashed.file and hashed.file.startswith(hashed.sha256[:20])
    with Downloader(out, DownloadOptions(**FAST)) as dl:  # a later run: the name is still claimed
        clash = dl.fetch(DownloadItem(server.add("/new.png", image_bytes(22)), name=first.file))
    assert clash.reason == "unsafe_path" and (out / first.file).read_bytes() == body


@pytest.mark.parametrize("name", ["../x.png", "/etc/passwd", "a/../../b", "C:/win.png", "..\\..\\x.png", "a/./../b"])
def test_safe_relpath_refuses(name):
    with pytest.raises(Reject) as e:
        safe_relpath(name)
    assert e.value.reason == "unsafe_path"


def test_safe_relpath_cleans():
    assert safe_relpath("thumbs/00000/a b;rm.png") == "thumbs/00000/a_b_rm.png"
    assert safe_relpath(".hidden.png") == "hidden.png"


def test_download_one_for_non_images(server, tmp_path):
    body = b"{}" * 1000
    url = server.add("/meta.json", body, ctype="application/json")
    digest = download_one(url, tmp_path / ".meta.json", md5=hashlib.md5(body).hexdigest())
    assert (tmp_path / ".meta.json").read_bytes() == body and digest == hashlib.sha256(body).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".meta.json"]  # no manifest, no leftovers
    with pytest.raises(CfkitError, match="checksum_mismatch"):
        download_one(url + "?x", tmp_path / "other.json", sha256="ab" * 32)
    assert not (tmp_path / "other.json").exists()


def test_follows_download_confirmation_page(server, tmp_path):
    body = image_bytes(70, size=96, noise=True)
    confirm = (
        b'<html><body><form id="download-form" action="/download" method="get">'
        b'<input type="hidden" name="id" value="abc"><input type="hidden" name="confirm" value="t">'
        b'<input type="submit" value="Download anyway"></form></body></html>'
    )
    url = server.add("/uc", confirm, ctype="text/html; charset=utf-8")
    server.add("/download", body)
    quota = server.add("/quota", b"<title>Google Drive - Quota exceeded</title>", ctype="text/html")
    with Downloader(tmp_path, DownloadOptions(**FAST)) as dl:
        res = dl.fetch(DownloadItem(url + "?id=abc", sha256=hashlib.sha256(body).hexdigest()))
        q = dl.fetch(DownloadItem(quota))
    assert res.ok and (tmp_path / res.file).read_bytes() == body
    assert server.hits("/download?id=abc&confirm=t")
    assert (q.reason, "quota" in q.detail) == ("http_error", True)


def test_dns_rebinding_gets_no_request_through(server, tmp_path, monkeypatch):
    """A resolver answering a public address to the first lookups and 127.0.0.1 to the next (DNS rebinding):
    the connection goes to the address that was checked, so the local server never sees a request."""
    import socket

    real = socket.getaddrinfo
    answers = iter(["93.184.215.14", "93.184.215.14"])

    def rebinding(host, port, *args, **kw):
        if host != "rebind.example":
            return real(host, port, *args, **kw)
        ip = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    port = server.url.rsplit(":", 1)[1]
    server.add("/secret.png", image_bytes(90))
    opts = DownloadOptions(public_only=True, retries=1, timeout=2.0, **FAST)
    with Downloader(tmp_path, opts) as dl:
        res = dl.fetch(DownloadItem(f"http://rebind.example:{port}/secret.png"))
    assert not res.ok and not server.log, res
    with Downloader(tmp_path / "local", opts) as dl:  # the same server by its own address: refused by name
        res = dl.fetch(DownloadItem(f"{server.url}/secret.png"))
    assert res.reason == "private_address" and not server.log
