"""What the volunteer app calls: start/resume a participant, fetch the next trial, submit answers.

Nothing here returns a method name or an image path: trials carry opaque image tokens only. An image
that cannot be shown raises :class:`BrokenStimulus` (a neutral message), is recorded for the admin
(``stimulus_problems`` and the server log) and its trials are skipped for everyone.
Every submit is one transaction; a repeated submit of the same trial inserts nothing (unique
constraint + ``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

import numpy as np
from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cfkit.errors import CfkitError, InputError
from cfkit.study.assignment import pick_items, plan_trials
from cfkit.study.config import LIKERT_LEVELS, StudyConfig
from cfkit.study.db import Database
from cfkit.study.schema import Image, Item, Participant, Response, StimulusProblem, Study, Trial, utcnow

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
SKIPPED_MESSAGE = "One screen could not be shown, so we skipped it. Please go on with the next one."
log = logging.getLogger("cfkit.study")


class StudyFull(CfkitError):
    """Every item has its quota of ratings."""


class BrokenStimulus(CfkitError):
    """An image of a trial cannot be shown; the message names nothing and is safe for a volunteer."""

    def __init__(self) -> None:
        super().__init__(SKIPPED_MESSAGE)


def new_code(groups: int = 2) -> str:
    return "-".join("".join(secrets.choice(CODE_ALPHABET) for _ in range(4)) for _ in range(groups))


def normalize_code(code: str) -> str:
    c = "".join(ch for ch in str(code).upper() if ch in CODE_ALPHABET)
    return "-".join(c[i : i + 4] for i in range(0, len(c), 4))


@dataclass(frozen=True)
class TrialView:
    trial_id: int
    index: int  # 0-based position shown to the volunteer
    total: int
    source: str  # image token
    outputs: tuple[str, ...]  # image tokens in display order
    criteria: tuple[str, ...]
    response_format: str


def load_study(s, name: str) -> tuple[Study, StudyConfig]:
    study = s.scalar(select(Study).where(Study.name == name))
    if study is None:
        raise InputError(f"no study named '{name}'")
    return study, StudyConfig.from_dict(study.config)


def start_participant(db: Database, study_name: str) -> str:
    """Create a participant with a balanced, randomised plan; returns the participant code."""
    with db.write() as s:
        study = s.scalar(select(Study).where(Study.name == study_name).with_for_update())  # serialises assignment
        if study is None:
            raise InputError(f"no study named '{study_name}'")
        cfg = StudyConfig.from_dict(study.config)
        bad = _broken_images(s, study.id)
        items = {
            i.id: list(i.output_ids)
            for i in s.scalars(select(Item).where(Item.study_id == study.id))
            if not bad.intersection([i.source_image_id, *i.output_ids])
        }
        cutoff = utcnow() - timedelta(seconds=cfg.stale_after_s)
        counted = (
            select(Trial.item_id, func.count())
            .join(Participant, Participant.id == Trial.participant_id)
            .where(Participant.study_id == study.id, Trial.kind == "main")
            .where(or_(Trial.answered_at.is_not(None), Participant.last_seen >= cutoff))
            .group_by(Trial.item_id)
        )
        load = dict.fromkeys(items, 0) | dict(s.execute(counted).all())
        code = new_code()
        rng = np.random.default_rng(int.from_bytes(secrets.token_bytes(8), "little"))
        k = cfg.trials_per_participant or len(items)
        chosen = pick_items(load, cfg.ratings_per_item, k, rng)
        if not chosen:
            raise StudyFull("this study has all the ratings it needs; thank you for your interest")
        broken: dict[int, list[int]] = {}
        if cfg.attention_broken:
            by_src: dict[str, list[int]] = {}
            for im in s.scalars(select(Image).where(Image.study_id == study.id, Image.kind == "broken")):
                by_src.setdefault(im.source_key, []).append(im.id)
            src_key = dict(s.execute(select(Image.id, Image.source_key).where(Image.study_id == study.id)).all())
            for iid, outs in items.items():
                if by_src.get(src_key[outs[0]]):
                    broken[iid] = by_src[src_key[outs[0]]]
        plan = plan_trials(items, chosen, rng, cfg.attention_duplicates, broken, cfg.attention_broken)
        p = Participant(study_id=study.id, code=code, completion_code=new_code(3))
        s.add(p)
        s.flush()
        s.add_all(
            Trial(participant_id=p.id, seq=n, item_id=t.item_id, kind=t.kind, ref_seq=t.ref_seq, layout=t.layout)
            for n, t in enumerate(plan)
        )
    return code


def find_participant(db: Database, study_name: str, code: str) -> Participant | None:
    with db.read() as s:
        return s.scalar(
            select(Participant)
            .join(Study, Study.id == Participant.study_id)
            .where(Study.name == study_name, Participant.code == normalize_code(code))
        )


def current_trial(db: Database, study_name: str, code: str) -> TrialView | None:
    """The first unanswered trial of this participant (``None`` when finished); marks it shown."""
    code = normalize_code(code)
    with db.write() as s:
        study, cfg = load_study(s, study_name)
        p = s.scalar(select(Participant).where(Participant.study_id == study.id, Participant.code == code))
        if p is None:
            raise InputError("unknown participant code")
        p.last_seen = utcnow()
        total = s.scalar(select(func.count()).select_from(Trial).where(Trial.participant_id == p.id))
        bad = _broken_images(s, study.id)
        pending = select(Trial).where(Trial.participant_id == p.id, Trial.answered_at.is_(None)).order_by(Trial.seq)
        for t in s.scalars(pending).all():
            item = s.get(Item, t.item_id)
            if not bad.intersection([item.source_image_id, *t.layout]):
                break
            _skip(s, t, p)  # another volunteer already met its broken image
        else:
            return None
        if t.shown_at is None:
            t.shown_at = utcnow()
        tokens = dict(
            s.execute(select(Image.id, Image.token).where(Image.id.in_([*t.layout, item.source_image_id]))).all()
        )
        return TrialView(
            trial_id=t.id,
            index=t.seq,
            total=total,
            source=tokens[item.source_image_id],
            outputs=tuple(tokens[i] for i in t.layout),
            criteria=tuple(cfg.criteria),
            response_format=cfg.response_format,
        )


def validate(view_format: str, outputs: tuple[str, ...], criteria: tuple[str, ...], answers: dict) -> dict:
    """Normalise answers to {criterion: {token: value}}; raise InputError on anything incomplete or invalid."""
    norm: dict[str, dict[str, float]] = {}
    for c in criteria:
        a = answers.get(c)
        if a is None:
            raise InputError(f"please answer '{c}'")
        if view_format == "pairwise":
            chosen = a if isinstance(a, str) else next((k for k, v in a.items() if v), None)
            if chosen not in outputs:
                raise InputError(f"please choose one image for '{c}'")
            norm[c] = {o: float(o == chosen) for o in outputs}
            continue
        if not isinstance(a, dict) or set(a) != set(outputs):
            raise InputError(f"please answer '{c}' for every image")
        vals = {k: int(v) for k, v in a.items()}
        if view_format == "likert" and not all(v in LIKERT_LEVELS for v in vals.values()):
            raise InputError(f"'{c}' scores must be 1-5")
        if view_format == "rank" and sorted(vals.values()) != list(range(1, len(outputs) + 1)):
            raise InputError(f"'{c}': give each image a different rank 1..{len(outputs)}")
        norm[c] = {k: float(v) for k, v in vals.items()}
    return norm


def _insert_ignore(s, rows: list[dict]) -> int:
    ins = (pg_insert if s.bind.dialect.name == "postgresql" else sqlite_insert)(Response)
    res = s.connection().execute(ins.on_conflict_do_nothing(index_elements=["trial_id", "criterion", "image_id"]), rows)
    return res.rowcount or 0


def submit(db: Database, study_name: str, code: str, trial_id: int, answers: dict) -> bool:
    """Store one trial's answers atomically. Returns False if this trial was already answered (nothing written)."""
    code = normalize_code(code)
    with db.write() as s:
        row = s.execute(
            select(Trial, Participant, Study.config)
            .join(Participant, Participant.id == Trial.participant_id)
            .join(Study, Study.id == Participant.study_id)
            .where(Trial.id == int(trial_id), Participant.code == code, Study.name == study_name)
        ).first()
        if row is None:
            raise InputError("this trial does not belong to this participant")
        trial, p, config = row
        if trial.answered_at is not None:
            return False
        cfg = StudyConfig.from_dict(config)
        tokens = dict(s.execute(select(Image.token, Image.id).where(Image.id.in_(trial.layout))).all())
        ordered = tuple(t for i in trial.layout for t, j in tokens.items() if j == i)
        norm = validate(cfg.response_format, ordered, tuple(cfg.criteria), answers)
        now = utcnow()
        rows = [
            {"trial_id": trial.id, "criterion": c, "image_id": tokens[tok], "value": v, "created_at": now}
            for c, vals in norm.items()
            for tok, v in vals.items()
        ]
        claimed = s.execute(
            update(Trial).where(Trial.id == trial.id, Trial.answered_at.is_(None)).values(answered_at=now)
        ).rowcount
        if not claimed:  # a concurrent submit of the same trial won
            return False
        _insert_ignore(s, rows)
        p.last_seen = now
        _complete_if_done(s, p, now)
    return True


