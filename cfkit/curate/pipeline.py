"""``prepare``: raw images of a source -> aligned faces, masks, ``manifest.parquet`` and ``card.md``.

    from cfkit.curate import prepare
    result = prepare("folder", src="~/selfies", out="data/selfies", size=128, mask=True)
    result.manifest, result.eye_within_tolerance

Work is split into chunks run by worker processes; each finished chunk is committed to
``OUT/journal/`` atomically, so an interrupted run resumes without duplicates or loss. With
``shard=(i, n)`` only the inputs hashed to shard ``i`` are processed and the result is written to
``OUT/shards/``; :func:`merge` joins the shards into the one manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd

from cfkit.console import info, track
from cfkit.curate import worker
from cfkit.curate.card import eye_alignment, render
from cfkit.curate.dedupe import exact_duplicates, near_duplicates
from cfkit.curate.defaults import CHUNK, PREPARE_DEFAULTS, PrepareOptions
from cfkit.curate.journal import Journal
from cfkit.curate.sources import profile
from cfkit.curate.split import split_of
from cfkit.errors import CfkitError, InputError
from cfkit.fsutil import atomic_write_bytes, atomic_write_text, refuse_overlap, safe_id
from cfkit.options import api_options
from cfkit.stageclock import add_seconds, stage_summary


@dataclass
class PrepareResult:
    out: Path
    manifest: Path | None  # None for a shard run (see :func:`merge`)
    kept: int
    rejected: dict[str, int]
    eye_within_tolerance: float | None  # share of measured faces, or None


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/n"`` -> (i, n) with 0 <= i < n."""
    if not text:
        return None
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise CfkitError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise CfkitError(f"--shard {text}: need 0 <= i < n")
    return i, n


def in_shard(origin: str, shard: tuple[int, int] | None) -> bool:
    return shard is None or int(hashlib.sha1(origin.encode()).hexdigest()[:12], 16) % shard[1] == shard[0]


def _raw_images(source: str, src: str | None, out: Path, limit: int | None, source_options: dict):
    """(RawImage list, source-level rejection rows, dataset licence)."""
    from cfkit.curate.sources import resolve

    got = resolve(source, src, out / "raw", limit=limit, **source_options)
    with contextlib.suppress(OSError):
        (out / "raw").rmdir()  # only if the source left nothing there (local folders)
    rejected = [
        {"origin": r.origin, "source": source, "status": "rejected", "reason": r.reason, "detail": r.detail}
        for r in getattr(got, "rejected", [])
    ]
    return list(got), rejected, getattr(got, "licence", None)


def run_jobs(raws: list, job: worker.Job, journal: Journal, workers: int, label: str) -> dict[str, float]:
    """Process ``raws`` in chunks (worker processes when ``workers > 1``), committing each chunk; the
    workers' seconds per stage, summed."""
    chunks = [raws[i : i + CHUNK] for i in range(0, len(raws), CHUNK)]
    seconds: dict[str, float] = {}
    if not chunks:
        return seconds
    workers = max(1, min(workers, len(chunks)))
    if workers == 1:
        worker.init(job)
        for chunk in track(chunks, label, unit="chunk"):
            rows, spent = worker.process_chunk(chunk)
            journal.write(rows)
            seconds = add_seconds(seconds, spent)
        return seconds
    job = replace(job, threads=1)
    # forkserver: workers never inherit a parent's onnxruntime/dlib threads (a plain fork can deadlock)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["cfkit.curate.worker", "cv2", "onnxruntime", "insightface.app", "dlib"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=worker.init, initargs=(job,)) as pool:
        futures = [pool.submit(worker.process_chunk, c) for c in chunks]
        try:
            for fut in track(as_completed(futures), label, total=len(futures), unit="chunk"):
                rows, spent = fut.result()
                journal.write(rows)
                seconds = add_seconds(seconds, spent)
        except BrokenProcessPool:
            msg = "a worker process died; finished chunks are kept: re-run (add --workers 1 to see why)"
            raise CfkitError(msg) from None
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return seconds


