"""Concurrent, resumable, checksum-verified downloads with polite per-host pacing.

    dl = Downloader(out_dir, DownloadOptions(workers=8, min_interval=1.0, robots=True))
    results = dl.run([DownloadItem(url, sha256=...), ...], "ffhq")
    ok = [r for r in results if r.ok]; rejected = [r for r in results if not r.ok]  # r.reason

* resume: bytes land in ``out_dir/.parts/<hash(url)>.part``; an interrupted file continues with an
  HTTP ``Range`` request; every finished item (kept or rejected) is appended to ``out_dir/downloads.jsonl``
  so a re-run skips it (transient failures -- ``network``/``http_error`` -- are retried on re-runs).
* checks: per-file byte limit (Content-Length and while streaming), content type (HTML is not an image),
  md5/sha256/size as the source publishes them, and a full decode through :func:`cfkit.imageio.decode_rgb`.
* names: ``item.name`` (a relative path; ``..``/absolute parts are refused as ``unsafe_path``) or, by
  default, the content hash ``<sha256[:20]>.<ext>`` (so duplicates collapse; later copies are ``duplicate``).
* politeness: at most one request per ``min_interval`` seconds per host, robots.txt honoured (RFC 9309
  via ``protego``: wildcards, longest match; a robots.txt that answers 5xx or cannot be reached forbids
  the host for this run; ``Crawl-delay`` obeyed up to ``max_crawl_delay``), a User-Agent naming cfkit.
* targets: with ``public_only`` (scraping) a URL whose host resolves to a loopback, private, link-local
  or otherwise non-global address is refused (``private_address``), redirects included, unless the
  host is in ``allow_hosts``.
* limits: an item rejected as ``too_large`` is tried again by a later run with higher limits.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from rich.markup import escape

from cfkit import __version__
from cfkit.console import byte_progress, make_progress
from cfkit.errors import CfkitError
from cfkit.imageio import MAX_PIXELS, ImageDecodeError, decode_rgb

USER_AGENT = f"cfkit/{__version__} (research dataset curation; +https://pypi.org/project/cfkit/)"
MANIFEST = "downloads.jsonl"
TRANSIENT = ("network", "http_error")  # retried when a run is repeated
_EXT_BY_TYPE = {"jpeg": ".jpg", "png": ".png", "gif": ".gif", "webp": ".webp", "bmp": ".bmp", "tiff": ".tif"}
_NON_IMAGE_OK = ("application/octet-stream", "binary/octet-stream", "")


@dataclass
class DownloadOptions:
    """Defaults shared by ``cfkit prepare``/``cfkit scrape`` and the Python API."""

    workers: int = 8
    max_bytes: int = 50 << 20  # per file
    retries: int = 4  # attempts per file within one run
    backoff: float = 0.5  # seconds, doubled per attempt (capped at 8 s)
    timeout: float = 30.0
    min_interval: float = 0.0  # seconds between two requests to the same host
    robots: bool = False  # honour robots.txt (always on for scraping)
    images: bool = True  # content must decode as an image
    max_pixels: int = MAX_PIXELS
    dedupe: bool = True  # same sha256 twice -> 'duplicate'
    user_agent: str = USER_AGENT
    progress: bool = True
    manifest: bool = True  # keep downloads.jsonl (resume across runs, provenance)
    max_crawl_delay: float = 60.0  # seconds: a longer robots.txt Crawl-delay is capped to this
    public_only: bool = False  # refuse hosts resolving to loopback/private/link-local addresses (scraping)
    allow_hosts: tuple[str, ...] = ()  # hosts exempt from public_only (e.g. an intranet mirror)

    def limits(self) -> dict[str, int]:
        """The limits a ``too_large`` rejection was made under (recorded with it)."""
        return {"max_bytes": int(self.max_bytes), "max_pixels": int(self.max_pixels)}


@dataclass
class DownloadItem:
    url: str
    name: str | None = None  # relative destination; None -> content-hash name
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    licence: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class DownloadResult:
    url: str
    status: str  # "ok" | "rejected"
    file: str | None = None  # relative to the download folder
    sha256: str | None = None
    bytes: int = 0
    content_type: str = ""
    reason: str | None = None  # one of cfkit.fetch.REJECT_REASONS
    detail: str = ""
    width: int | None = None
    height: int | None = None
    licence: str | None = None
    fetched_at: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, int] | None = None  # for too_large: the limits it exceeded

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Reject(Exception):
    def __init__(self, reason: str, detail: str = "", retry: bool = False):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.retry = reason, detail, retry


class _Follow(Reject):
    """A download-confirmation page pointing at the real file."""

    def __init__(self, url: str):
        super().__init__("not_image", "download confirmation page", retry=True)
        self.url = url


class _ConfirmParser(HTMLParser):
    def __init__(self, base: str):
        super().__init__(convert_charrefs=True)
        self.base, self.form, self.link = base, None, None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.form is None:
            self.form = urljoin(self.base, a.get("action", ""))
        elif tag == "input" and a.get("type", "").lower() == "hidden" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "a" and "export=download" in a.get("href", "") and self.link is None:
            self.link = urljoin(self.base, a["href"])


def _confirmation_target(r, url: str) -> str | None:
    """The real file behind a small "cannot scan for viruses, download anyway?" page (Google Drive)."""
    if int(r.headers.get("content-length") or 0) > 512 << 10:
        return None
    body = b""
    for chunk in r.iter_bytes():
        body += chunk
        if len(body) > 512 << 10:
            return None
    text = body.decode(r.encoding or "utf-8", errors="replace")
    if "Quota exceeded" in text:
        raise Reject("http_error", "Google Drive download quota exceeded; try again later", retry=False)
    p = _ConfirmParser(url)
    p.feed(text)
    if p.form and "confirm" in p.fields:
        return f"{p.form}{'&' if '?' in p.form else '?'}{urlencode(p.fields)}"
    return p.link


def safe_relpath(name: str) -> str:
    """``name`` as a harmless relative POSIX path, or :class:`Reject` ``unsafe_path``."""
    raw = name.replace("\\", "/")
    parts = PurePosixPath(raw).parts
    if not parts or raw.startswith("/") or re.match(r"^[A-Za-z]:", raw) or any(p in ("..", ".") for p in parts):
        raise Reject("unsafe_path", f"refusing file name {name!r}")
    clean = [re.sub(r"[^A-Za-z0-9._+-]", "_", p).lstrip(".")[:120] or "_" for p in parts]
    return "/".join(clean)


def host_of(url: str) -> str:
    s = urlsplit(url)
    return f"{s.scheme}://{s.netloc}".lower()


def non_public_address(host: str) -> str | None:
    """The first address of ``host`` that is not globally routable (loopback, private, link-local,
    reserved, ...), or None. Names that do not resolve are left to the request to fail."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        ip = getattr(ip, "ipv4_mapped", None) or ip
        if not ip.is_global or ip.is_multicast:
            return str(ip)
    return None


