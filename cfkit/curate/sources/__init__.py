"""Raw-data sources: where the images of a dataset come from, before detection and alignment.

The contract consumed by ``cfkit prepare``::

    from cfkit.curate.sources import resolve
    got = resolve("ffhq", src=None, workdir=Path("data/ffhq/raw"), limit=500)
    for img in got.images:      # RawImage: local file + where it came from
        ...
    got.rejected                # [Rejected(origin, reason, detail)] -> rejections by reason in card.md

``src`` may be a local folder, a single image, an archive (.zip/.tar.*; extracted safely), a text file
listing URLs (``URL [sha256] [licence]`` per line, or a .csv/.tsv with url/sha256/md5/licence columns),
or an http(s) URL (an image, an archive or a URL list). Without ``src`` a source fetches (or explains)
its official location, read from its recipe ``pipelines/datasets/NAME.yaml``.

A new source is one module in this package that subclasses :class:`~cfkit.curate.sources.base.Source`
(name, profile, help) and registers itself in ``SOURCES``; modules here are discovered on first lookup.
"""

from __future__ import annotations

import pkgutil
from pathlib import Path
from typing import Any

from cfkit.curate.profiles import KINDS, Profile
from cfkit.curate.sources.base import Source
from cfkit.curate.sources.options import SourceOptions, typed_source_options
from cfkit.curate.sources.raw import RawImage, Resolved
from cfkit.fetch import REJECT_REASONS, Rejected
from cfkit.registry import Registry

SOURCES: Registry[type[Source]] = Registry(
    "dataset source",
    modules=[f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")],
)


def source_options(source: str, options: dict[str, Any]) -> dict[str, Any]:
    """The ``-o`` ``options`` of ``source`` typed and checked, with its own defaults (:mod:`.options`)."""
    return typed_source_options(source, SOURCES.get(source).options, options)


def resolve(source: str, src: str | None, workdir: Path, limit: int | None = None, **options: Any) -> Resolved:
    """Local raw images of ``source`` (from ``src``, else its official location), plus rejections.

    ``workdir`` receives downloads and extracted archives (re-running resumes there). ``limit`` caps
    the number of images. ``options`` are source-specific (e.g. ffhq ``variant="thumbs"``,
    ``base_url=...``; anime ``style="Hayao"``; downloads ``workers``, ``max_bytes``); an unknown or
    wrongly typed one is a one-line error.
    """
    options = source_options(source, options)
    inst = SOURCES.get(source)()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if src:
        return inst.from_src(str(src), workdir, limit, options)
    return inst.official(workdir, limit, options)


def profile(source: str, kind: str | None = None) -> Profile:
    """The profile ``source`` declares, or the generic one of ``kind`` ("photo" | "cartoon") if it differs."""
    from cfkit.errors import InputError

    own = SOURCES.get(source).profile
    if kind is None:
        return own
    if kind not in KINDS:
        raise InputError(f"unknown --profile '{kind}' (known: {', '.join(KINDS)})")
    return own if own.photo == (kind == "photo") else KINDS[kind]


__all__ = [
    "REJECT_REASONS",
    "SOURCES",
    "RawImage",
    "Rejected",
    "Resolved",
    "Source",
    "SourceOptions",
    "profile",
    "resolve",
    "source_options",
]
