"""What the volunteer app calls: start/resume a participant, fetch the next trial, submit answers.

Nothing here returns a method name or an image path: trials carry opaque image tokens only (their pixels
come from :mod:`cfkit.study.stimuli`). Starting a session reserves nothing: a trial's item takes its
place in the quota when the trial is shown, and gives it back when the trial is still unanswered
``stale_after_s`` later, so abandoned or scripted sessions cannot lock a study. Trials whose images
cannot be shown, or whose item has no place left, are skipped. Every submit is one transaction; a
repeated submit of the same trial inserts nothing (unique constraint + ``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

import math
import numbers
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cfkit.errors import CfkitError, InputError
from cfkit.study.assignment import pick_items, plan_trials
from cfkit.study.config import LIKERT_LEVELS, StudyConfig
from cfkit.study.db import Database
from cfkit.study.schema import Image, Item, Participant, Response, StimulusProblem, Study, Trial, utcnow
from cfkit.study.stimuli import recheck_problems

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


class StudyFull(CfkitError):
    """Every item has its quota of ratings."""


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


def _rng() -> np.random.Generator:
    return np.random.default_rng(secrets.randbits(64))


def _open_items(s, study_id: int) -> dict[int, list[int]]:
    """Item id -> output image ids, for items none of whose images is recorded as broken."""
    bad = _broken_images(s, study_id)
    return {
        i.id: list(i.output_ids)
        for i in s.scalars(select(Item).where(Item.study_id == study_id))
        if not bad.intersection([i.source_image_id, *i.output_ids])
    }


def _held(s, study_id: int, cfg: StudyConfig) -> dict[int, int]:
    """Places taken per item: answered main trials, and shown ones younger than ``stale_after_s``."""
    cutoff = utcnow() - timedelta(seconds=cfg.stale_after_s)
    counted = (
        select(Trial.item_id, func.count())
        .join(Participant, Participant.id == Trial.participant_id)
        .where(Participant.study_id == study_id, Trial.kind == "main")
        .where(or_(Trial.answered_at.is_not(None), Trial.shown_at >= cutoff))
        .group_by(Trial.item_id)
    )
    return dict(s.execute(counted).all())


def start_participant(db: Database, study_name: str) -> str:
    """Create a participant with a randomised plan; returns the participant code.

    The plan's items are provisional (the least-held ones now): nothing is reserved until a trial is shown.
    """
    recheck_problems(db, study_name)
    with db.write() as s:
        study, cfg = load_study(s, study_name)
        items = _open_items(s, study.id)
        held = _held(s, study.id, cfg)
        load = {i: held.get(i, 0) for i in items}
        code = new_code()
        rng = _rng()
        chosen = pick_items(load, cfg.ratings_per_item, cfg.trials_per_participant or len(items), rng)
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
    """The first unanswered trial of this participant (``None`` when finished); showing it holds its place."""
    code = normalize_code(code)
    with db.write() as s:
        study, cfg = load_study(s, study_name)
        p = s.scalar(select(Participant).where(Participant.study_id == study.id, Participant.code == code))
        if p is None:
            raise InputError("unknown participant code")
        p.last_seen = utcnow()
        trials = s.scalars(select(Trial).where(Trial.participant_id == p.id).order_by(Trial.seq)).all()
        bad, rng = _broken_images(s, study.id), _rng()
        for t in trials:
            if t.answered_at is not None:
                continue
            if _prepare(s, study.id, cfg, t, trials, bad, rng):
                break
            _skip(s, t, p)  # no place left for it, or an image of it cannot be shown
        else:
            return None
        item = s.get(Item, t.item_id)
        tokens = dict(
            s.execute(select(Image.id, Image.token).where(Image.id.in_([*t.layout, item.source_image_id]))).all()
        )
        return TrialView(
            trial_id=t.id,
            index=t.seq,
            total=len(trials),
            source=tokens[item.source_image_id],
            outputs=tuple(tokens[i] for i in t.layout),
            criteria=tuple(cfg.criteria),
            response_format=cfg.response_format,
        )


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)  # SQLite hands back naive UTC


def _prepare(s, study_id: int, cfg: StudyConfig, t: Trial, trials, bad: set[int], rng) -> bool:
    """Make ``t`` ready to show and mark it shown: True, or False where it must be skipped.

    A main trial not shown within ``stale_after_s`` takes a place now: the least-held open item this
    volunteer has not had (its provisional item where that is among them); one shown before keeps its
    item while that is under quota. A duplicate repeats its trial's item, in a fresh order.
    """
    now = utcnow()
    held = t.shown_at is not None and _aware(t.shown_at) >= now - timedelta(seconds=cfg.stale_after_s)
    if t.kind == "duplicate" and t.shown_at is None:
        ref = trials[t.ref_seq]
        if ref.kind == "skipped":
            return False
        t.item_id, t.layout = ref.item_id, [ref.layout[j] for j in rng.permutation(len(ref.layout))]
    elif t.kind == "main" and not held and not _take_place(s, study_id, cfg, t, trials, rng):
        return False
    if bad.intersection([s.get(Item, t.item_id).source_image_id, *t.layout]):
        return False
    if t.shown_at is None or (t.kind == "main" and not held):
        t.shown_at = now
    return True


def _take_place(s, study_id: int, cfg: StudyConfig, t: Trial, trials, rng) -> bool:
    s.execute(select(Study.id).where(Study.id == study_id).with_for_update())  # one placement at a time
    items = _open_items(s, study_id)
    had = {x.item_id for x in trials if x is not t and x.kind == "main" and x.shown_at is not None}
    held = _held(s, study_id, cfg)
    free = {i: held.get(i, 0) for i in items if i not in had and held.get(i, 0) < cfg.ratings_per_item}
    if not free:
        return False
    least = min(free.values())
    if t.item_id in free and (t.shown_at is not None or free[t.item_id] == least):
        return True
    ties = [i for i, n in free.items() if n == least]
    t.item_id = ties[int(rng.integers(len(ties)))]
    t.layout = [items[t.item_id][j] for j in rng.permutation(len(items[t.item_id]))]
    return True


def _whole(v, lo: int, hi: int) -> int | None:
    """``v`` as an int when it is a whole number in ``lo..hi`` (not a bool, a string or NaN); else None."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v != int(v):
        return None
    return int(v) if lo <= v <= hi else None


