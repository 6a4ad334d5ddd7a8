"""``create_study``: pick sources (seeded, stratified), build items, write the study to the database and YAML."""

from __future__ import annotations

import copy
import itertools
import secrets
from pathlib import Path

import numpy as np
import yaml
from sqlalchemy import select

from cfkit.console import info, warn
from cfkit.errors import InputError
from cfkit.fsutil import atomic_write_text
from cfkit.imageio import load_rgb, save_png
from cfkit.options import api_options
from cfkit.study.config import StudyConfig
from cfkit.study.db import Database, open_db
from cfkit.study.schema import Image, Item, Study, StudyMethod
from cfkit.study.sources import StudyInputs, gather


def new_token() -> str:
    return secrets.token_urlsafe(12)


def select_sources(ids: list[str], n: int, seed: int, strata: dict[str, str] | None = None) -> list[str]:
    """``n`` ids sampled without replacement; with ``strata``, proportional per stratum (largest remainder)."""
    rng = np.random.default_rng(seed)
    ids = sorted(ids)
    if n >= len(ids):
        return ids
    if not strata:
        return sorted(rng.choice(ids, size=n, replace=False).tolist())
    groups: dict[str, list[str]] = {}
    for i in ids:
        groups.setdefault(strata.get(i, "unknown"), []).append(i)
    keys = sorted(groups)
    exact = np.array([len(groups[k]) * n / len(ids) for k in keys])
    take = np.floor(exact).astype(int)
    for j in np.argsort(-(exact - take), kind="stable")[: n - take.sum()]:
        take[j] += 1
    chosen = []
    for k, t in zip(keys, take, strict=True):
        chosen += rng.choice(groups[k], size=int(t), replace=False).tolist()
    return sorted(chosen)