def _complete_if_done(s, p: Participant, now) -> None:
    left = s.scalar(
        select(func.count()).select_from(Trial).where(Trial.participant_id == p.id, Trial.answered_at.is_(None))
    )
    if left == 0 and p.completed_at is None:
        p.completed_at = now


def _broken_images(s, study_id: int) -> set[int]:
    return set(s.scalars(select(StimulusProblem.image_id).where(StimulusProblem.study_id == study_id)))


def _skip(s, trial: Trial, p: Participant) -> None:
    """Close ``trial`` without answers (kind ``skipped``: not counted as a rating)."""
    now = utcnow()
    trial.kind, trial.answered_at = "skipped", now
    s.flush()
    _complete_if_done(s, p, now)


def skip_trial(db: Database, study_name: str, code: str, trial_id: int) -> None:
    """Skip this participant's ``trial_id`` (an image of it could not be shown); no-op once answered."""
    with db.write() as s:
        row = s.execute(
            select(Trial, Participant)
            .join(Participant, Participant.id == Trial.participant_id)
            .join(Study, Study.id == Participant.study_id)
            .where(Trial.id == int(trial_id), Participant.code == normalize_code(code), Study.name == study_name)
        ).first()
        if row is not None and row[0].answered_at is None:
            _skip(s, *row)