def validate(view_format: str, outputs: tuple[str, ...], criteria: tuple[str, ...], answers: dict) -> dict:
    """Normalise answers to {criterion: {token: value}}; raise InputError on anything incomplete or invalid."""
    if not isinstance(answers, dict):
        raise InputError("answers must map each question to its answer")
    norm: dict[str, dict[str, float]] = {}
    for c in criteria:
        a = answers.get(c)
        if a is None:
            raise InputError(f"please answer '{c}'")
        if view_format == "pairwise":
            picked = [k for k, v in a.items() if v is True or _whole(v, 1, 1) == 1] if isinstance(a, dict) else [a]
            if len(picked) != 1 or not isinstance(picked[0], str) or picked[0] not in outputs:
                raise InputError(f"please choose one image for '{c}'")
            norm[c] = {o: float(o == picked[0]) for o in outputs}
            continue
        if not isinstance(a, dict) or set(a) != set(outputs):
            raise InputError(f"please answer '{c}' for every image")
        lo, hi = (LIKERT_LEVELS[0], LIKERT_LEVELS[-1]) if view_format == "likert" else (1, len(outputs))
        vals = {k: _whole(v, lo, hi) for k, v in a.items()}
        if None in vals.values():
            raise InputError(f"'{c}' answers must be whole numbers {lo}-{hi}")
        if view_format == "rank" and sorted(vals.values()) != list(range(1, len(outputs) + 1)):
            raise InputError(f"'{c}': give each image a different rank 1..{len(outputs)}")
        norm[c] = {k: float(v) for k, v in vals.items()}
    return norm


def _trial_id(trial_id) -> int:
    if isinstance(trial_id, bool) or not isinstance(trial_id, numbers.Integral):
        raise InputError("this trial does not belong to this participant")
    return int(trial_id)


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
            .where(Trial.id == _trial_id(trial_id), Participant.code == code, Study.name == study_name)
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
            .where(Trial.id == _trial_id(trial_id), Participant.code == normalize_code(code), Study.name == study_name)
        ).first()
        if row is not None and row[0].answered_at is None:
            _skip(s, *row)


def completion_code(db: Database, study_name: str, code: str) -> str | None:
    p = find_participant(db, study_name, code)
    return p.completion_code if p is not None and p.completed_at is not None else None