def prepare(
    source: str,
    src: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    *,
    size: int | None = None,
    template: str | None = None,
    policy: str | None = None,
    mask: bool | None = None,
    mask_method: str | None = None,
    checkpoint: str | None = None,
    limit: int | None = None,
    shard: tuple[int, int] | str | None = None,
    kind: str | None = None,
    landmarks: str | os.PathLike | None = None,
    seed: int | None = None,
    workers: int | None = None,
    options: PrepareOptions | None = None,
    source_options: dict | None = None,
) -> PrepareResult:
    """Build (or resume) the prepared dataset of ``source`` in ``out`` (default ``data/SOURCE``).

    Options: ``options`` as given (e.g. built by ``cfkit prepare``), else built once: :class:`PrepareOptions`
    defaults < the recipe's ``prepare:`` block < ``options`` < the keyword arguments given (not None).

    ``source_options`` go to the source's resolver (e.g. ``variant="thumbs"`` for ffhq,
    ``style="Hayao"`` for anime, ``base_url=...`` for a mirror; see ``pipelines/datasets``).
    ``kind`` ("photo" | "cartoon") overrides the source's profile; ``landmarks`` names a
    ``landmark-regressor`` run that places the cartoon landmarks animeface misses.
    """
    from cfkit.curate.sources import source_options as typed_source_options
    from cfkit.curate.sources.recipes import prepare_layer

    prof = profile(source, kind)
    fields = {"size": size, "template": template, "policy": policy, "mask": mask, "mask_method": mask_method}
    opts = api_options(PrepareOptions, options, {**fields, "seed": seed}, prepare_layer(source))
    source_options = typed_source_options(source, source_options or {})  # a bad -o fails before any work
    if opts.mask:
        from cfkit.curate.maskers import make_masker

        make_masker(opts.mask_method, checkpoint)  # fail fast (e.g. unet without --checkpoint)
    shard = parse_shard(shard) if isinstance(shard, str) else shard
    out = Path(out or Path("data") / source).expanduser()
    if src is not None and not str(src).startswith(("http://", "https://")):
        refuse_overlap(src, out)
    job = worker.Job(
        out=str(out),
        size=opts.size,
        template=opts.template,
        policy=opts.policy,
        detectors=prof.detectors,
        photo=prof.photo,
        mask=opts.mask,
        mask_method=opts.mask_method,
        checkpoint=checkpoint,
        landmarks=str(landmarks) if landmarks else None,
        quality=opts.quality,
    )
    worker.check(job)
    tag = f"shard-{shard[0]}-of-{shard[1]}" if shard else "all"
    journal = Journal(out / "journal" / tag)
    extra = {k: v for k, v in (("profile", kind), ("landmarks", job.landmarks)) if v}  # absent: older journals
    recorded = {"source": source, "src": str(src) if src else None, **opts.fingerprint(), **extra}
    if shard:
        recorded["seed"] = opts.seed  # every shard must split alike; --merge reads it back
    journal.check_options(recorded)

    raws, src_rejected, licence = _raw_images(source, str(src) if src else None, out, limit, source_options)
    raws = [r for r in raws if in_shard(str(r.origin), shard)]
    src_rejected = [r for r in src_rejected if in_shard(str(r["origin"]), shard)]
    if not raws and not src_rejected:
        raise InputError(f"no input images found for '{source}'" + (f" in {src}" if src else ""))
    journal.record_options(recorded)  # only now: a --src typo leaves no record that refuses the fixed re-run
    journal.write(src_rejected, name="sources")
    done = journal.done()
    pending = [r for r in raws if str(r.origin) not in done]
    info(f"{source}: {len(raws)} inputs, {len(raws) - len(pending)} already done, {len(pending)} to process")
    spent = run_jobs(pending, job, journal, workers or os.cpu_count() or 1, f"prepare {source}")
    seconds = journal.record_seconds(spent)
    rows = journal.read()
    meta = {"source": source, "licence": licence, "shard": tag}
    if seconds:
        meta["worker time per input"] = stage_summary(seconds, rows["origin"].nunique())
        info(f"worker time per input: {meta['worker time per input']}")
    if shard:
        table = out / "shards" / f"{tag}.parquet"
        write_parquet(table, rows)
        info(f"shard {tag} done: {int((rows['status'] == 'kept').sum())} faces; join shards with --merge")
        return PrepareResult(out, None, int((rows["status"] == "kept").sum()), _reasons(rows), None)
    return finalize(rows, out, opts, meta)


