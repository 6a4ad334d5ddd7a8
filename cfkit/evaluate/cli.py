"""``cfkit eval``: a thin layer over :func:`cfkit.evaluate.run_eval`."""

from __future__ import annotations

import typer

from cfkit.console import listed_help
from cfkit.options import comma_list


def _value(result: dict) -> str:
    return "n/a" if result.get("value") is None else f"{result['value']:.4g}"


def print_comparisons(doc: dict) -> None:
    """Which method is significantly better than which, per metric (``cfkit eval``'s and ``cfkit bench``'s output)."""
    from cfkit.evaluate.compare import summary_lines

    if lines := summary_lines(doc):
        typer.echo("significantly better (row > column; Holm-corrected Wilcoxon, FID/KID: bootstrap CI):")
        for line in lines:
            typer.echo(f"  {line}")


def metrics_help() -> list[str]:
    """One line per registered metric: name, label, direction (``--list-metrics`` and ``cfkit eval --help``)."""
    from cfkit.evaluate.metrics import METRICS

    rows = [(name, METRICS.get(name)) for name in METRICS.names()]
    return [f"{n:20s} {m.label} ({'higher' if m.higher_is_better else 'lower'} is better)" for n, m in rows]


def eval_cmd(
    methods: str = typer.Option(None, help="Comma list: NAME (-> results/NAME/) or NAME=DIR."),
    source: str = typer.Option(None, help="Folder of source images (ids = file stems)."),
    reference: str = typer.Option(None, help="Real target-domain images for FID/KID: folder or pytorch-fid .npz."),
    targets: str = typer.Option(
        None,
        help="Known correct translation of each source id (ids = file stems), e.g. a known-answer task's "
        "targets/: adds l1_target, lpips_target and identity_target, with the copy-the-input baseline.",
    ),
    out: str = typer.Option(
        None,
        help="Output folder (metrics.json, per_image.csv, report.md/.html/.tex): new or empty (default eval/out).",
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace an earlier evaluation in --out, and write beside files cfkit did not write."
    ),
    metrics: str = typer.Option(None, help="Comma list of metrics (default: all with default = True; see below)."),
    protocol: str = typer.Option(None, help="Protocol YAML (eval/NAME.yaml); options given here override it."),
    max_images: int = typer.Option(None, help="Only the first N source ids (sorted)."),
    fid_dims: int = typer.Option(None, help="pytorch-fid feature block: 64, 192, 768, 2048."),
    identity_backend: str = typer.Option(None, help="auto | arcface | dlib."),
    landmarks_source: str = typer.Option(
        None, help="Landmarks of the inputs: dlib | animeface | a landmark-regressor run; A+B tries A then B."
    ),
    landmarks_output: str = typer.Option(None, help="Landmarks of the outputs (same choices; cartoons: animeface)."),
    batch_size: int = typer.Option(None, help="Inception batch size (results do not depend on it)."),
    workers: int = typer.Option(None, help="Decode worker processes (default min(4, CPUs))."),
    device: str = typer.Option(None, help="auto | cpu | cuda[:i]."),
    seed: int = typer.Option(None, help="Seed of bootstrap and KID subsets."),
    exact: bool = typer.Option(
        False, "--exact", help="FID bit for bit as pytorch-fid (its network as is, scipy sqrtm); slower."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute reference statistics."),
    figure: bool = typer.Option(
        False, "--figure", help="Also write figure.png/.pdf (ids where methods disagree most; see cfkit figure)."
    ),
    sets: list[str] = typer.Option(
        None, "--set", help="Any option as KEY=VALUE, repeatable (e.g. kid_subsets=50, landmarks_assume_aligned=true)."
    ),
    list_metrics: bool = typer.Option(False, "--list-metrics", help="List the registered metrics and exit."),
) -> None:
    """Evaluate methods side by side: FID, KID, identity, landmarks, LPIPS (and, with --targets, L1 and LPIPS
    to the known answers beside the copy-the-input baseline) with 95% CIs.

    Example: cfkit eval --methods cyclegan,ours=results/ours --source data/photos/images
    --reference data/anime/images --landmarks-output animeface+runs/lm-anime --out eval/x

    Paired: cfkit eval --methods ours=results/ka --source ka/A/images --targets ka/targets --out eval/ka
    """
    from cfkit.console import info
    from cfkit.errors import InputError
    from cfkit.evaluate.config import EvalConfig, protocol_layer
    from cfkit.options import command_options

    if list_metrics:
        typer.echo("\n".join(metrics_help()))
        return
    overrides = {
        "methods": comma_list(methods),
        "source": source,
        "reference": reference,
        "targets": targets,
        "out": out,
        "metrics": comma_list(metrics),
        "max_images": max_images,
        "fid_dims": fid_dims,
        "identity_backend": identity_backend,
        "landmarks_source": landmarks_source,
        "landmarks_output": landmarks_output,
        "batch_size": batch_size,
        "workers": workers,
        "device": device,
        "seed": seed,
        "cache": False if no_cache else None,
        "fid_exact": True if exact else None,
        "figure": True if figure else None,
    }
    cfg = command_options(EvalConfig, protocol_layer(protocol), flags=overrides, sets=sets)
    if not cfg.methods:
        raise InputError("no methods given (--methods a,b or name=DIR, or a --protocol)")
    from cfkit.evaluate.api import run_eval

    doc = run_eval(cfg, force=force)
    for method, res in doc["metrics"].items():
        parts = [f"{k}={_value(r)}" for k, r in res.items()]
        typer.echo(f"{method}: " + " ".join(parts))
    if doc["copy_input"]:
        typer.echo("copy the input: " + " ".join(f"{k}={_value(r)}" for k, r in doc["copy_input"].items()))
    print_comparisons(doc)
    figure_files = ", figure.png, figure.pdf" if cfg.figure else ""
    info(f"wrote {cfg.out}/metrics.json, per_image.csv, report.md, report.html, report.tex{figure_files}")


def figure_cmd(
    eval_dir: str = typer.Argument(..., help="A cfkit eval --out folder (metrics.json, per_image.csv)."),
    ids: str = typer.Option(None, help="Comma list of source ids, the rows in order (default: picked)."),
    pick: str = typer.Option("disagree", help="disagree (largest spread across methods) | worst (each method's)."),
    metric: str = typer.Option(None, help="Per-image metric that picks the rows (default: lpips if measured)."),
    rows: int = typer.Option(6, help="Rows to pick."),
    name: str = typer.Option("figure", help="File name: EVAL_DIR/NAME.png and NAME.pdf."),
    force: bool = typer.Option(False, "--force", help="Replace NAME.png/.pdf even where cfkit did not write them."),
) -> None:
    """Comparison figure of an evaluation: rows of source ids, columns source | each method (| target).

    Example: cfkit figure eval/x --pick worst --metric identity --rows 8
    """
    from cfkit.console import info
    from cfkit.evaluate.figure import write_figure

    paths = write_figure(eval_dir, comma_list(ids), pick, metric, rows, name, force)
    info("wrote " + ", ".join(str(p) for p in paths))


def register(app: typer.Typer) -> None:
    """Add ``cfkit eval`` and ``cfkit figure``."""
    app.command("eval", cls=listed_help("Metrics", metrics_help))(eval_cmd)
    app.command("figure")(figure_cmd)
