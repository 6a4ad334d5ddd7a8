"""What a source gives: raw images on local disk with their provenance, and the rejections."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfkit.fetch import Rejected


@dataclass
class RawImage:
    """One raw image on local disk and its provenance."""

    path: Path
    origin: str  # original path or URL
    source: str  # source name (ffhq, anime, ...)
    licence: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # sha256, md5, url, author, landmarks, split ...


@dataclass
class Resolved:
    """What :func:`resolve` returns: images plus rejections; iterates (and indexes) like the image list."""

    source: str
    images: list[RawImage] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    licence: str | None = None  # the dataset-level licence (per-image licences are on RawImage)
    notes: list[str] = field(default_factory=list)  # lines worth putting in card.md

    def __iter__(self) -> Iterator[RawImage]:
        return iter(self.images)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> RawImage:
        return self.images[i]

    def rejected_by_reason(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rejected:
            out[r.reason] = out.get(r.reason, 0) + 1
        return dict(sorted(out.items()))