def completion_code(db: Database, study_name: str, code: str) -> str | None:
    p = find_participant(db, study_name, code)
    return p.completion_code if p is not None and p.completed_at is not None else None


def image_path(db: Database, token: str) -> str:
    with db.read() as s:
        path = s.scalar(select(Image.path).where(Image.token == token))
    if path is None:
        raise InputError("unknown image")
    return path


@lru_cache(maxsize=512)
def _png(path: str, max_side: int) -> bytes:
    import io

    from PIL import Image as PILImage

    from cfkit.imageio import load_rgb

    im = PILImage.fromarray(load_rgb(path))
    if max(im.size) > max_side:
        im.thumbnail((max_side, max_side), PILImage.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="PNG")  # re-encoded: no file name, no metadata reaches the browser
    return buf.getvalue()


def image_png(db: Database, token: str, max_side: int = 384) -> bytes:
    """The image behind an opaque token as clean PNG bytes; :class:`BrokenStimulus` where it cannot be read."""
    path = image_path(db, token)
    try:
        return _png(path, max_side)
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


def stimulus_problems(db: Database, study_name: str) -> list[dict]:
    """Images that could not be shown (admin only): method, path, detail, when."""
    from cfkit.study.schema import StudyMethod

    with db.read() as s:
        study, _ = load_study(s, study_name)
        rows = s.execute(
            select(StudyMethod.name, Image.path, StimulusProblem.detail, StimulusProblem.created_at)
            .join(Image, Image.id == StimulusProblem.image_id)
            .outerjoin(StudyMethod, StudyMethod.id == Image.method_id)
            .where(StimulusProblem.study_id == study.id)
            .order_by(StimulusProblem.id)
        ).all()
    return [{"method": m or "(source)", "path": p, "detail": d, "first_seen": t} for m, p, d, t in rows]
