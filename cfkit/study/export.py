"""Server-side views of a study's data (with method names): ratings table, progress, attention checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select

from cfkit.errors import InputError
from cfkit.study.config import StudyConfig
from cfkit.study.db import Database
from cfkit.study.schema import Image, Item, Participant, Response, Study, StudyMethod, Trial

BROKEN = "<broken>"


def ratings_frame(db: Database, study_name: str) -> pd.DataFrame:
    """One row per stored value: participant, trial (seq, kind), item, source, criterion, method, value, position."""
    with db.read() as s:
        study = s.scalar(select(Study).where(Study.name == study_name))
        if study is None:
            raise InputError(f"no study named '{study_name}' in {db.shown_url}")
        q = (
            select(
                Participant.code.label("participant"),
                Trial.seq.label("trial"),
                Trial.kind.label("trial_kind"),
                Trial.ref_seq.label("ref_trial"),
                Trial.layout,
                Item.key.label("item"),
                Image.source_key.label("source"),
                Response.criterion,
                Response.image_id,
                Image.kind.label("image_kind"),
                StudyMethod.name.label("method"),
                Response.value,
                Trial.shown_at,
                Trial.answered_at,
            )
            .join(Trial, Trial.id == Response.trial_id)
            .join(Participant, Participant.id == Trial.participant_id)
            .join(Item, Item.id == Trial.item_id)
            .join(Image, Image.id == Response.image_id)
            .outerjoin(StudyMethod, StudyMethod.id == Image.method_id)
            .where(Participant.study_id == study.id)
            .order_by(Participant.code, Trial.seq, Response.criterion, Response.image_id)
        )
        df = pd.DataFrame(s.execute(q).all(), columns=list(q.selected_columns.keys()))
    if df.empty:
        return df.drop(columns=["layout", "image_id", "image_kind"])
    df["method"] = np.where(df["image_kind"] == "broken", BROKEN, df["method"])
    df["position"] = [lay.index(i) for lay, i in zip(df["layout"], df["image_id"], strict=True)]
    for c in ("shown_at", "answered_at"):
        df[c] = pd.to_datetime(df[c], utc=True)
    return df.drop(columns=["layout", "image_id", "image_kind"])


def main_ratings(df: pd.DataFrame) -> pd.DataFrame:
    """Ratings of ordinary trials (attention checks removed)."""
    return df[df["trial_kind"] == "main"] if len(df) else df


def attention_results(df: pd.DataFrame, response_format: str) -> pd.DataFrame:
    """Per attention-check trial: participant, trial, kind, passed.

    broken: the broken image must come out worst (lowest score / last rank / not chosen) on at least
    half the criteria. duplicate: Likert mean absolute difference <= 1, or the same best image on at
    least half the criteria (rank, pairwise).
    """
    rows = []
    if df.empty:
        return pd.DataFrame(columns=["participant", "trial", "kind", "passed"])
    worst_is_max = response_format == "rank"
    for (p, t), g in df[df["trial_kind"] == "broken"].groupby(["participant", "trial"]):
        ok = []
        for _, gc in g.groupby("criterion"):
            b = gc.loc[gc["method"] == BROKEN, "value"].iloc[0]
            others = gc.loc[gc["method"] != BROKEN, "value"]
            ok.append(b > others.max() if worst_is_max else b < others.min() if response_format == "likert" else b == 0)
        rows.append((p, t, "broken", sum(ok) * 2 >= len(ok)))
    for (p, t), g in df[df["trial_kind"] == "duplicate"].groupby(["participant", "trial"]):
        ref = df[(df["participant"] == p) & (df["trial"] == g["ref_trial"].iloc[0])]
        if ref.empty:
            continue
        m = g.merge(ref, on=["criterion", "method"], suffixes=("", "_ref"))
        if response_format == "likert":
            ok = float((m["value"] - m["value_ref"]).abs().mean()) <= 1.0
        else:
            best = (lambda x: x.idxmin()) if response_format == "rank" else (lambda x: x.idxmax())
            same = [
                gc.loc[best(gc["value"]), "method"] == gc.loc[best(gc["value_ref"]), "method"]
                for _, gc in m.groupby("criterion")
            ]
            ok = sum(same) * 2 >= len(same)
        rows.append((p, t, "duplicate", bool(ok)))
    return pd.DataFrame(rows, columns=["participant", "trial", "kind", "passed"])


def progress(db: Database, study_name: str) -> dict[str, pd.DataFrame]:
    """Live progress: per item (ratings vs quota), per volunteer (answered, total, minutes, attention failures)."""
    with db.read() as s:
        study = s.scalar(select(Study).where(Study.name == study_name))
        if study is None:
            raise InputError(f"no study named '{study_name}' in {db.shown_url}")
        cfg = StudyConfig.from_dict(study.config)
        trials = pd.DataFrame(
            s.execute(
                select(
                    Participant.code,
                    Participant.created_at,
                    Participant.completed_at,
                    Trial.item_id,
                    Trial.kind,
                    Trial.answered_at,
                )
                .join(Trial, Trial.participant_id == Participant.id)
                .where(Participant.study_id == study.id)
            ).all(),
            columns=["participant", "created_at", "completed_at", "item_id", "kind", "answered_at"],
        )
        items = pd.DataFrame(
            s.execute(select(Item.id, Item.key).where(Item.study_id == study.id)).all(), columns=["item_id", "item"]
        )
    main = trials[(trials["kind"] == "main") & trials["answered_at"].notna()]
    per_item = items.merge(main.groupby("item_id").size().rename("ratings").reset_index(), how="left", on="item_id")
    per_item["ratings"] = per_item["ratings"].fillna(0).astype(int)
    per_item["quota"] = cfg.ratings_per_item
    att = attention_results(ratings_frame(db, study_name), cfg.response_format)
    fails = att[~att["passed"]].groupby("participant").size() if len(att) else pd.Series(dtype=int)
    per_p = (
        trials.groupby("participant")
        .agg(
            answered=("answered_at", "count"),
            trials=("kind", "size"),
            started=("created_at", "first"),
            completed=("completed_at", "first"),
            last_answer=("answered_at", "max"),
        )
        .reset_index()
    )
    for c in ("started", "completed", "last_answer"):
        per_p[c] = pd.to_datetime(per_p[c], utc=True)
    per_p["minutes"] = (
        (per_p["completed"].fillna(per_p["last_answer"]) - per_p["started"]).dt.total_seconds() / 60
    ).round(2)
    per_p["attention_failures"] = per_p["participant"].map(fails).fillna(0).astype(int)
    return {
        "items": per_item.drop(columns=["item_id"]),
        "participants": per_p.drop(columns=["last_answer"]),
        "attention": att,
    }


def table_bytes(df: pd.DataFrame, path: str | Path) -> bytes:
    """``df`` as CSV or parquet, by the suffix of ``path``."""
    import io

    path = Path(path)
    if path.suffix not in (".csv", ".parquet"):
        raise InputError(f"export to .csv or .parquet, not '{path.suffix or path.name}'")
    if path.suffix == ".csv":
        return df.to_csv(index=False).encode()
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """CSV or parquet by suffix, written atomically."""
    from cfkit.fsutil import atomic_write_bytes

    atomic_write_bytes(path, table_bytes(df, path))
    return Path(path)


def _database_files(db: Database) -> set[Path]:
    """The files of a SQLite study database (with its journal, WAL and shared-memory files); none for PostgreSQL."""
    if db.file is None:
        return set()
    main = db.file.resolve()
    return {main, *(main.with_name(main.name + s) for s in ("-journal", "-wal", "-shm"))}


def export_study(db: Database, study: str, out: str | Path, definition: str | Path | None = None, force=False) -> int:
    """Write the ratings table to ``out`` (.csv/.parquet) and the definition to ``definition`` (.yaml/.yml).

    Neither may be a file of the database (not even with ``force``) or the same file; an existing file is
    replaced only with ``force``, and both are checked before either is written. Returns the number of ratings.
    """
    from cfkit.fsutil import atomic_write_bytes, check_new
    from cfkit.study.design import definition_yaml

    if definition and Path(definition).suffix not in (".yaml", ".yml"):
        raise InputError(f"--yaml must name a .yaml or .yml file, not '{Path(definition).name}'")
    targets = {"--out": Path(out), **({"--yaml": Path(definition)} if definition else {})}
    if len({p.resolve() for p in targets.values()}) < len(targets):
        raise InputError("--out and --yaml name the same file")
    for what, path in targets.items():
        if path.resolve() in _database_files(db):
            raise InputError(f"{what} {path} is the study database itself; choose another file")
    df = ratings_frame(db, study)
    data = {"--out": table_bytes(df, out), **({"--yaml": definition_yaml(db, study).encode()} if definition else {})}
    for what, path in targets.items():
        check_new(path, data[what], force=force, what=what)
    for what, path in targets.items():
        atomic_write_bytes(path, data[what])
    return len(df)
