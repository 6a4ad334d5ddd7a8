"""``cfkit align``: detect and align every image of a folder (no dedupe, splits or quality filter).

    align_folder("photos/", "aligned/", size=128, template="ffhq")

Writes ``OUT/<relative path with / as __>.png`` (``_1``, ``_2``... for further faces under
``policy="all"``) and ``OUT/alignment.csv`` (one row per input: status, reason, score, eye error).
Resumable: finished chunks are recorded in ``OUT/.journal/``.
"""

from __future__ import annotations

import os
from pathlib import Path

from cfkit.console import info
from cfkit.curate import worker
from cfkit.curate.defaults import PREPARE_DEFAULTS
from cfkit.curate.journal import Journal
from cfkit.curate.pipeline import run_jobs
from cfkit.errors import InputError
from cfkit.fsutil import atomic_write_text
from cfkit.imageio import list_images

CSV_COLUMNS = ["origin", "id", "status", "reason", "detail", "det_score", "n_faces", "eye_error"]


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
    raws = [
        RawImage(
            path=p,
            origin=str(p),
            source="folder",
            meta={"name": str(p.relative_to(base).with_suffix("")).replace(os.sep, "__")},
        )
        for p in files
    ]
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
    journal = Journal(out / ".journal")
    journal.check_options({"size": size, "template": template, "policy": policy})
    done = journal.done()
    pending = [r for r in raws if r.origin not in done]
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
