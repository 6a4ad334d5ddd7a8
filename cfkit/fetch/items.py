"""What a download is given and what it gives back: options, one item, one result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cfkit import __version__
from cfkit.imageio import MAX_PIXELS

USER_AGENT = f"cfkit/{__version__} (research dataset curation; +https://pypi.org/project/cfkit/)"
TRANSIENT = ("network", "http_error")  # rejections retried when a run is repeated


@dataclass
class DownloadOptions:
    """Defaults shared by ``cfkit prepare``/``cfkit scrape`` and the Python API (built from mappings with
    :func:`cfkit.options.load_options`: values are type-checked, unknown keys are one-line errors)."""

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
    public_only: bool = False  # refuse hosts resolving to non-public addresses (every user-given URL)
    allow_hosts: tuple[str, ...] = ()  # hosts exempt from public_only (e.g. an intranet mirror)

    def __post_init__(self) -> None:
        self.allow_hosts = tuple(h.lower() for h in self.allow_hosts)

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
