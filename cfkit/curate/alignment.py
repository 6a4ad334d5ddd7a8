"""``cfkit align``: detect and align every image of a folder (no dedupe, splits or quality filter).

    align_folder("photos/", "aligned/", size=128, template="ffhq")

Writes ``OUT/<relative path with / as __>.png`` (``_1``, ``_2``... for further faces under
``policy="all"``; :func:`output_names` keeps names unique) and ``OUT/alignment.csv`` (one row per
input: status, reason, score, eye error). Nothing it did not write is ever overwritten.
Resumable: finished chunks are recorded in ``OUT/.journal/``.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections import Counter
from pathlib import Path

import pandas as pd

from cfkit.console import info
from cfkit.curate import worker
from cfkit.curate.defaults import PREPARE_DEFAULTS
from cfkit.curate.journal import Journal
from cfkit.curate.pipeline import run_jobs
from cfkit.errors import InputError
from cfkit.fsutil import atomic_write_text, refuse_overlap
from cfkit.imageio import list_images

CSV_COLUMNS = ["origin", "id", "status", "reason", "detail", "det_score", "n_faces", "eye_error"]


def output_names(rels: list[Path]) -> dict[Path, str]:
    """Relative input path -> unique output name: ``a/b.jpg`` -> ``a__b``.

    Inputs that would share a name (``x.jpg`` and ``x.png``; ``a/b.png`` and ``a__b.png``), and names
    that a further face of another input could take (``x_1`` beside ``x``), get ``-<8 hex digits of
    the relative path>`` appended, so no output ever overwrites another.
    """
    plain = {r: str(r.with_suffix("")).replace(os.sep, "__") for r in rels}
    count = Counter(plain.values())

    def ambiguous(name: str) -> bool:
        stem, _, k = name.rpartition("_")
        return count[name] > 1 or (k.isdigit() and stem in count)

    return {
        r: f"{n}-{hashlib.sha1(r.as_posix().encode()).hexdigest()[:8]}" if ambiguous(n) else n for r, n in plain.items()
    }


def _refuse_foreign_files(out: Path, names: list[str], ours: set[str]) -> None:
    """Refuse to run where an output name (or a further face's ``NAME_k``) is a file this job did not write."""
    for name in names:
        further = [p for p in out.glob(f"{glob.escape(name)}_*.png") if p.stem[len(name) + 1 :].isdigit()]
        for p in (out / f"{name}.png", *further):
            if p.exists() and p.stem not in ours:
                raise InputError(f"{p} exists and was not written by this alignment; choose an empty --out")


def align_folder(
    src: str | os.PathLike,
    out: str | os.PathLike,
    *,
    size: int = PREPARE_DEFAULTS.size,
    template: str = "ffhq",
    policy: str = PREPARE_DEFAULTS.policy,
    workers: int | None = None,
) -> Path:
    """Align the faces of every image under ``src`` into ``out``; returns the summary CSV path."""
    from cfkit.curate.sources import RawImage

    src, out = Path(src).expanduser(), Path(out).expanduser()
    files = [src] if src.is_file() else list_images(src)
    if not files:
        raise InputError(f"no images found in {src}")
    base = src.parent if src.is_file() else src
    if src.is_dir():
        refuse_overlap(src, out)
    names = output_names([p.relative_to(base) for p in files])
    raws = [RawImage(path=p, origin=str(p), source="folder", meta={"name": names[p.relative_to(base)]}) for p in files]
    job = worker.Job(
        out=str(out),
        size=size,
        template=template,
        policy=policy,
        detectors=("scrfd",),
        photo=True,
        name_by="name",
        images_dir="",
        filter_quality=False,
    )
    worker.check(job)
    journal = Journal(out / ".journal", out)
    journal.record_options({"size": size, "template": template, "policy": policy})
    rows = journal.read()
    done = set(rows["origin"].astype(str))
    pending = [r for r in raws if r.origin not in done]
    _refuse_foreign_files(out, [r.meta["name"] for r in pending], set(rows.get("id", pd.Series(dtype=str)).dropna()))
    run_jobs(pending, job, journal, workers or os.cpu_count() or 1, "align")
    rows = journal.read()
    for col in CSV_COLUMNS:
        if col not in rows:
            rows[col] = None
    table = rows[CSV_COLUMNS].sort_values(["origin", "id"], na_position="first")
    csv = out / "alignment.csv"
    atomic_write_text(csv, table.to_csv(index=False))
    kept = int((rows["status"] == "kept").sum())
    info(f"aligned {kept} faces from {len(raws)} images into {out} ({len(rows) - kept} rejected; see {csv.name})")
    return csv
