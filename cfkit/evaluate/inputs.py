"""Which images are compared: methods resolved to folders, images indexed by id (file stem)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cfkit.errors import InputError
from cfkit.evaluate.features import REFERENCE, SOURCE, TARGET
from cfkit.fsutil import safe_id
from cfkit.imageio import list_images

COPY_INPUT = "copy_input"
"""The "copy the input" baseline's name in reports (the sources scored as outputs)."""
RESERVED = (SOURCE, REFERENCE, TARGET, COPY_INPUT)


@dataclass
class MethodOutputs:
    name: str
    folder: Path
    files: dict[str, Path]
    missing: list[str] = field(default_factory=list)
    """Source ids with no output in this method."""
    extra: list[str] = field(default_factory=list)
    """Output ids with no source image."""


def index_folder(folder: str | Path) -> dict[str, Path]:
    """``id -> file`` for every image below ``folder``; the id is the relative path without suffix."""
    folder = Path(folder)
    out: dict[str, Path] = {}
    for p in list_images(folder):
        key = safe_id(p.relative_to(folder).with_suffix("").as_posix(), str(p))
        if key in out:
            raise InputError(f"{folder}: two images share the id '{key}': {out[key].name}, {p.name}")
        out[key] = p
    if not out:
        raise InputError(f"no images in {folder}")
    return out


def dataset_images(folder: str | Path) -> Path:
    """A prepared dataset's ``images/`` folder, else the folder itself."""
    folder = Path(folder)
    return folder / "images" if (folder / "images").is_dir() else folder


def run_info(folder: Path) -> dict:
    """What ``cfkit translate`` recorded about the run that wrote ``folder`` (``translate.json``), if anything."""
    import json

    for cand in (folder / "translate.json", folder.parent / "translate.json"):
        try:
            return json.loads(cand.read_text())
        except (OSError, ValueError):
            continue
    return {}


def resolve_method(spec: str, results_root: str | Path = "results") -> tuple[str, Path]:
    """``name`` -> ``results/<name>/`` (or its ``images/``); ``name=DIR`` -> DIR."""
    name, sep, folder = spec.partition("=")
    name = name.strip()
    if not name or name in RESERVED or "/" in name:
        reserved = ", ".join(f"'{r}'" for r in RESERVED)
        raise InputError(f"bad method name in '{spec}' (use NAME or NAME=DIR; {reserved} are reserved)")
    path = Path(folder.strip()) if sep else Path(results_root) / name
    if not path.is_dir():
        hint = "" if sep else f" (give NAME=DIR, or run cfkit translate ... --out {path})"
        raise InputError(f"method '{name}': folder not found: {path}{hint}")
    return name, dataset_images(path)


def match_methods(
    source: dict[str, Path], specs: list[str], results_root: str | Path = "results"
) -> list[MethodOutputs]:
    """Resolve and index every method and note ids that do not pair up."""
    methods, seen = [], set()
    for spec in specs:
        name, folder = resolve_method(spec, results_root)
        if name in seen:
            raise InputError(f"method '{name}' given twice")
        seen.add(name)
        files = index_folder(folder)
        missing = sorted(set(source) - set(files))
        extra = sorted(set(files) - set(source))
        if len(extra) == len(files):
            raise InputError(
                f"method '{name}': none of its {len(files)} image ids match a source id "
                f"(e.g. '{extra[0]}' vs source '{next(iter(source))}'); outputs must keep the source file stem"
            )
        methods.append(MethodOutputs(name, folder, {k: v for k, v in files.items() if k in source}, missing, extra))
    if not methods:
        raise InputError("no methods given (use --methods a,b or name=DIR)")
    return methods


def match_targets(source_ids: list[str], folder: str | Path) -> tuple[dict[str, Path], list[str]]:
    """``(id -> target file, source ids without a target)``; a folder matching no source id is an error."""
    files = index_folder(dataset_images(folder))
    matched = {k: files[k] for k in source_ids if k in files}
    if not matched:
        raise InputError(
            f"targets {folder}: none of its {len(files)} image ids match a source id "
            f"(e.g. '{next(iter(files))}' vs source '{source_ids[0]}'); targets must keep the source file stem"
        )
    return matched, [k for k in source_ids if k not in files]


def describe_unmatched(m: MethodOutputs, show: int = 5) -> str:
    parts = []
    for label, ids in (("without output", m.missing), ("without source", m.extra)):
        if ids:
            more = f" (+{len(ids) - show} more)" if len(ids) > show else ""
            parts.append(f"{len(ids)} id(s) {label}: {', '.join(ids[:show])}{more}")
    return f"method '{m.name}': " + "; ".join(parts) if parts else ""
