"""``run_bench``: train every named method under one budget, translate the test split, evaluate, create the study.

    BENCH/runs/<method>/      cfkit train's run folders (resumed with --resume); under a wall-time budget
                              (``seconds``) each method's iterations come from a timed probe of its phases
    BENCH/results/<method>/   cfkit translate's outputs of the test split of data_a
    BENCH/source/images/      links to the test split of data_a (the evaluation's sources)
    BENCH/reference/images/   links to the test split of data_b, where it has one (FID/KID reference)
    BENCH/eval/               cfkit eval's folder (metrics.json with the paired comparisons, per_image.csv,
                              report.md/html/tex, figure.png/pdf)
    BENCH/study/NAME/         the study created from the evaluation (study.yaml); BENCH/study/study.db
    BENCH/bench.json          options, finished steps and their wall seconds, the leaderboard

Every step goes through the project's own API (``cfkit.train.train``, ``translate``,
``cfkit.evaluate.run_eval``, ``cfkit.study.create_study``); :mod:`cfkit.bench.ledger` records them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from functools import partial
from pathlib import Path
from typing import Any

from cfkit.bench.config import BenchOptions
from cfkit.bench.ledger import Ledger
from cfkit.errors import CfkitError, InputError
from cfkit.options import api_options, merge

BENCH_SETS = ("name", "data_a", "data_b", "out", "resume", "override", "stop_at", "iters", "epochs")
"""Training options the bench sets itself (the budget is the same for every method)."""


def check_options(opts: BenchOptions) -> None:
    """One-line errors for a bench that cannot run as given."""
    from cfkit.train.method import METHODS

    if not opts.data_a or not opts.data_b:
        raise InputError("give both domains: --data-a DIR (photos) and --data-b DIR (cartoons), or a --protocol")
    if not opts.methods:
        raise InputError("no methods given (--methods a,b or a --protocol naming them)")
    if sum(b is not None for b in (opts.iters, opts.epochs, opts.seconds)) != 1:
        raise InputError("give one budget for every method: --iters N, --epochs E or --seconds S")
    if opts.seconds is not None and opts.seconds <= 0:
        raise InputError(f"--seconds must be positive (got {opts.seconds})")
    if len(set(opts.methods)) != len(opts.methods):
        raise InputError(f"a method is named twice in {', '.join(opts.methods)}")
    for name in opts.methods:
        cls = METHODS.get(name)
        if cls.one_domain:
            raise InputError(f"{name} trains on one domain; a bench ranks translation methods")
        if cls.direction != opts.direction and not cls.reversible:
            raise InputError(
                f"{name} translates {cls.direction}; this bench ranks {opts.direction} methods "
                f"on --data-a's test images (direction: {cls.direction} for a bench of those)"
            )
    for where, keys in [("train", opts.train), *((f"methods_set.{m}", v) for m, v in opts.methods_set.items())]:
        if taken := sorted(set(keys) & set(BENCH_SETS)):
            raise InputError(
                f"{where}: {', '.join(taken)} are set by the bench (use --iters/--epochs/--seconds, --out)"
            )
    if unknown := sorted(set(opts.methods_set) - set(opts.methods)):
        raise InputError(f"methods_set names methods not in the bench: {', '.join(unknown)}")


def link_split(dataset: str | Path, split: str, dst: Path) -> Path:
    """``dst/images/<id>.png`` links to the images of one manifest split of a prepared dataset."""
    from cfkit.train.data import list_domain

    ids, paths, _ = list_domain(dataset, split)
    for i, p in zip(ids, paths, strict=True):
        link = dst / "images" / f"{i}{p.suffix}"
        if link.is_symlink() and link.resolve() == p.resolve():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(p.resolve(), link)
    return dst


def has_split(dataset: str | Path, split: str) -> bool:
    """Whether ``dataset`` is a prepared dataset with rows of ``split``."""
    manifest = Path(dataset) / "manifest.parquet"
    if not manifest.is_file():
        return False
    import pandas as pd

    df = pd.read_parquet(manifest)
    return "split" in df.columns and bool((df["split"] == split).any())


def method_sets(opts: BenchOptions, name: str) -> dict[str, Any]:
    """The training options of one method beyond the shared ones: ``train`` < ``methods_set.NAME``."""
    return merge(opts.train, opts.methods_set.get(name, {}))


def common_options(opts: BenchOptions) -> dict[str, Any]:
    """The training options every method of the bench shares."""
    return {"size": opts.size, "width": opts.width, "seed": opts.seed, "device": opts.device}


def budget_step(opts: BenchOptions, name: str, run_dir: Path) -> dict[str, Any]:
    """The iterations ``name`` gets within ``opts.seconds`` (:func:`cfkit.bench.budget.probe`)."""
    from cfkit.bench.budget import probe

    sets = method_sets(opts, name)
    found = probe(name, opts.seconds, opts.data_a, opts.data_b, sets, out=str(run_dir), **common_options(opts))
    return {**found, "set": sets}


def train_step(opts: BenchOptions, name: str, run_dir: Path, iters: int | None) -> dict[str, Any]:
    """Train ``name`` in ``run_dir`` (from its last checkpoint where one exists) for ``iters`` iterations, or
    for the bench's ``epochs``."""
    from cfkit.runs.checkpoint import latest
    from cfkit.train import train

    resumed = latest(run_dir) is not None
    sets = method_sets(opts, name)
    budget = {"iters": iters, "epochs": opts.epochs}
    train(
        name,
        opts.data_a,
        opts.data_b,
        set=sets,
        out=str(run_dir),
        resume=resumed or None,
        **budget,
        **common_options(opts),
    )
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    if run["status"] != "finished":
        raise CfkitError(f"{name}: training stopped at step {run['step']} of {run['total']}; rerun to continue")
    return {"resumed": resumed, "iters": run["total"], "schedule": run["schedule"], "set": sets}


