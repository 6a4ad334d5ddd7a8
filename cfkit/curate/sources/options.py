"""``-o KEY=VALUE`` source options: typed by :mod:`cfkit.options`, unknown keys refused.

A source's options are the fields of its ``Source.options`` dataclass (a :class:`SourceOptions`
subclass, e.g. ffhq's ``variant``), of :class:`~cfkit.fetch.http.DownloadOptions` (downloads) and of
:class:`~cfkit.fetch.archive.ExtractLimits` (archives).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

from cfkit.errors import InputError
from cfkit.fetch.archive import ExtractLimits
from cfkit.fetch.http import DownloadOptions
from cfkit.options import check_text


@dataclass(frozen=True)
class SourceOptions:
    """Options every source takes besides those of downloads and archives."""

    max_archive_bytes: int = 64 << 30
    """Largest archive, URL list or metadata file fetched."""


def typed_source_options(source: str, own: type[SourceOptions], given: dict[str, Any]) -> dict[str, Any]:
    """``given`` checked and typed (CLI text read as YAML where the option is not text), with the defaults
    of ``own``; an unknown key is a one-line error naming the known ones."""
    hints: dict[str, Any] = {}
    for cls in (ExtractLimits, DownloadOptions, own):
        types = typing.get_type_hints(cls)
        hints.update({f.name: types[f.name] for f in dataclasses.fields(cls)})
    unknown = sorted(set(given) - set(hints))
    if unknown:
        raise InputError(f"{source}: unknown source option(s) {', '.join(unknown)} (known: {', '.join(sorted(hints))})")
    typed = {k: check_text(k, v, hints[k], f"{source} source options") for k, v in given.items()}
    return {**dataclasses.asdict(own()), **typed}
