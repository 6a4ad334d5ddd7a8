"""Study images as the volunteer's browser gets them, and the record of images that could not be shown.

Every stimulus of a trial is served at one size, resized the same way: each image is first brought to the
trial's working resolution (the smallest longest side among its images, at most ``STIMULUS_SIDE``), then
scaled to ``STIMULUS_SIDE`` and centred on a white ``STIMULUS_SIDE`` square. A method whose outputs are
384 px cannot be told from one at 128 px by the served size or by extra sharpness. The bytes are
re-encoded PNG: no file name or metadata reaches the browser.

An image that cannot be read raises :class:`BrokenStimulus` (a neutral message) and is recorded in
``stimulus_problems`` for the admin. Records are re-checked (a file moved away and back is usable again)
at most every ``RECHECK_S`` seconds, and the admin page can re-check or clear them.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Sequence
from functools import lru_cache

from sqlalchemy import delete, select

from cfkit.errors import CfkitError, InputError
from cfkit.study.db import Database
from cfkit.study.schema import Image, StimulusProblem, Study, StudyMethod

STIMULUS_SIDE = 384
RECHECK_S = 60
SKIPPED_MESSAGE = "One screen could not be shown, so we skipped it. Please go on with the next one."
log = logging.getLogger("cfkit.study")
_last_recheck: dict[tuple[str, str], float] = {}
_recheck_lock = threading.Lock()


class BrokenStimulus(CfkitError):
    """An image of a trial cannot be shown; the message names nothing and is safe for a volunteer."""

    def __init__(self) -> None:
        super().__init__(SKIPPED_MESSAGE)


def _long_side(path: str) -> int:
    from PIL import Image as PILImage

    with PILImage.open(path) as im:
        return max(im.size)


@lru_cache(maxsize=512)
def _render(path: str, work: int, side: int) -> bytes:
    """``path`` at working resolution ``work`` (longest side), then scaled to ``side`` on a white square."""
    from PIL import Image as PILImage

    from cfkit.imageio import load_rgb

    im = PILImage.fromarray(load_rgb(path))
    w, h = im.size
    scale = work / max(w, h)
    im = im.resize((max(1, round(w * scale)), max(1, round(h * scale))), PILImage.LANCZOS)
    w, h = im.size
    im = im.resize((max(1, round(w * side / work)), max(1, round(h * side / work))), PILImage.LANCZOS)
    canvas = PILImage.new("RGB", (side, side), (255, 255, 255))
    canvas.paste(im, ((side - im.size[0]) // 2, (side - im.size[1]) // 2))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


def trial_pngs(db: Database, tokens: Sequence[str], side: int = STIMULUS_SIDE) -> list[bytes]:
    """PNG bytes of every image of one trial (``tokens`` in display order), all ``side`` x ``side``."""
    with db.read() as s:
        paths = dict(s.execute(select(Image.token, Image.path).where(Image.token.in_(tokens))).all())
    if set(tokens) - set(paths):
        raise InputError("unknown image")
    sizes = [_readable(db, tok, paths[tok], _long_side) for tok in tokens]
    work = min(side, *sizes)
    return [_readable(db, tok, paths[tok], lambda p: _render(p, work, side)) for tok in tokens]


def _readable(db: Database, token: str, path: str, read):
    try:
        return read(path)
    except Exception as e:  # undecodable, missing, unreadable: whatever it is, the volunteer must not see it
        report_broken(db, token, f"{path}: {type(e).__name__}: {e}")
        raise BrokenStimulus() from None


def report_broken(db: Database, token: str, detail: str) -> None:
    """Record (once) and log that the image behind ``token`` cannot be shown; the admin page lists these."""
    log.error("study image cannot be shown, its trials are skipped: %s", detail)
    with db.write() as s:
        im = s.scalar(select(Image).where(Image.token == token))
        if im is not None and s.scalar(select(StimulusProblem.id).where(StimulusProblem.image_id == im.id)) is None:
            s.add(StimulusProblem(study_id=im.study_id, image_id=im.id, detail=detail))


def _study_id(s, study_name: str) -> int:
    sid = s.scalar(select(Study.id).where(Study.name == study_name))
    if sid is None:
        raise InputError(f"no study named '{study_name}'")
    return sid


def stimulus_problems(db: Database, study_name: str) -> list[dict]:
    """Images that could not be shown (admin only): method, path, detail, when."""
    with db.read() as s:
        rows = s.execute(
            select(StudyMethod.name, Image.path, StimulusProblem.detail, StimulusProblem.created_at)
            .join(Image, Image.id == StimulusProblem.image_id)
            .outerjoin(StudyMethod, StudyMethod.id == Image.method_id)
            .where(StimulusProblem.study_id == _study_id(s, study_name))
            .order_by(StimulusProblem.id)
        ).all()
    return [{"method": m or "(source)", "path": p, "detail": d, "first_seen": t} for m, p, d, t in rows]


def clear_problems(db: Database, study_name: str, only_readable: bool = True) -> int:
    """Forget recorded problems (``only_readable``: those whose image decodes now); returns how many."""
    from cfkit.imageio import load_rgb

    with db.read() as s:
        rows = s.execute(
            select(StimulusProblem.id, Image.path)
            .join(Image, Image.id == StimulusProblem.image_id)
            .where(StimulusProblem.study_id == _study_id(s, study_name))
        ).all()
    fixed = []
    for pid, path in rows:
        try:
            if only_readable:
                load_rgb(path)
            fixed.append(pid)
        except Exception:  # still broken: keep the record
            continue
    if fixed:
        with db.write() as s:
            s.execute(delete(StimulusProblem).where(StimulusProblem.id.in_(fixed)))
        log.info("study '%s': %d image problem(s) cleared", study_name, len(fixed))
    return len(fixed)


def recheck_problems(db: Database, study_name: str) -> int:
    """:func:`clear_problems` for readable images, at most once per ``RECHECK_S`` per study and process."""
    key, now = (db.url, study_name), time.monotonic()
    with _recheck_lock:
        if now - _last_recheck.get(key, -RECHECK_S) < RECHECK_S:
            return 0
        _last_recheck[key] = now
    return clear_problems(db, study_name)