class HostPolicy:
    """Per-host pacing and robots.txt decisions.

    Requests to one host start at least ``min_interval`` seconds apart, or the host's robots.txt
    ``Crawl-delay`` for our agent where that is longer (capped at ``max_crawl_delay``).
    """

    def __init__(self, min_interval: float, robots: bool, user_agent: str, max_crawl_delay: float = 60.0):
        self.min_interval, self.robots, self.user_agent = min_interval, robots, user_agent
        self.max_crawl_delay = max_crawl_delay
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}
        self._host_locks: dict[str, threading.Lock] = {}
        self._robots: dict[str, Any] = {}  # host -> Protego rules, or a Reject forbidding the whole host
        self._delay: dict[str, float] = {}  # Crawl-delay per host
        self.starts: dict[str, list[float]] = {}  # monotonic request start times per host (paced hosts)

    def _host_lock(self, host: str) -> threading.Lock:
        with self._lock:
            return self._host_locks.setdefault(host, threading.Lock())

    def wait(self, url: str) -> None:
        """Block until a request to ``url``'s host may start."""
        host = host_of(url)
        interval = max(self.min_interval, self._delay.get(host, 0.0))
        if interval <= 0:
            return
        with self._host_lock(host):
            now = time.monotonic()
            start = max(now, self._next.get(host, now))
            if start > now:
                time.sleep(start - now)
            self._next[host] = start + interval
            self.starts.setdefault(host, []).append(start)

    def _rules(self, client, host: str):
        from protego import Protego

        try:
            self.wait(host)
            r = client.get(host + "/robots.txt")
        except Reject as e:
            return Reject("robots_disallowed", f"robots.txt: {e.reason} {e.detail}".strip())
        except Exception as e:  # noqa: BLE001 - unreachable: complete disallow (RFC 9309 2.3.1.4)
            return Reject("network", f"robots.txt unreachable ({type(e).__name__}); nothing fetched from {host}")
        if r.status_code >= 500:  # RFC 9309 2.3.1.3: a server error means complete disallow (re-runs retry)
            return Reject("http_error", f"robots.txt answered HTTP {r.status_code}; nothing fetched from {host}")
        if r.status_code in (401, 403):
            return Reject("robots_disallowed", f"robots.txt answered HTTP {r.status_code}")
        if r.status_code >= 400:
            return Protego.parse("")  # no robots.txt: everything allowed
        rules = Protego.parse(r.text)
        delay = rules.crawl_delay(self.user_agent)
        self._delay[host] = min(float(delay or 0.0), self.max_crawl_delay)
        return rules

    def check(self, client, url: str) -> None:
        """Raise :class:`Reject` where robots.txt forbids ``url`` (or the host's robots.txt is failing)."""
        if not self.robots:
            return
        host = host_of(url)
        with self._host_lock(host + "#robots"):
            if host not in self._robots:
                self._robots[host] = self._rules(client, host)
        rules = self._robots[host]
        if isinstance(rules, Reject):
            raise Reject(rules.reason, rules.detail)
        if not rules.can_fetch(url, self.user_agent):
            raise Reject("robots_disallowed", "robots.txt disallows this URL")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Downloader:
    """Downloads into ``out_dir``; thread-safe; one instance per output folder and run."""

    def __init__(self, out_dir: str | os.PathLike, options: DownloadOptions | None = None):
        import httpx

        self.out = Path(out_dir)
        self.opt = options or DownloadOptions()
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / ".parts").mkdir(exist_ok=True)
        self.policy = HostPolicy(self.opt.min_interval, self.opt.robots, self.opt.user_agent, self.opt.max_crawl_delay)
        self.client = httpx.Client(
            timeout=self.opt.timeout,
            follow_redirects=True,
            headers={"User-Agent": self.opt.user_agent},
            limits=httpx.Limits(max_connections=max(self.opt.workers, 1) * 2),
            event_hooks={"request": [lambda request: self.check_target(str(request.url))]},  # every redirect hop too
        )
        self._lock = threading.Lock()
        self.done: dict[str, DownloadResult] = {}
        self._by_sha: dict[str, str] = {}
        self._names: set[str] = set()  # files already written (never overwritten by other content)
        self.on_bytes: Callable[[int, int | None], None] | None = None
        """Called with (bytes so far, total or None) while a file streams (a download progress bar)."""
        self._load_manifest()

    # ------------------------------------------------------------ manifest

    def _load_manifest(self) -> None:
        path = self.out / MANIFEST
        if not self.opt.manifest or not path.exists():
            return
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                res = DownloadResult(**json.loads(line))
            except (ValueError, TypeError):
                continue  # a line cut by a kill
            if res.ok and not (res.file and (self.out / res.file).is_file()):
                continue
            if not res.ok and (res.reason in TRANSIENT or self._limits_raised(res)):
                self.done.pop(res.url, None)
                continue
            self.done[res.url] = res
            if res.ok and res.sha256 and res.file:
                self._by_sha.setdefault(res.sha256, res.file)
                self._names.add(res.file)

    def _limits_raised(self, res: DownloadResult) -> bool:
        """A ``too_large`` rejection made under lower limits than this run's (or unknown ones)."""
        if res.reason != "too_large":
            return False
        now = self.opt.limits()
        return res.limits is None or any(now[k] > res.limits.get(k, 0) for k in now)

    def check_target(self, url: str) -> None:
        """With ``public_only``: :class:`Reject` a URL whose host is not a public address (see module doc)."""
        if not self.opt.public_only:
            return
        host = (urlsplit(url).hostname or "").lower()
        if host in self.opt.allow_hosts:
            return
        if (addr := non_public_address(host)) is not None:
            raise Reject("private_address", f"{host} resolves to {addr}, not a public address")

    def _record(self, res: DownloadResult) -> None:
        with self._lock:
            self.done[res.url] = res
            if not self.opt.manifest:
                return
            with open(self.out / MANIFEST, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(asdict(res), default=str) + "\n")
                fh.flush()
                os.fsync(fh.fileno())

    def results(self) -> list[DownloadResult]:
        """Every item this folder has finished so far (this run and earlier ones)."""
        return list(self.done.values())

    # ------------------------------------------------------------ one file

    def get_text(self, url: str, max_bytes: int | None = None) -> tuple[str, str]:
        """A polite GET of a small text resource (an HTML page): ``(final_url, text)`` or :class:`Reject`."""
        self.check_target(url)
        self.policy.check(self.client, url)
        limit = max_bytes or self.opt.max_bytes
        for attempt in range(self.opt.retries):
            self.policy.wait(url)
            try:
                with self.client.stream("GET", url) as r:
                    self._check_status(r)
                    buf = bytearray()
                    for chunk in r.iter_bytes(1 << 16):
                        buf += chunk
                        if len(buf) > limit:
                            raise Reject("too_large", f"page over {limit} bytes")
                    return str(r.url), bytes(buf).decode(r.encoding or "utf-8", errors="replace")
            except Reject as e:
                if not e.retry or attempt == self.opt.retries - 1:
                    raise
            except Exception as e:  # noqa: BLE001 - httpx transport errors
                if attempt == self.opt.retries - 1:
                    raise Reject("network", f"{type(e).__name__}: {e}") from None
            time.sleep(min(self.opt.backoff * 2**attempt, 8.0))
        raise Reject("network", "no attempts")

    @staticmethod
    def _check_status(r) -> None:
        if r.status_code in (404, 410):
            raise Reject("not_found", f"HTTP {r.status_code}")
        if r.status_code == 429 or r.status_code >= 500:
            raise Reject("http_error", f"HTTP {r.status_code}", retry=True)
        if r.status_code >= 400 or r.status_code not in (200, 206):
            raise Reject("http_error", f"HTTP {r.status_code}")

    def _check_type(self, ctype: str) -> None:
        if not self.opt.images:
            if ctype.startswith("text/html"):
                raise Reject("not_image", f"content-type {ctype}")
            return
        if not (ctype.startswith("image/") or ctype in _NON_IMAGE_OK):
            raise Reject("not_image", f"content-type {ctype or 'missing'}")

    def _stream(self, url: str, part: Path) -> str:
        """Fetch ``url`` into ``part`` (resuming); returns the content type."""
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        self.policy.wait(url)
        with self.client.stream("GET", url, headers=headers) as r:
            if r.status_code == 416 and have:
                part.unlink()  # our partial is stale or complete but unknown: restart cleanly
                raise Reject("http_error", "HTTP 416 on resume", retry=True)
            self._check_status(r)
            ctype = r.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype.startswith("text/html") and (confirm := _confirmation_target(r, str(r.url))):
                raise _Follow(confirm)
            self._check_type(ctype)
            length = r.headers.get("content-length")
            append = r.status_code == 206 and have > 0
            total = (int(length) + (have if append else 0)) if length and length.isdigit() else None
            if total is not None and total > self.opt.max_bytes:
                raise Reject("too_large", f"{total} bytes > limit {self.opt.max_bytes}")
            written = have if append else 0
            with open(part, "ab" if append else "wb") as fh:
                for chunk in r.iter_bytes():  # as received: bytes before a dropped connection are kept
                    written += len(chunk)
                    if written > self.opt.max_bytes:
                        raise Reject("too_large", f"over the limit of {self.opt.max_bytes} bytes")
                    fh.write(chunk)
                    if self.on_bytes:
                        self.on_bytes(written, total)
            if total is not None and written < total:
                raise Reject("network", f"connection closed at {written}/{total} bytes", retry=True)
            return ctype

    def _verify(self, item: DownloadItem, part: Path, ctype: str, res: DownloadResult) -> str:
        """Checksums and decode; returns the file extension to use."""
        size = part.stat().st_size
        if item.size is not None and size != item.size:
            raise Reject("checksum_mismatch", f"size {size} != published {item.size}")
        sha, md5h = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        with open(part, "rb") as fh:
            while block := fh.read(1 << 20):
                sha.update(block)
                if item.md5:
                    md5h.update(block)
        res.sha256, res.bytes = sha.hexdigest(), size
        if item.sha256 and not res.sha256.startswith(item.sha256.lower()):
            raise Reject("checksum_mismatch", f"sha256 {res.sha256[:16]} != published {item.sha256[:16]}")
        if item.md5:
            md5 = md5h.hexdigest()
            if md5 != item.md5.lower():
                raise Reject("checksum_mismatch", f"md5 {md5} != published {item.md5}")
        ext = PurePosixPath(urlsplit(item.url).path).suffix.lower()[:6]
        if self.opt.images:
            from PIL import Image

            try:
                rgb = decode_rgb(part.read_bytes(), max_pixels=self.opt.max_pixels, name=item.url)
            except ImageDecodeError as e:
                raise Reject(e.reason if e.reason != "unreadable" else "corrupt", e.detail) from None
            res.height, res.width = int(rgb.shape[0]), int(rgb.shape[1])
            with Image.open(part) as im:
                ext = _EXT_BY_TYPE.get((im.format or "").lower(), ext)
        return ext or ".bin"

    def _download(self, url: str, part: Path) -> str:
        """Fetch ``url`` into ``part`` with retries and backoff; follows confirmation pages."""
        for attempt in range(self.opt.retries):
            try:
                return self._stream(url, part)
            except _Follow as e:
                url = e.url
                continue
            except Reject as e:
                if not e.retry or attempt == self.opt.retries - 1:
                    raise
            except Exception as e:  # noqa: BLE001 - httpx transport errors: keep the .part, retry
                if attempt == self.opt.retries - 1:
                    raise Reject("network", f"{type(e).__name__}: {e}") from None
            time.sleep(min(self.opt.backoff * 2**attempt, 8.0))
        raise Reject("not_image", "only download-confirmation pages, no file")

    def fetch(self, item: DownloadItem) -> DownloadResult:
        """Download one item (or return its earlier result); never raises for per-file problems."""
        if item.url in self.done:
            return self.done[item.url]
        res = DownloadResult(url=item.url, status="rejected", licence=item.licence, meta=item.meta)
        part = self.out / ".parts" / (hashlib.sha1(item.url.encode()).hexdigest()[:24] + ".part")
        try:
            name = safe_relpath(item.name) if item.name else None
            if urlsplit(item.url).scheme not in ("http", "https"):
                raise Reject("http_error", f"unsupported URL scheme in {item.url!r}")
            self.check_target(item.url)
            self.policy.check(self.client, item.url)
            resumed = part.exists() and part.stat().st_size > 0
            res.content_type = self._download(item.url, part)
            try:
                ext = self._verify(item, part, res.content_type, res)
            except Reject as e:
                if not (resumed and e.reason in ("checksum_mismatch", "corrupt", "not_image")):
                    raise
                part.unlink(missing_ok=True)  # the file changed since the partial download: start over
                res.content_type = self._download(item.url, part)
                ext = self._verify(item, part, res.content_type, res)
            dest_rel = name or f"{res.sha256[:20]}{ext}"
            with self._lock:
                dup = self._by_sha.get(res.sha256) if self.opt.dedupe else None
                taken = dup is None and dest_rel in self._names
                if dup is None and not taken:
                    self._by_sha[res.sha256] = dest_rel
                    self._names.add(dest_rel)
            if taken:
                raise Reject("unsafe_path", f"{dest_rel} already holds other content; not overwritten")
            if dup is not None:
                part.unlink(missing_ok=True)
                res.file = dup
                raise Reject("duplicate", f"same content as {dup}")
            dest = self.out / dest_rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part, dest)
            res.status, res.file = "ok", dest_rel
        except Reject as e:
            res.reason, res.detail = e.reason, e.detail
            res.limits = self.opt.limits() if e.reason == "too_large" else None
            if e.reason not in TRANSIENT:  # keep partial bytes only where a re-run can resume them
                part.unlink(missing_ok=True)
        res.fetched_at = _now()
        self._record(res)
        return res

    # ------------------------------------------------------------ many files

    def run(self, items: list[DownloadItem], description: str = "download") -> list[DownloadResult]:
        """Fetch ``items`` with a bounded thread pool and a progress bar; results in input order."""
        out: list[DownloadResult | None] = [None] * len(items)
        todo = []
        for i, it in enumerate(items):
            if it.url in self.done:
                out[i] = self.done[it.url]
            else:
                todo.append(i)
        with make_progress() as progress:
            task = progress.add_task(escape(description), total=len(items), completed=len(items) - len(todo), rate="")
            progress.update(task, visible=self.opt.progress)
            with ThreadPoolExecutor(max_workers=max(1, self.opt.workers)) as pool:
                futs = {pool.submit(self.fetch, items[i]): i for i in todo}
                for fut in as_completed(futs):
                    out[futs[fut]] = fut.result()
                    progress.advance(task)
                    t = progress.tasks[task]
                    if t.speed:
                        progress.update(task, rate=f"{t.speed:.1f} files/s")
        return [r for r in out if r is not None]

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def download_one(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    label: str | None = None,
    **opts: Any,
) -> str:
    """Fetch one file (any type) to ``dest``: resumable (``.parts/``), retried, checksum-verified.

    Returns the sha256; raises a one-line CfkitError on failure. No manifest is written, so this is
    the building block for single files such as model assets. ``label`` shows a byte progress bar.
    """
    defaults = {"images": False, "workers": 1, "dedupe": False, "progress": False, "manifest": False}
    opts = {**defaults, "max_bytes": 64 << 30, **opts}
    dest = Path(dest)
    with Downloader(dest.parent, DownloadOptions(**opts)) as dl, byte_progress(label) as on_bytes:
        dl.on_bytes = on_bytes
        res = dl.fetch(DownloadItem(url, name=dest.name, sha256=sha256, md5=md5))
    with contextlib.suppress(OSError):
        (dest.parent / ".parts").rmdir()  # only when empty
    if not res.ok:
        raise CfkitError(f"download failed: {url}: {res.reason}: {res.detail}")
    if res.file != dest.name:
        os.replace(dest.parent / res.file, dest)  # type: ignore[operator]
    return res.sha256  # type: ignore[return-value]
