"""Generic ``--src`` handling: a folder, an image, an archive, a URL list or an http(s) URL."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from cfkit.curate.sources.raw import RawImage, Resolved
from cfkit.errors import InputError
from cfkit.fetch.addresses import check_host
from cfkit.fetch.archive import ExtractLimits, extract, is_archive
from cfkit.fetch.http import Downloader
from cfkit.fetch.items import DownloadItem, DownloadOptions, DownloadResult
from cfkit.fetch.names import safe_relpath
from cfkit.fetch.reasons import Reject, Rejected
from cfkit.imageio import is_image_path, list_images
from cfkit.options import load_options

LIST_SUFFIXES = (".txt", ".csv", ".tsv", ".lst", ".urls")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


def download_options(options: dict[str, Any], **overrides: Any) -> DownloadOptions:
    """DownloadOptions from the matching keys of a source's ``options`` (typed: a bad value is a one-line
    error). Every URL a source fetches is user-given or from its recipe: public hosts only, unless the
    host is in ``allow_hosts`` (``cfkit prepare --allow-host``)."""
    names = {f.name for f in dataclasses.fields(DownloadOptions)}
    mine = {k: v for k, v in options.items() if k in names}
    return load_options(DownloadOptions, mine, overrides, {"public_only": True}, where="source options")


def check_hosts(urls: list[str], opts: DownloadOptions, origin: str) -> None:
    """A one-line error, before any request, where a URL's host resolves to a non-public address."""
    for host in dict.fromkeys((urlsplit(u).hostname or "").lower() for u in urls):
        try:
            check_host(host, opts.allow_hosts)
        except Reject as e:
            raise InputError(f"{origin}: {e.detail}; pass --allow-host {host} to fetch from it") from None


def extract_limits(options: dict[str, Any]) -> ExtractLimits:
    names = {f.name for f in dataclasses.fields(ExtractLimits)}
    return ExtractLimits(**{k: v for k, v in options.items() if k in names})