def _reasons(rows: pd.DataFrame) -> dict[str, int]:
    rej = rows[rows["status"] != "kept"]
    return {str(k): int(v) for k, v in rej["reason"].value_counts().sort_index().items()}


def write_parquet(path: Path, df: pd.DataFrame) -> None:
    import io

    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())


def finalize(rows: pd.DataFrame, out: Path, opts: PrepareOptions, meta: dict) -> PrepareResult:
    """Dedupe, split, write ``manifest.parquet`` + ``card.md`` and drop files of faces not kept."""
    rows = rows.copy()
    for col, empty in (("id", None), ("sha256", None), ("face_index", 0), ("phash", None), ("detail", "")):
        if col not in rows:
            rows[col] = empty
    kept_mask = rows["status"] == "kept"
    written = set(rows.loc[kept_mask, "id"].dropna())  # faces whose files a worker wrote
    dup = exact_duplicates(rows[kept_mask])
    rows.loc[dup[dup].index, ["status", "reason"]] = ["rejected", "duplicate_sha256"]
    kept_mask = rows["status"] == "kept"
    near = near_duplicates(
        list(rows.loc[kept_mask, "id"]), list(rows.loc[kept_mask, "phash"]), opts.quality.max_phash_distance
    )
    is_near = kept_mask & rows["id"].isin(list(near))
    rows.loc[is_near, "status"] = "rejected"
    rows.loc[is_near, "reason"] = "near_duplicate"
    rows.loc[is_near, "detail"] = rows.loc[is_near, "id"].map(lambda i: f"like {near[i]}")
    kept = rows[rows["status"] == "kept"].copy()
    kept["split"] = [split_of(i, opts.seed, opts.splits) for i in kept["id"]]
    kept = kept.sort_values("id").drop(columns=["status", "reason", "detail"]).reset_index(drop=True)
    _remove_stale(out, written - set(kept["id"]))
    manifest = out / "manifest.parquet"
    write_parquet(manifest, kept)
    share, _, _ = eye_alignment(kept, opts.quality.eye_tolerance_px)
    card_info = {
        **meta,
        "size": opts.size,
        "template": opts.template,
        "face policy": opts.policy,
        "masks": opts.mask_method if opts.mask else "no",
        "seed": opts.seed,
        "splits": ", ".join(f"{n} {f:g}" for n, f in opts.splits),
        "eye_tolerance_px": opts.quality.eye_tolerance_px,
        "quality thresholds": ", ".join(f"{k}={v}" for k, v in asdict(opts.quality).items()),
    }
    atomic_write_text(out / "card.md", render(rows, kept, card_info))
    reasons = _reasons(rows)
    tol = opts.quality.eye_tolerance_px
    eyes = f"; eye alignment {share * 100:.1f}% within {tol:g} px" if share is not None else ""
    info(f"{len(kept)} faces kept in {out}; rejected: {reasons or 'none'}{eyes}")
    if not len(kept):
        summary = ", ".join(f"{k} {v}" for k, v in reasons.items())
        raise InputError(f"no usable face in {rows['origin'].nunique()} inputs ({summary}); see {out / 'card.md'}")
    return PrepareResult(out, manifest, len(kept), reasons, share)


def _remove_stale(out: Path, ids: set[str]) -> None:
    """Delete the image and mask files of ``ids``: faces cfkit wrote (journal rows) and then dropped."""
    for sub in ("images", "masks"):
        for i in ids:
            (out / sub / f"{i}.png").unlink(missing_ok=True)


def _copy_faces(folder: Path, out: Path, table: pd.DataFrame) -> None:
    """Copy the files of the faces ``table`` keeps from another prepared ``folder`` (never overwriting)."""
    ids = table.loc[table["status"] == "kept", "id"].dropna() if "id" in table else []
    for i in ids:
        for sub in ("images", "masks"):
            src, dest = folder / sub / f"{i}.png", out / sub / f"{i}.png"
            if src.is_file() and not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)


