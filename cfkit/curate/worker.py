"""Per-image work of ``prepare``/``align``, run in worker processes: decode, detect, align, score, write.

A chunk of raw images becomes a list of rows (one per kept or rejected face, one per unusable
file). Images and masks are written atomically before the rows are returned, so a row in the
journal always points at a complete file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cfkit.curate.defaults import QualityThresholds
from cfkit.curate.quality import blur_score, face_size, pose_scores, quality_reason
from cfkit.stageclock import StageClock

_STATE: dict = {"clock": StageClock()}
BATCH_PIXELS = 48_000_000  # decoded pixels a worker aligns at once (~150 MB as RGB); see process_chunk


@dataclass(frozen=True)
class Job:
    """Everything a worker needs (picklable)."""

    out: str
    size: int
    template: str
    policy: str
    detectors: tuple[str, ...]
    photo: bool
    mask: bool = False
    mask_method: str = "landmarks"
    checkpoint: str | None = None
    landmarks: str | None = None  # landmark-regressor run for cartoons animeface misses
    quality: QualityThresholds = QualityThresholds()
    threads: int = 0
    name_by: str = "sha"  # "sha": <sha16>.png (datasets); "name": raw.meta["name"] (cfkit align)
    images_dir: str = "images"  # under ``out``
    filter_quality: bool = True


def check(job: Job) -> None:
    """Fail fast, in the calling process, on bad options or missing model assets."""
    from cfkit.assets import asset_path
    from cfkit.errors import CfkitError
    from cfkit.faces.aligner import POLICIES
    from cfkit.faces.detector import detector_model_path
    from cfkit.geometry.align import TEMPLATES

    if job.template not in TEMPLATES:
        raise CfkitError(f"unknown template '{job.template}' (known: {', '.join(TEMPLATES)})")
    if job.policy not in POLICIES:
        raise CfkitError(f"unknown face policy '{job.policy}' (known: {', '.join(POLICIES)})")
    if not 16 <= job.size <= 4096:
        raise CfkitError(f"--size must be between 16 and 4096, got {job.size}")
    if "scrfd" in job.detectors:
        detector_model_path()
    if job.photo or job.mask:
        asset_path("dlib-landmarks68")
    if job.landmarks:
        from cfkit.nets.landmarks import load_regressor

        load_regressor(job.landmarks)


def init(job: Job) -> None:
    """Build the models of this process once (also called inline when there are no workers)."""
    from cfkit.curate.landmarking import Landmarker
    from cfkit.curate.maskers import make_masker
    from cfkit.faces.aligner import FaceAligner

    _STATE["job"] = job
    _STATE["aligner"] = FaceAligner(
        size=job.size,
        template=job.template,
        policy=job.policy,
        detectors=job.detectors,
        refine=job.photo,
        measure=job.photo or job.mask,
        threads=job.threads,
    )
    _STATE["masker"] = make_masker(job.mask_method, job.checkpoint) if job.mask else None
    _STATE["landmarker"] = Landmarker(job.photo, job.landmarks)


def _nan(v) -> float:
    return float("nan") if v is None else float(v)


def _flat(a) -> list[float] | None:
    return None if a is None else [round(float(v), 3) for v in np.asarray(a).ravel()]


def base_row(raw, **kw) -> dict:
    return {
        "origin": str(raw.origin),
        "source": raw.source,
        "license": raw.licence,
        "path": str(raw.path),
        **kw,
    }


def process_chunk(raws: list) -> tuple[list[dict], dict[str, float]]:
    """Rows for a chunk of :class:`~cfkit.curate.sources.RawImage` (needs :func:`init` first), and the
    chunk's seconds per stage (:data:`cfkit.stageclock.STAGES`).

    Images are decoded and aligned in batches of at most ``BATCH_PIXELS`` pixels, so a worker holds
    at most ``BATCH_PIXELS + MAX_PIXELS`` decoded RGB pixels whatever the sizes of its inputs; while an
    image decodes, its batch (3 bytes a pixel) and the decoder's peak (``DECODE_BYTES_PER_PIXEL`` times
    ``MAX_PIXELS``): at most ~0.8 GB of images, models and alignment on top.
    """
    from cfkit.fsutil import sha256_file
    from cfkit.imageio import ImageDecodeError, load_rgb

    clock: StageClock = _STATE["clock"]
    clock.take()
    rows, batch, held = [], [], 0
    for raw in raws:
        try:
            with clock("decode"):
                rgb = load_rgb(raw.path)
                sha = sha256_file(raw.path)
        except ImageDecodeError as e:
            rows.append(base_row(raw, status="rejected", reason=e.reason, detail=e.detail))
            continue
        if batch and held + rgb.shape[0] * rgb.shape[1] > BATCH_PIXELS:
            rows += _align_batch(batch)
            batch, held = [], 0
        batch.append((raw, rgb, sha))
        held += rgb.shape[0] * rgb.shape[1]
    rows += _align_batch(batch) if batch else []
    return rows, clock.take()


def _align_batch(decoded: list) -> list[dict]:
    job: Job = _STATE["job"]
    clock: StageClock = _STATE["clock"]
    rows = []
    results = _STATE["aligner"].process([rgb for _, rgb, _ in decoded], clock)
    for (raw, rgb, sha), (faces, reason, n_faces) in zip(decoded, results, strict=True):
        if reason:
            rows.append(base_row(raw, status="rejected", reason=reason, detail="", sha256=sha, n_faces=n_faces))
            continue
        for k, face in enumerate(faces):
            rows.append(_face_row(job, raw, rgb, sha, k, face, n_faces))
    return rows


def face_id(base: str, k: int) -> str:
    """The id of face ``k`` of an input named ``base`` (a dataset's: the first 16 hex digits of its sha256)."""
    return base if k == 0 else f"{base}_{k}"


def _face_row(job: Job, raw, rgb: np.ndarray, sha: str, k: int, face, n_faces: int) -> dict:
    import imagehash
    from PIL import Image

    from cfkit.imageio import save_png

    clock: StageClock = _STATE["clock"]
    fid = face_id(raw.meta["name"] if job.name_by == "name" else sha[:16], k)
    with clock("quality"):
        yaw, pitch = pose_scores(face.det.kps) if face.det is not None else (None, None)
        scores = {
            "face_px": face_size(face.det.box) if face.det is not None else None,
            "blur": blur_score(face.image),
            "yaw": yaw,
            "pitch": pitch,
        }
        reason = quality_reason(scores, job.quality) if job.photo and job.filter_quality else None
    row = base_row(
        raw,
        id=fid,
        status="rejected" if reason else "kept",
        reason=reason or "",
        detail="",
        sha256=sha,
        face_index=k,
        n_faces=n_faces,
        detector=face.detector,
        detector_note=face.note,
        det_score=_nan(face.det.score if face.det is not None else None),
        det_box=_flat(face.det.box if face.det is not None else None),
        landmarks5=_flat(face.det.kps if face.det is not None else None),  # detector, source px
        align_points5=_flat(face.kps5),  # points the alignment used (68-point refined), source px
        landmarks68=_flat(face.lm68),  # dlib, measured on the output image, output px
        refined=face.refined,
        eye_error=_nan(face.eye_error),
        face_px=_nan(scores["face_px"]),
        blur=scores["blur"],
        yaw=_nan(yaw),
        pitch=_nan(pitch),
        src_width=int(rgb.shape[1]),
        src_height=int(rgb.shape[0]),
        policy=job.policy,
        template="centre" if face.detector == "centre" else job.template,
        size=job.size,
        matrix=_flat(face.matrix),  # 2x3: source px -> output px
    )
    if reason:
        return row
    out = Path(job.out)
    with clock("write"):
        save_png(out / job.images_dir / f"{fid}.png", face.image)
    with clock("quality"):
        row["phash"] = str(imagehash.phash(Image.fromarray(face.image)))
    with clock("landmarks"):
        row["lm5"], row["lm_source"], row["lm_score"] = _STATE["landmarker"](face.image, face.lm68)
    if _STATE["masker"] is not None:
        with clock("mask"):
            mask = _STATE["masker"]([face.image], [face.lm68])[0]
        with clock("write"):
            save_png(out / "masks" / f"{fid}.png", mask)
        row["mask"] = job.mask_method
    return row