def make_broken(rgb: np.ndarray, seed: int) -> np.ndarray:
    """An obviously broken image for attention checks: shuffled 4x4 tiles, inverted colours, heavy noise."""
    rng = np.random.default_rng(seed)
    h, w = (rgb.shape[0] // 4) * 4, (rgb.shape[1] // 4) * 4
    tiles = rgb[:h, :w].reshape(4, h // 4, 4, w // 4, 3).swapaxes(1, 2).reshape(16, h // 4, w // 4, 3)
    tiles = tiles[rng.permutation(16)]
    out = tiles.reshape(4, 4, h // 4, w // 4, 3).swapaxes(1, 2).reshape(h, w, 3)
    noisy = 255 - out.astype(np.int16) + rng.normal(0, 60, out.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _items(cfg: StudyConfig, ids: list[str], methods: list[str]) -> list[tuple[str, str, list[str]]]:
    """(key, source id, methods shown) per item."""
    if cfg.response_format == "pairwise":
        if len(methods) < 2:
            raise InputError("pairwise forced choice needs at least two methods")
        return [(f"{i}|{a}|{b}", i, [a, b]) for i in ids for a, b in itertools.combinations(methods, 2)]
    if cfg.response_format == "rank" and len(methods) < 2:
        raise InputError("ranking needs at least two methods")
    return [(i, i, list(methods)) for i in ids]


def refuse_taken(session, name: str, database: Database) -> None:
    """A one-line error where ``database`` already holds a study ``name``."""
    if session.scalar(select(Study.id).where(Study.name == name)) is not None:
        raise InputError(f"a study named '{name}' already exists in {database.shown_url}; choose another --name")


def create_study(
    config: StudyConfig | None = None,
    *,
    db: str | Path | Database | None = None,
    out: str | Path | None = None,
    from_eval: str | Path | None = None,
    methods: str | dict | None = None,
    source: str | Path | None = None,
    inputs: StudyInputs | None = None,
    **fields,
) -> Study:
    """Create a study and return its row.

    ``out`` is the study folder (YAML definition, attention-check images, default SQLite file
    ``study.db``); ``db`` a SQLite path or ``postgresql://`` URL. ``fields`` set
    :class:`StudyConfig` fields over ``config`` (``n_sources=12, response_format="rank"``...);
    an unknown or wrongly typed one is a one-line error.
    """
    cfg = copy.copy(api_options(StudyConfig, config, fields))  # n_sources is set to the number found below
    out = Path(out or Path("studies") / cfg.name).expanduser()
    database = db if isinstance(db, Database) else open_db(db or out / "study.db")
    with database.read() as s:
        refuse_taken(s, cfg.name, database)
    if (out / "study.yaml").exists():  # another study's definition, or a file of the user's
        raise InputError(f"{out / 'study.yaml'} exists; give study '{cfg.name}' its own --out folder")
    inputs = inputs or gather(from_eval, methods, source, cfg.stratify_by)
    complete = inputs.complete_ids()
    missing = len(inputs.sources) - len(complete)
    if missing:
        warn(f"{missing} source image(s) lack an output from some method; left out")
    ids = select_sources(complete, cfg.n_sources, cfg.seed, inputs.strata)
    if len(ids) < cfg.n_sources:
        warn(f"only {len(ids)} complete source image(s) available (asked for {cfg.n_sources})")
    cfg.n_sources = len(ids)
    with database.write() as s:
        refuse_taken(s, cfg.name, database)  # again: another process may have taken the name meanwhile
        study = Study(name=cfg.name, config=cfg.to_dict())
        s.add(study)
        s.flush()
        mrows = {m: StudyMethod(study_id=study.id, name=m, folder=str(inputs.outputs_dir(m))) for m in inputs.methods}
        s.add_all(mrows.values())
        s.flush()
        images: dict[tuple[str, str | None], Image] = {}
        for i in ids:
            images[(i, None)] = Image(
                study_id=study.id, token=new_token(), path=str(inputs.sources[i].resolve()), kind="source", source_key=i
            )
            for m in inputs.methods:
                images[(i, m)] = Image(
                    study_id=study.id,
                    token=new_token(),
                    path=str(inputs.outputs[m][i].resolve()),
                    kind="output",
                    source_key=i,
                    method_id=mrows[m].id,
                )
        s.add_all(images.values())
        s.flush()
        for key, i, shown in _items(cfg, ids, inputs.methods):
            s.add(
                Item(
                    study_id=study.id,
                    key=key,
                    source_image_id=images[(i, None)].id,
                    output_ids=[images[(i, m)].id for m in shown],
                    stratum=inputs.strata.get(i, ""),
                )
            )
        if cfg.attention_broken:
            rng = np.random.default_rng(cfg.seed + 1)
            for n, i in enumerate(rng.choice(ids, size=min(len(ids), max(4, cfg.attention_broken)), replace=False)):
                m = inputs.methods[n % len(inputs.methods)]
                token = new_token()
                path = out / "attention" / f"{token}.png"
                save_png(path, make_broken(load_rgb(inputs.outputs[m][i]), cfg.seed + n))
                s.add(Image(study_id=study.id, token=token, path=str(path.resolve()), kind="broken", source_key=i))
    export_yaml(database, cfg.name, out / "study.yaml")
    info(
        f"study '{cfg.name}': {len(ids)} sources x {len(inputs.methods)} methods, {cfg.response_format}, "
        f"criteria {', '.join(cfg.criteria)} -> {database.shown_url}"
    )
    return study


def study_definition(database: Database, name: str) -> dict:
    """The study as a plain dict: config, methods (with folders) and items (source ids and methods shown)."""
    with database.read() as s:
        study = s.scalar(select(Study).where(Study.name == name))
        if study is None:
            raise InputError(f"no study named '{name}' in {database.shown_url}")
        methods = {m.id: m for m in s.scalars(select(StudyMethod).where(StudyMethod.study_id == study.id))}
        imgs = {im.id: im for im in s.scalars(select(Image).where(Image.study_id == study.id))}
        items = s.scalars(select(Item).where(Item.study_id == study.id).order_by(Item.id)).all()
        return {
            "name": study.name,
            "created_at": study.created_at.isoformat(),
            "config": study.config,
            "methods": {m.name: m.folder for m in methods.values()},
            "items": [
                {
                    "key": it.key,
                    "source": imgs[it.source_image_id].path,
                    "methods": [methods[imgs[o].method_id].name for o in it.output_ids],
                    **({"stratum": it.stratum} if it.stratum else {}),
                }
                for it in items
            ],
        }


def definition_yaml(database: Database, name: str) -> str:
    """The study's definition as YAML text (what ``study.yaml`` holds)."""
    return yaml.safe_dump(study_definition(database, name), sort_keys=False, allow_unicode=True)


def export_yaml(database: Database, name: str, path: str | Path) -> Path:
    atomic_write_text(path, definition_yaml(database, name))
    return Path(path)
