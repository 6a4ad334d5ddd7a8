"""``run_eval``: side-by-side evaluation of translation methods on folders of images."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cfkit.console import warn
from cfkit.errors import CfkitError, InputError
from cfkit.evaluate.config import EvalConfig
from cfkit.evaluate.extract import Extracted, Item, extract
from cfkit.evaluate.features import FEATURES, REFERENCE, SOURCE, TARGET, inception
from cfkit.evaluate.inputs import (
    dataset_images,
    describe_unmatched,
    index_folder,
    match_methods,
    match_targets,
    run_info,
)
from cfkit.options import api_options


def _versions() -> dict:
    import importlib.metadata as md

    out = {}
    for pkg in ("cfkit", "torch", "torchvision", "pytorch-fid", "lpips", "numpy", "scipy", "dlib-bin", "insightface"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            continue
    return out


def _reference(cfg: EvalConfig, needs: set[str], res: Extracted) -> tuple[list[Item], dict]:
    """The reference images to decode for the features that read them (none where Inception's statistics are
    all that is needed and are cached), and the reference's provenance."""
    uses = {n for n in needs if REFERENCE in FEATURES.get(n).kinds}
    if not uses:
        return [], {}
    if not cfg.reference:
        res.unavailable["reference"] = "no reference given (--reference DIR or .npz)"
        return [], {}
    ref = Path(cfg.reference)
    if ref.suffix == ".npz":
        for n in sorted(uses - {"inception"}):
            res.unavailable[n] = f"{ref} holds Inception statistics only; give --reference DIR for {n}"
        return [], inception.npz_reference(ref, res) if "inception" in uses else {"path": str(ref), "kind": "npz"}
    files = index_folder(dataset_images(ref))
    prov = {"path": str(ref), "kind": "folder", "n": len(files)}
    decode = "inception" in uses and inception.needs_reference_images(cfg, files, res, prov)
    if decode or uses - {"inception"}:
        return [Item(f"{REFERENCE}:{k}", {REFERENCE: p}) for k, p in files.items()], prov
    return [], prov


def _targets(cfg: EvalConfig, ids: list[str], needs: set[str], res: Extracted) -> tuple[dict[str, Path], dict, set]:
    """Target files by id, what was matched (for metrics.json), and ``needs`` less the target features when
    no ``--targets`` were given (those are recorded unavailable, not an error)."""
    uses = {n for n in needs if TARGET in FEATURES.get(n).kinds}
    if not cfg.targets:
        for n in uses:
            res.unavailable[n] = "no targets given (--targets DIR: the known correct translation of each source id)"
        return {}, {}, needs - uses
    files, missing = match_targets(ids, cfg.targets)
    if missing:
        more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
        warn(f"targets: {len(missing)} source id(s) without a target: {', '.join(missing[:5])}{more}")
    return files, {"folder": str(cfg.targets), "n": len(files), "missing": missing}, needs


def _score(metric, ctx) -> dict:
    """The metric's result, or unavailable with the reason it raised."""
    try:
        return metric.run(ctx)
    except CfkitError as e:
        return {"value": None, "ci": None, "n": 0, "unavailable": str(e)}


def fid_folders(folder: str | Path, reference: str | Path, config: EvalConfig | None = None, **options) -> dict:
    """FID of ``folder`` against ``reference`` (folder, cached by content, or ``.npz``) without a report.

    The pytorch-fid equivalent is ``python -m pytorch_fid FOLDER REFERENCE``.
    """
    from cfkit.evaluate.metrics.fid import frechet_distance

    cfg = api_options(EvalConfig, config, {**options, "reference": reference, "grid_rows": 0})
    t0 = time.perf_counter()
    files = index_folder(dataset_images(folder))
    res = Extracted()
    ref_items, ref_prov = _reference(cfg, {"inception"}, res)
    items = [Item(k, {"images": p}) for k, p in files.items()]
    extract(items + ref_items, ["images", REFERENCE], {"inception"}, cfg, res)
    if "inception" in res.unavailable:
        raise CfkitError(res.unavailable["inception"])
    inception.reference_from_features(res, ref_items, ref_prov, cfg)
    feats = res.feature("inception", "images")
    if len(feats) < 2 or res.reference_stats is None or res.reference_stats["n"] < 2:
        raise InputError("FID needs >= 2 decodable images on each side")
    x = np.stack([feats[k] for k in files if k in feats])
    mu, sigma = inception.statistics(x)
    t1 = time.perf_counter()
    ref = res.reference_stats
    value = frechet_distance(mu, sigma, ref["mu"], ref["sigma"], x, ref.get("features"), cfg.fid_exact)
    return {
        "fid": value,
        "n": len(feats),
        "n_reference": int(res.reference_stats["n"]),
        "reference": ref_prov,
        "extract_seconds": t1 - t0,
        "seconds": time.perf_counter() - t0,
        "images_decoded": res.images,
    }


