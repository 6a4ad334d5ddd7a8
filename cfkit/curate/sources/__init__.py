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

A new source is one module in this package that subclasses :class:`Source` (name, profile, help)
and registers itself in ``SOURCES``; modules here are discovered on first lookup.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfkit.curate.profiles import PHOTO, Profile
from cfkit.curate.sources.options import SourceOptions, typed_source_options
from cfkit.fetch import REJECT_REASONS, Rejected
from cfkit.registry import Registry


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


class Source:
    """Base class of a dataset source; subclasses set the class attributes and override :meth:`official`."""

    name: str = ""
    profile: Profile = PHOTO
    """How its images are processed (:mod:`cfkit.curate.profiles`)."""
    help: str = ""
    """One line for ``cfkit prepare --help``: what the source is and where it comes from."""
    options: type[SourceOptions] = SourceOptions
    """Its own ``-o KEY=VALUE`` options (besides those of downloads and archives), with their defaults."""

    def recipe(self) -> dict[str, Any]:
        from cfkit.curate.sources.recipes import load_dataset_recipe

        return load_dataset_recipe(self.name)

    @property
    def licence(self) -> str | None:
        return self.recipe().get("licence")

    def official(self, workdir: Path, limit: int | None, options: dict[str, Any]) -> Resolved:
        """Fetch the dataset from its official location (or raise a CfkitError that says where it is).

        The default explains the recipe's ``official.manual`` text: for sets that need an interactive
        agreement, an account, or that do not exist publicly.
        """
        from cfkit.errors import CfkitError

        manual = (self.recipe().get("official") or {}).get("manual") or "it has no official download"
        raise CfkitError(
            f"{self.name}: {manual.strip()}; then run: cfkit prepare {self.name} --src DIR|ARCHIVE|URL_LIST|URL"
        )

    def from_src(self, src: str, workdir: Path, limit: int | None, options: dict[str, Any]) -> Resolved:
        """Images from a user-given location; the generic handling fits most sources."""
        from cfkit.curate.sources.inputs import resolve_src

        return resolve_src(src, source=self.name, workdir=workdir, limit=limit, licence=self.licence, options=options)


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


__all__ = [
    "REJECT_REASONS",
    "SOURCES",
    "RawImage",
    "Rejected",
    "Resolved",
    "Source",
    "SourceOptions",
    "resolve",
    "source_options",
]