def _check_shard_ids(table: pd.DataFrame, where: Path) -> None:
    """Every id of a shard table must be a safe name and the one prepare derives from the file's sha256 and
    face index: rows repeating a file then share its id, and dropping them as duplicates deletes nothing."""
    if "id" not in table:
        return
    if not {"sha256", "face_index"} <= set(table.columns):
        raise InputError(f"{where}: not a shard table of cfkit prepare (ids without sha256 and face_index)")
    for k, (fid, sha, face) in enumerate(zip(table["id"], table["sha256"], table["face_index"], strict=True)):
        if fid is None or pd.isna(fid):
            continue  # a file without a face
        fid = safe_id(fid, f"{where} row {k}")
        expected = worker.face_id(str(sha)[:16], int(face)) if isinstance(sha, str) and pd.notna(face) else None
        if fid != expected:
            raise InputError(
                f"{where} row {k}: id {fid!r} is not the one prepare gives its sha256 and face index ({expected}); "
                "was the table edited?"
            )


def _agreed_options(recorded: dict[str, dict]) -> dict:
    """The options every shard was prepared with; a clear error where two shards differ."""
    if not recorded:
        return {}
    (first, ref), *rest = recorded.items()
    for where, opts in rest:
        diff = [
            f"{k}: {ref.get(k)} vs {opts.get(k)}" for k in sorted(set(ref) | set(opts)) if ref.get(k) != opts.get(k)
        ]
        if diff:
            raise InputError(
                f"cannot merge shards prepared with different options ({', '.join(diff)}): {first}, {where}"
            )
    return ref


def merge(
    out: str | os.PathLike,
    inputs: list[str | os.PathLike] = (),
    options: PrepareOptions | None = None,
    seed: int | None = None,
) -> PrepareResult:
    """Join shard results (``OUT/shards/*.parquet`` and those of other prepared folders) into one dataset.

    The shards' recorded options (seed included) must agree; ``seed``, when given, must match them.
    """
    out = Path(out)
    tables, recorded = [], {}
    for folder in [out, *map(Path, inputs)]:
        for part in sorted((folder / "shards").glob("shard-*-of-*.parquet")):
            df = pd.read_parquet(part)
            _check_shard_ids(df, part)
            if folder.resolve() != out.resolve():
                _copy_faces(folder, out, df)
            tables.append((part.stem, df))
            saved = Journal(folder / "journal" / part.stem).recorded_options()
            if saved is not None:
                recorded[f"{folder / 'shards' / part.name}"] = {k: v for k, v in saved.items() if k != "src"}
    if not tables:
        raise InputError(f"no shard results found in {out}/shards (run prepare with --shard i/n first)")
    tags = {t for t, _ in tables}
    for n in {int(t.split("-of-")[1]) for t in tags}:
        missing = [f"{i}/{n}" for i in range(n) if f"shard-{i}-of-{n}" not in tags]
        if missing:
            raise InputError(f"cannot merge: shard(s) {', '.join(missing)} not prepared yet")
    saved = _agreed_options(recorded)
    if seed is not None and saved.get("seed", seed) != seed:
        raise InputError(f"--seed {seed} differs from the seed the shards were prepared with ({saved['seed']})")
    rows = pd.concat([df for _, df in tables], ignore_index=True)
    rows = rows.drop_duplicates(subset=["origin", "face_index"], keep="first") if "face_index" in rows else rows
    opts = options or replace(
        PREPARE_DEFAULTS,
        size=saved.get("size", PREPARE_DEFAULTS.size),
        template=saved.get("template"),
        policy=saved.get("policy", PREPARE_DEFAULTS.policy),
        mask=saved.get("mask", False),
        mask_method=saved.get("mask_method", PREPARE_DEFAULTS.mask_method),
        seed=saved.get("seed", PREPARE_DEFAULTS.seed if seed is None else seed),
    )
    source = str(rows["source"].dropna().iloc[0]) if rows["source"].notna().any() else "merged"
    return finalize(rows, out, opts, {"source": source, "licence": None, "shard": f"merged {len(tables)} shards"})