def run_eval(config: EvalConfig | None = None, *, force: bool = False, **options) -> dict:
    """Evaluate methods against their sources (a reference set, known targets); write the report; return metrics.json.

    ``run_eval(methods=["cyclegan", "ours=results/x"], source="data/photos/images",
    reference="data/anime/images", out="eval/x")`` -- options are :class:`EvalConfig` fields (over ``config``).
    ``out`` must be new or empty; ``force`` replaces an earlier evaluation there (only the files it
    recorded) and writes beside files of others.
    """
    from cfkit.evaluate.compare import compare_methods, compare_to_copy
    from cfkit.evaluate.figure import write_figure
    from cfkit.evaluate.latex import write_latex
    from cfkit.evaluate.metrics import METRICS
    from cfkit.evaluate.metrics._base import MetricContext
    from cfkit.evaluate.report import write_report
    from cfkit.fsutil import OutputFolder

    cfg = api_options(EvalConfig, config, options)
    t0 = time.perf_counter()
    if not cfg.source:
        raise InputError("no source folder given (--source DIR)")
    source = index_folder(dataset_images(cfg.source))
    methods = match_methods(source, list(cfg.methods), cfg.results_root)
    for m in methods:
        if msg := describe_unmatched(m):
            warn(msg)
    metrics = [METRICS.get(name)() for name in dict.fromkeys(cfg.metrics)]
    needs = {n for m in metrics for n in m.needs}

    ids = sorted(source)
    if cfg.max_images:
        ids = ids[: cfg.max_images]
    res = Extracted()
    targets, target_info, needs = _targets(cfg, ids, needs, res)
    folder = OutputFolder(cfg.out, "eval", force=force, replace=force)
    items = []
    for k in ids:
        paths = {m.name: m.files[k] for m in methods if k in m.files}
        if paths:
            items.append(Item(k, {SOURCE: source[k], **paths, **({TARGET: targets[k]} if k in targets else {})}))
    ref_items, ref_prov = _reference(cfg, needs, res)
    roles = [SOURCE, *(m.name for m in methods), REFERENCE, TARGET]
    extract(items + ref_items, roles, needs, cfg, res)

    if ref_items and "inception" not in res.unavailable:
        inception.reference_from_features(res, ref_items, ref_prov, cfg)
    if res.reference_stats is not None and res.reference_stats["n"] < 2 and ref_prov.get("kind") == "folder":
        res.unavailable["reference"] = f"reference has {res.reference_stats['n']} usable image(s); FID/KID need >= 2"
        res.reference_stats = None

    results: dict[str, dict] = {}
    for m in methods:
        m_ids = [k for k in ids if k in m.files]
        results[m.name] = {}
        for metric in metrics:
            ctx = MetricContext(method=m.name, ids=m_ids, data=res, config=cfg, source_ids=ids)
            results[m.name][metric.name] = _score(metric, ctx)
    copy_ctx = MetricContext(method=SOURCE, ids=[k for k in ids if k in targets], data=res, config=cfg, source_ids=ids)
    copy_input = {mt.name: _score(mt, copy_ctx) for mt in metrics if targets and mt.copy_baseline}
    elapsed = time.perf_counter() - t0
    doc = {
        "config": cfg.to_dict(),
        "seed": cfg.seed,
        "methods": {
            m.name: {
                "folder": str(m.folder),
                "n": len([k for k in ids if k in m.files]),
                "missing": m.missing,
                "extra": m.extra,
                "run": run_info(m.folder),
            }
            for m in methods
        },
        "source": {"folder": str(cfg.source), "n": len(ids)},
        "reference": ref_prov,
        "targets": target_info,
        "metric_info": {
            mt.name: {"label": mt.label, "higher_is_better": mt.higher_is_better, "per_image": mt.per_image}
            for mt in metrics
        },
        "provenance": res.provenance,
        "unavailable": res.unavailable,
        "decode_errors": res.decode_errors,
        "versions": _versions(),
        "timing": {"seconds": round(elapsed, 3), "images_decoded": res.images},
        "metrics": results,
        "copy_input": copy_input,
    }
    doc["comparisons"] = compare_methods(doc, res, cfg.bootstrap, cfg.set_bootstrap, cfg.seed)
    doc["vs_copy"] = compare_to_copy(doc, cfg.bootstrap, cfg.seed)
    folder.begin()
    write_report(Path(cfg.out), doc, res, [m.name for m in methods])
    write_latex(Path(cfg.out) / "report.tex", doc)
    if cfg.figure:
        write_figure(cfg.out, force=True)  # the folder was checked above
    folder.finish()
    return doc