def parse_url_list(text: str) -> list[DownloadItem]:
    """``URL [sha256|md5] [licence ...]`` per line (tab or space separated, ``#`` comments), or a
    CSV/TSV whose header names a ``url`` column (plus optional sha256, md5, licence/license, name)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return []
    delim = "\t" if "\t" in lines[0] else ","
    header = [h.strip().lower() for h in lines[0].split(delim)]
    if "url" in header:
        rows = csv.DictReader(io.StringIO("\n".join(lines)), delimiter=delim)
        items = []
        for row in rows:
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            if row.get("url"):
                items.append(
                    DownloadItem(
                        row["url"],
                        name=row.get("name") or None,
                        sha256=row.get("sha256") or None,
                        md5=row.get("md5") or None,
                        licence=row.get("licence") or row.get("license") or None,
                    )
                )
        return items
    items = []
    for ln in lines:
        parts = ln.strip().split("\t") if "\t" in ln else ln.split()
        item = DownloadItem(parts[0].strip())
        rest = [p.strip() for p in parts[1:] if p.strip()]
        if rest and _HEX64.match(rest[0]):
            item.sha256 = rest.pop(0).lower()
        elif rest and _HEX32.match(rest[0]):
            item.md5 = rest.pop(0).lower()
        item.licence = " ".join(rest) or None
        items.append(item)
    return items


def provenance_of(folder: Path) -> dict[str, DownloadResult]:
    """file (relative) -> download record, where ``folder`` was filled by cfkit (scrape or a download)."""
    path = folder / "downloads.jsonl"
    out: dict[str, DownloadResult] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                r = DownloadResult(**json.loads(line))
            except (ValueError, TypeError):
                continue
            if r.ok and r.file:
                out[r.file] = r
    return out


def from_folder(folder: Path, source: str, licence: str | None, limit: int | None) -> Resolved:
    res = Resolved(source=source, licence=licence)
    prov = provenance_of(folder)
    for p in list_images(folder)[: limit if limit else None]:
        rel = p.relative_to(folder).as_posix()
        rec = prov.get(rel)
        meta = {"relpath": rel}
        if rec:
            meta.update(sha256=rec.sha256, url=rec.url, fetched_at=rec.fetched_at, **rec.meta)
        res.images.append(
            RawImage(p, rec.url if rec else str(p), source, (rec.licence if rec else None) or licence, meta)
        )
    return res


def download_images(
    items: list[DownloadItem],
    dest: Path,
    source: str,
    licence: str | None,
    limit: int | None,
    opts: DownloadOptions,
    description: str,
) -> Resolved:
    """Download until ``limit`` images are kept (rejections do not count toward it)."""
    res = Resolved(source=source, licence=licence)
    with Downloader(dest, opts) as dl:
        pos = 0
        while pos < len(items) and (limit is None or len(res.images) < limit):
            n = len(items) - pos if limit is None else limit - len(res.images)
            batch = items[pos : pos + n]
            pos += len(batch)
            for item, r in zip(batch, dl.run(batch, description), strict=True):
                if r.ok:
                    meta = {**item.meta, "sha256": r.sha256, "url": r.url, "fetched_at": r.fetched_at}
                    res.images.append(RawImage(dest / r.file, r.url, source, item.licence or licence, meta))
                else:
                    res.rejected.append(Rejected(r.url, r.reason or "http_error", r.detail))
    return res


def fetch_file(
    url: str, workdir: Path, options: dict[str, Any], md5: str | None = None, size: int | None = None
) -> Path:
    """A non-image URL (archive, URL list, metadata) downloaded once (resumably) into ``workdir/fetched``."""
    tail = unquote(_url_basename(url)) or "download"
    name = hashlib.sha1(url.encode()).hexdigest()[:10] + "-" + safe_relpath(tail).replace("/", "_")
    limit = options["max_archive_bytes"]  # typed, with its default, by resolve()
    dl_opts = download_options(options, images=False, dedupe=False, progress=False, max_bytes=limit)
    check_hosts([url], dl_opts, url)
    with Downloader(workdir / "fetched", dl_opts) as dl:
        r = dl.fetch(DownloadItem(url, name=name, md5=md5, size=size))
    if not r.ok:
        hint = "; for HTML pages use: cfkit scrape --page URL" if r.reason == "not_image" else ""
        raise InputError(f"cannot fetch {url}: {r.reason}: {r.detail}{hint}")
    return workdir / "fetched" / r.file  # type: ignore[operator]


def extract_archive(path: Path, workdir: Path, options: dict[str, Any]) -> tuple[Path, list[Rejected]]:
    """Extract ``path`` (once) under ``workdir/extracted``: (folder, refused members)."""
    st = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:10]
    dest = workdir / "extracted" / f"{path.name.split('.')[0]}-{key}"
    return dest, extract(path, dest, extract_limits(options))


def _url_basename(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


def resolve_src(
    src: str, *, source: str, workdir: Path, limit: int | None, licence: str | None, options: dict[str, Any]
) -> Resolved:
    """Raw images from a user-given ``src`` (see :mod:`cfkit.curate.sources`)."""
    if src.startswith(("http://", "https://")):
        if is_image_path(_url_basename(src)):
            opts = download_options(options)
            check_hosts([src], opts, src)
            return download_images([DownloadItem(src)], workdir / "downloads", source, licence, limit, opts, source)
        return resolve_local(fetch_file(src, workdir, options), src, source, workdir, limit, licence, options)
    return resolve_local(Path(src).expanduser(), src, source, workdir, limit, licence, options)


def resolve_local(
    path: Path,
    origin: str,
    source: str,
    workdir: Path,
    limit: int | None,
    licence: str | None,
    options: dict[str, Any],
) -> Resolved:
    if not path.exists():
        raise InputError(f"--src not found: {path}")
    if path.is_dir():
        return from_folder(path, source, licence, limit)
    if is_archive(path):
        dest, rejected = extract_archive(path, workdir, options)
        res = from_folder(dest, source, licence, limit)
        res.rejected[:0] = rejected
        res.notes.append(f"extracted from {origin}")
        return res
    if is_image_path(path):
        return Resolved(source=source, licence=licence, images=[RawImage(path, origin, source, licence, {})])
    if path.suffix.lower() in LIST_SUFFIXES or _looks_like_text(path):
        items = parse_url_list(path.read_text(encoding="utf-8", errors="replace"))
        if not items:
            raise InputError(f"{path} lists no URLs")
        bad = [it for it in items if urlsplit(it.url).scheme not in ("http", "https")]
        if bad:
            raise InputError(f"{path}: not an http(s) URL: {bad[0].url!r}")
        opts = download_options(options)
        check_hosts([it.url for it in items], opts, str(path))
        res = download_images(items, workdir / "downloads", source, licence, limit, opts, source)
        res.notes.append(f"downloaded from the URL list {origin}")
        return res
    raise InputError(f"--src {origin}: not a folder, image, archive (.zip/.tar.*) or URL list")


def _looks_like_text(path: Path) -> bool:
    head = path.open("rb").read(4096)
    return bool(head) and b"\0" not in head and head.lstrip()[:4].lower() in (b"http", b"#", b"url,", b"url\t")


__all__ = ["download_images", "extract_archive", "fetch_file", "from_folder", "parse_url_list", "resolve_src"]
