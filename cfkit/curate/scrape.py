"""Polite, resumable, deduplicated image scraping with provenance.

    report = scrape(Path("data/raw/paintings"), pages=["https://example.org/gallery"])

Images come from URL lists (``URL [sha256] [licence]`` lines or a CSV with a url column) and from HTML
pages (``<img src/srcset>``, ``<picture><source srcset>``, ``<a href>`` to image files; relative URLs
resolved against the page or its ``<base href>``). Every request honours robots.txt, waits
``min_interval`` seconds per host and names cfkit in its User-Agent. Hosts that resolve to loopback,
private or link-local addresses are refused, after redirects too, unless listed in ``allow_hosts``.
Files are stored under their content hash (``<sha256[:20]>.<ext>``) directly in ``out`` (so
``cfkit prepare folder --src out`` keeps the provenance); a re-run skips finished URLs.
``out/downloads.jsonl`` logs each URL as it finishes and ``out/provenance.parquet`` (URL, page, time,
licence hint, sha256, status, reason) is rewritten atomically at the end. The licence hint is the
page's ``rel=license`` link or ``<meta name=license>`` (else the URL list's licence column, else
``--licence``, else none).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from cfkit.console import info, warn
from cfkit.curate.sources.inputs import parse_url_list
from cfkit.errors import CfkitError, InputError
from cfkit.fetch.http import Downloader, DownloadItem, DownloadOptions, DownloadResult, Reject
from cfkit.fsutil import atomic_open
from cfkit.imageio import is_image_path
from cfkit.options import load_options

PROVENANCE = "provenance.parquet"
_LICENCE_META = ("license", "licence", "dc.rights", "dcterms.license", "dc.license", "copyright")


SCRAPE_DOWNLOADS = {"min_interval": 1.0, "workers": 4, "max_bytes": 20 << 20, "retries": 3}
"""Scraping's download defaults where they differ from :class:`DownloadOptions`' (a gentler pace)."""
SCRAPE_RULES = {"robots": True, "images": True, "dedupe": True, "public_only": True}
"""What every scrape does whatever its options say: robots.txt, images only, sha256 dedupe, public hosts."""


@dataclass
class ScrapeOptions:
    """Options of ``cfkit scrape`` (CLI and Python API); build them with :func:`scrape_options`."""

    download: DownloadOptions = field(default_factory=lambda: DownloadOptions(**SCRAPE_DOWNLOADS))
    """How images are fetched (``max_bytes`` per image, ``min_interval`` per host, ``allow_hosts``, ...)."""
    max_page_bytes: int = 5 << 20
    licence: str | None = None
    """Fallback licence note when neither page nor list gives one."""


def scrape_options(*layers: dict[str, Any] | None) -> ScrapeOptions:
    """ScrapeOptions from mappings (later wins), e.g. ``{"licence": "CC0", "download": {"workers": 2}}``:
    typed by :func:`cfkit.options.load_options`, an unknown or mistyped key is a one-line error."""
    return load_options(ScrapeOptions, {"download": SCRAPE_DOWNLOADS}, *layers, where="scrape options")


@dataclass
class ScrapeReport:
    out: Path
    kept: int
    rejected: dict[str, int]
    pages_failed: list[tuple[str, str]] = field(default_factory=list)
    provenance: Path | None = None


class _PageParser(HTMLParser):
    def __init__(self, url: str):
        super().__init__(convert_charrefs=True)
        self.base = url
        self.found: list[str] = []
        self.licence: str | None = None

    def _add(self, value: str | None) -> None:
        if value and not value.strip().startswith("data:"):
            url = urljoin(self.base, value.strip())
            if urlsplit(url).scheme in ("http", "https"):
                self.found.append(url.split("#")[0])

    def _srcset(self, value: str | None) -> None:
        for cand in (value or "").split(","):
            if cand.strip():
                self._add(cand.split()[0])

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): v for k, v in attrs}
        rel = (a.get("rel") or "").lower().split()
        if tag == "base" and a.get("href"):
            self.base = urljoin(self.base, a["href"])
        elif tag == "img":
            self._add(a.get("src"))
            self._srcset(a.get("srcset"))
        elif tag == "source":
            self._srcset(a.get("srcset"))
        elif tag in ("a", "link") and "license" in rel and a.get("href"):
            self.licence = self.licence or urljoin(self.base, a["href"])
        elif tag == "a" and a.get("href") and is_image_path(urlsplit(urljoin(self.base, a["href"])).path):
            self._add(a["href"])
        elif tag == "meta" and (a.get("name") or a.get("property") or "").lower() in _LICENCE_META:
            self.licence = self.licence or (a.get("content") or "").strip() or None


def page_images(page_url: str, html: str) -> tuple[list[str], str | None]:
    """Image URLs on a page (absolute, in order, unique) and its licence hint."""
    p = _PageParser(page_url)
    p.feed(html)
    p.close()
    return list(dict.fromkeys(p.found)), p.licence


def write_provenance(out: Path, results: list[DownloadResult]) -> Path:
    """``out/provenance.parquet``: one row per URL (kept or rejected), written atomically."""
    import pandas as pd

    rows = []
    for r in results:
        row = dataclasses.asdict(r)
        meta = row.pop("meta") or {}
        row["page"] = meta.get("page")
        rows.append(row)
    df = pd.DataFrame(rows, columns=[f.name for f in dataclasses.fields(DownloadResult) if f.name != "meta"] + ["page"])
    path = out / PROVENANCE
    with atomic_open(path) as fh:
        df.to_parquet(fh, index=False)
    return path


def scrape(
    out: Path,
    urls_file: Path | None = None,
    pages: list[str] | tuple[str, ...] = (),
    options: ScrapeOptions | None = None,
) -> ScrapeReport:
    """Fetch the images listed in ``urls_file`` and found on ``pages`` into ``out`` (see module doc)."""
    opt = options or ScrapeOptions()
    if urls_file is None and not pages:
        raise CfkitError("nothing to scrape: give --urls FILE and/or --page URL")
    items: list[DownloadItem] = []
    if urls_file is not None:
        if not Path(urls_file).is_file():
            raise InputError(f"URL list not found: {urls_file}")
        for it in parse_url_list(Path(urls_file).read_text(encoding="utf-8", errors="replace")):
            it.licence = it.licence or opt.licence
            it.meta["list"] = str(urls_file)
            items.append(it)
    dl_opts = dataclasses.replace(opt.download, **SCRAPE_RULES)
    failed: list[tuple[str, str]] = []
    with Downloader(out, dl_opts) as dl:
        for page in pages:
            if urlsplit(page).scheme not in ("http", "https"):
                raise InputError(f"--page needs an http(s) URL, got {page!r}")
            try:
                final, html = dl.get_text(page, opt.max_page_bytes)
            except Reject as e:
                failed.append((page, e.reason))
                warn(f"page skipped: {page}: {e.reason} {e.detail}".rstrip())
                continue
            found, hint = page_images(final, html)
            info(f"{page}: {len(found)} image links, licence hint: {hint or 'none'}")
            items += [DownloadItem(u, licence=hint or opt.licence, meta={"page": page}) for u in found]
        unique: dict[str, DownloadItem] = {}
        for it in items:
            unique.setdefault(it.url, it)  # first mention wins
        items = list(unique.values())
        dl.run(items, "scrape")
        results = dl.results()
    prov = write_provenance(out, results)
    reasons = Counter(r.reason for r in results if not r.ok)
    return ScrapeReport(out, sum(r.ok for r in results), dict(sorted(reasons.items())), failed, prov)