def translate_step(opts: BenchOptions, run_dir: Path, out: Path) -> dict[str, Any]:
    from cfkit.train import translate

    written = translate(run_dir, opts.data_a, out, split=opts.test_split, device=opts.device)
    return {"images": len(written)}


def eval_config(opts: BenchOptions, root: Path):
    """The evaluation of the bench: its protocol's ``eval`` options over the sources and methods it made,
    with the comparison figure."""
    reference = opts.eval.reference
    if not reference:
        in_b = has_split(opts.data_b, opts.test_split)
        reference = str(link_split(opts.data_b, opts.test_split, root / "reference") if in_b else opts.data_b)
    return dataclasses.replace(
        opts.eval,
        source=str(root / "source"),
        reference=reference,
        methods=[f"{m}={root / 'results' / m}" for m in opts.methods],
        out=str(root / "eval"),
        device=opts.device if opts.eval.device == "auto" else opts.eval.device,
        figure=True,
    )


def eval_step(cfg, opts: BenchOptions) -> dict[str, Any]:
    """Evaluate; an earlier or interrupted evaluation in the bench's own folder is replaced (``force``)."""
    from cfkit.evaluate.api import run_eval

    doc = run_eval(cfg, force=True)
    return {"methods": opts.methods, "options": opts.eval.to_dict(), "n": doc["source"]["n"]}


def study_step(opts: BenchOptions, root: Path) -> dict[str, Any]:
    """Create the study from the evaluation; one of the same methods already in the bench's database (a run
    killed between its commit and the record) is kept and its ``study.yaml`` written again."""
    from cfkit.study.db import open_db
    from cfkit.study.design import create_study, export_yaml, study_definition

    out = root / "study" / opts.study.name
    db = root / "study" / "study.db"
    if db.is_file():
        try:
            made_for = list(study_definition(open_db(db, create=False), opts.study.name)["methods"])
        except InputError:
            made_for = None
        if made_for is not None and sorted(made_for) != sorted(opts.methods):
            raise InputError(
                f"the study '{opts.study.name}' in {db} shows {', '.join(made_for)}; "
                "name the study of these methods (--set study.name=NAME)"
            )
        if made_for is not None:
            export_yaml(open_db(db, create=False), opts.study.name, out / "study.yaml")
            return {"db": str(db), "options": opts.study.to_dict(), "kept": True}
    create_study(opts.study, db=db, out=out, from_eval=root / "eval")
    return {"db": str(db), "options": opts.study.to_dict()}


def leaderboard(doc: dict) -> dict[str, Any]:
    """Per method, per metric: value, 95 % CI and n (from metrics.json), for bench.json."""
    keep = ("value", "ci", "n")
    rows = {m: {k: {f: r.get(f) for f in keep} for k, r in res.items()} for m, res in doc["metrics"].items()}
    if doc.get("copy_input"):
        rows["copy_input"] = {k: {f: r.get(f) for f in keep} for k, r in doc["copy_input"].items()}
    return rows


def run_bench(options: BenchOptions | None = None, **fields: Any) -> dict[str, Any]:
    """Run (or continue) a leaderboard; returns ``bench.json``'s content.

    ``run_bench(data_a="data/photos", data_b="data/anime", methods=["cyclegan", "nst"], iters=2000,
    out="bench/x")`` -- fields of :class:`~cfkit.bench.config.BenchOptions` (over ``options``).
    """
    from cfkit.evaluate.results import read_metrics

    opts = api_options(BenchOptions, options, fields)
    check_options(opts)
    root = Path(opts.out)
    ledger = Ledger(root, opts.to_dict(), nested=("train",), free=("methods", "methods_set", "eval", "study"))
    link_split(opts.data_a, opts.test_split, root / "source")
    for name in opts.methods:
        done, sets = ledger.steps.get(f"{name}/train"), method_sets(opts, name)
        if done and done.get("set", sets) != sets:
            raise InputError(f"{name} was trained in {root} with other options ({done['set']}); choose another --out")
        if not done and ledger.steps.get(f"{name}/budget", {}).get("set", sets) != sets:
            ledger.forget(f"{name}/budget")  # timed with other options: time it again
    n = len(opts.methods)
    for k, name in enumerate(opts.methods, 1):
        run_dir, results = root / "runs" / name, root / "results" / name
        iters = opts.iters
        if opts.seconds is not None:
            timed = partial(budget_step, opts, name, run_dir)
            iters = ledger.run(f"{name}/budget", f"[{k}/{n}] {name}: time its phases", timed)["iters"]
        ledger.run(f"{name}/train", f"[{k}/{n}] {name}: train", partial(train_step, opts, name, run_dir, iters))
        ledger.run(f"{name}/translate", f"[{k}/{n}] {name}: translate", partial(translate_step, opts, run_dir, results))
    evaluated = ledger.steps.get("eval", {})
    if evaluated.get("methods") != opts.methods or evaluated.get("options") != opts.eval.to_dict():
        ledger.forget("eval", "study")  # methods added or dropped, or other evaluation options: evaluate again
    if ledger.steps.get("study", {}).get("options") != opts.study.to_dict():
        ledger.forget("study")
    cfg = eval_config(opts, root)
    ledger.run("eval", "evaluate", partial(eval_step, cfg, opts))
    ledger.run("study", "study", partial(study_step, opts, root))
    metrics = read_metrics(root / "eval")
    ledger.finish(leaderboard(metrics))
    return ledger.doc
