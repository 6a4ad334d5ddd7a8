"""Concurrent, resumable, checksum-verified downloads with polite per-host pacing.

    dl = Downloader(out_dir, DownloadOptions(workers=8, min_interval=1.0, robots=True))
    results = dl.run([DownloadItem(url, sha256=...), ...], "ffhq")
    ok = [r for r in results if r.ok]; rejected = [r for r in results if not r.ok]  # r.reason

* resume: bytes land in ``out_dir/.parts/<hash(url)>.part``; an interrupted file continues with an
  HTTP ``Range`` request; every finished item is recorded in ``out_dir/downloads.jsonl``
  (:mod:`cfkit.fetch.manifest`) so a re-run skips it.
* checks: per-file byte limit (Content-Length and while streaming), content type (HTML is not an image),
  md5/sha256/size as the source publishes them, and a full decode through :func:`cfkit.imageio.decode_rgb`.
* names: ``item.name`` (a relative path; ``..``/absolute parts are refused as ``unsafe_path``) or, by
  default, the content hash ``<sha256[:20]>.<ext>`` (so duplicates collapse; later copies are ``duplicate``).
* politeness: :mod:`cfkit.fetch.hosts` (per-host pacing, robots.txt), a User-Agent naming cfkit.
* targets: with ``public_only`` (every user-given URL) :mod:`cfkit.fetch.addresses` refuses hosts that
  resolve to non-public addresses, redirects included, unless the host is in ``allow_hosts``.
* confirmation pages (Google Drive) are followed to the file (:mod:`cfkit.fetch.drive`).
* retries: a transient failure (connection, 429/5xx) is tried ``retries`` times with doubling backoff.
* limits: an item rejected as ``too_large`` is tried again by a later run with higher limits.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar
from urllib.parse import urlsplit

from rich.markup import escape

from cfkit.console import byte_progress, make_progress
from cfkit.errors import CfkitError
from cfkit.fetch.addresses import check_url, public_transport
from cfkit.fetch.drive import Follow, confirmation_target
from cfkit.fetch.hosts import HostPolicy
from cfkit.fetch.items import TRANSIENT, DownloadItem, DownloadOptions, DownloadResult
from cfkit.fetch.manifest import MANIFEST, Manifest
from cfkit.fetch.names import safe_relpath
from cfkit.fetch.reasons import Reject
from cfkit.imageio import ImageDecodeError, decode_rgb
from cfkit.options import load_options

__all__ = ["MANIFEST", "Downloader", "DownloadItem", "DownloadOptions", "DownloadResult", "Reject", "download_one"]

_EXT_BY_TYPE = {"jpeg": ".jpg", "png": ".png", "gif": ".gif", "webp": ".webp", "bmp": ".bmp", "tiff": ".tif"}
_NON_IMAGE_OK = ("application/octet-stream", "binary/octet-stream", "")
T = TypeVar("T")


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
        limits = httpx.Limits(max_connections=max(self.opt.workers, 1) * 2)
        self.client = httpx.Client(
            timeout=self.opt.timeout,
            follow_redirects=True,
            headers={"User-Agent": self.opt.user_agent},
            limits=limits,
            transport=public_transport(self.opt.allow_hosts, limits) if self.opt.public_only else None,
        )
        self.manifest = Manifest(self.out, self.opt.limits(), keep=self.opt.manifest)
        self.on_bytes: Callable[[int, int | None], None] | None = None
        """Called with (bytes so far, total or None) while a file streams (a download progress bar)."""

    @property
    def done(self) -> dict[str, DownloadResult]:
        return self.manifest.done

    def check_target(self, url: str) -> None:
        """With ``public_only``: :class:`Reject` a URL whose host is not a public address, before any request
        (the connection checks again: :mod:`cfkit.fetch.addresses`)."""
        if self.opt.public_only:
            check_url(url, self.opt.allow_hosts)

    def results(self) -> list[DownloadResult]:
        """Every item this folder has finished so far (this run and earlier ones)."""
        return list(self.done.values())

    # ------------------------------------------------------------ one request

    def _retrying(self, attempt: Callable[[], T]) -> T:
        """``attempt()`` up to ``retries`` times, sleeping ``backoff * 2**n`` (at most 8 s) between tries, while
        it fails transiently (a :class:`Reject` with ``retry``, or a transport error, kept as ``network``)."""
        for n in range(self.opt.retries):
            try:
                return attempt()
            except Reject as e:
                if not e.retry or n == self.opt.retries - 1:
                    raise
            except Exception as e:  # noqa: BLE001 - httpx transport errors: keep any .part, retry
                if n == self.opt.retries - 1:
                    raise Reject("network", f"{type(e).__name__}: {e}") from None
            time.sleep(min(self.opt.backoff * 2**n, 8.0))
        raise Reject("network", "no attempts")

    def get_text(self, url: str, max_bytes: int | None = None) -> tuple[str, str]:
        """A polite GET of a small text resource (an HTML page): ``(final_url, text)`` or :class:`Reject`."""
        self.check_target(url)
        self.policy.check(self.client, url)
        limit = max_bytes or self.opt.max_bytes

        def attempt() -> tuple[str, str]:
            self.policy.wait(url)
            with self.client.stream("GET", url) as r:
                self._check_status(r)
                buf = bytearray()
                for chunk in r.iter_bytes(1 << 16):
                    buf += chunk
                    if len(buf) > limit:
                        raise Reject("too_large", f"page over {limit} bytes")
                return str(r.url), bytes(buf).decode(r.encoding or "utf-8", errors="replace")

        return self._retrying(attempt)

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
            if ctype.startswith("text/html") and (confirm := confirmation_target(r, str(r.url))):
                raise Follow(confirm)
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

    def _download(self, url: str, part: Path) -> str:
        """Fetch ``url`` into ``part`` with retries; follows a confirmation page to its file (once per try)."""

        def attempt() -> str:
            nonlocal url
            try:
                return self._stream(url, part)
            except Follow as e:
                url = e.url  # the file behind the page: fetched at once, and by any later try
                return self._stream(url, part)

        try:
            return self._retrying(attempt)
        except Follow:
            raise Reject("not_image", "only download-confirmation pages, no file") from None

    # ------------------------------------------------------------ one file

    def _verify(self, item: DownloadItem, part: Path, res: DownloadResult) -> str:
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
                ext = self._verify(item, part, res)
            except Reject as e:
                if not (resumed and e.reason in ("checksum_mismatch", "corrupt", "not_image")):
                    raise
                part.unlink(missing_ok=True)  # the file changed since the partial download: start over
                res.content_type = self._download(item.url, part)
                ext = self._verify(item, part, res)
            self._place(part, name or f"{res.sha256[:20]}{ext}", res)
            res.status = "ok"
        except Reject as e:
            res.reason, res.detail = e.reason, e.detail
            res.limits = self.opt.limits() if e.reason == "too_large" else None
            if e.reason not in TRANSIENT:  # keep partial bytes only where a re-run can resume them
                part.unlink(missing_ok=True)
        res.fetched_at = _now()
        self.manifest.record(res)
        return res

    def _place(self, part: Path, dest_rel: str, res: DownloadResult) -> None:
        """Move the verified ``part`` to ``dest_rel`` (``res.file``); :class:`Reject` a duplicate (``res.file``:
        the earlier copy) or a name already holding other content."""
        m = self.manifest
        with m.lock:
            dup = m.by_sha.get(res.sha256) if self.opt.dedupe else None
            taken = dup is None and dest_rel in m.names
            if dup is None and not taken:
                m.by_sha[res.sha256] = dest_rel
                m.names.add(dest_rel)
        if taken:
            raise Reject("unsafe_path", f"{dest_rel} already holds other content; not overwritten")
        if dup is not None:
            part.unlink(missing_ok=True)
            res.file = dup
            raise Reject("duplicate", f"same content as {dup}")
        dest = self.out / dest_rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, dest)
        res.file = dest_rel

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
    options = load_options(DownloadOptions, {**defaults, "max_bytes": 64 << 30}, opts, where="download options")
    dest = Path(dest)
    with Downloader(dest.parent, options) as dl, byte_progress(label) as on_bytes:
        dl.on_bytes = on_bytes
        res = dl.fetch(DownloadItem(url, name=dest.name, sha256=sha256, md5=md5))
    with contextlib.suppress(OSError):
        (dest.parent / ".parts").rmdir()  # only when empty
    if not res.ok:
        raise CfkitError(f"download failed: {url}: {res.reason}: {res.detail}")
    if res.file != dest.name:
        os.replace(dest.parent / res.file, dest)  # type: ignore[operator]
    return res.sha256  # type: ignore[return-value]
