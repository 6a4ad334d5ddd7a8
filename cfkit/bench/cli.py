"""``cfkit bench``: a thin layer over :func:`cfkit.bench.run_bench`."""

from __future__ import annotations

from pathlib import Path

import typer

from cfkit.options import comma_list


def step_seconds(doc: dict) -> list[str]:
    """Wall seconds of every step: one line per method (train, translate), then eval and study."""
    steps = doc["steps"]
    lines = []
    for name in doc["options"]["methods"]:
        done = [s for s in ("budget", "train", "translate") if f"{name}/{s}" in steps]
        parts = [f"{s} {steps[f'{name}/{s}']['seconds']:.1f} s" for s in done]
        lines.append(f"{name:<20} " + ", ".join(parts))
    lines.append(f"{'evaluate':<20} {steps['eval']['seconds']:.1f} s")
    lines.append(f"{'study':<20} {steps['study']['seconds']:.1f} s")
    return lines


def print_leaderboard(eval_dir: Path) -> None:
    """The evaluation's methods x metrics table (value over its [95 % CI], best in bold) on the console."""
    from rich.table import Table

    from cfkit.console import console
    from cfkit.evaluate.cli import print_comparisons
    from cfkit.evaluate.report import table_rows
    from cfkit.evaluate.results import read_metrics

    doc = read_metrics(eval_dir)
    header, rows = table_rows(doc)
    table = Table()
    table.add_column("method", no_wrap=True)
    for h in header:
        table.add_column(h)
    for row in rows:
        cells = [f"[bold]{c['value']}[/bold]" if c["best"] else c["value"] for c in row["cells"]]
        table.add_row(row["method"], *(f"{v}\n{c['ci']}".strip() for v, c in zip(cells, row["cells"], strict=True)))
    console.print(table)
    print_comparisons(doc)


def bench_cmd(
    protocol: str = typer.Option(None, help="Bench protocol: pipelines/bench/NAME.yaml by name, or a YAML file."),
    data_a: str = typer.Option(
        None,
        "--data-a",
        help="The methods' input (photos; cartoons in a cartoon -> photo bench): a prepared dataset "
        "with train and test rows.",
    ),
    data_b: str = typer.Option(None, "--data-b", help="The target domain: a prepared dataset or image folder."),
    methods: str = typer.Option(None, help="Comma list of training methods (each with its recipe)."),
    iters: int = typer.Option(None, help="Budget: total iterations of every method."),
    epochs: float = typer.Option(None, help="Budget: epochs of domain A for every method."),
    seconds: float = typer.Option(
        None, help="Budget: training wall seconds of every method (iterations from a timed probe of its phases)."
    ),
    size: str = typer.Option(None, help="Training size in px (multiple of 16), or auto (default: auto)."),
    width: float = typer.Option(None, help="Channel multiplier of every method's networks (default: 1.0)."),
    seed: int = typer.Option(None, help="Training seed of every method (default: 0; eval.seed seeds the bootstrap)."),
    device: str = typer.Option(None, help="auto, cpu, cuda, cuda:N."),
    out: str = typer.Option(None, help="Bench folder (default: bench/out); rerun the same command to resume."),
    sets: list[str] = typer.Option(
        None,
        "--set",
        help="Any option as KEY=VALUE: train.ckpt_every=100, methods_set.nst.method.steps=50, eval.seed=1.",
    ),
) -> None:
    """Leaderboard in one command: train each method under one budget, translate the test split of --data-a,
    evaluate (CIs, paired tests, report.tex), create the study. Resumable: a killed run continues where it stopped.

    Options: defaults < --protocol < flags < --set.

    Cartoon -> photo methods (cpgan): --set "direction=cartoon -> photo" (or --protocol known-answer-reverse).

    Example: cfkit bench --protocol photo2anime --methods cyclegan,cartoongan --iters 20000 --out bench/p2a
    """
    from cfkit.bench.api import run_bench
    from cfkit.bench.config import BenchOptions, protocol_layer
    from cfkit.console import info
    from cfkit.errors import InputError
    from cfkit.options import command_options

    if size not in (None, "auto"):
        if not size.isdigit():
            raise InputError(f"--size must be a number of pixels or auto (got {size!r})")
        size = int(size)
    flags = {
        "data_a": data_a,
        "data_b": data_b,
        "methods": comma_list(methods),
        "iters": iters,
        "epochs": epochs,
        "seconds": seconds,
        "size": size,
        "width": width,
        "seed": seed,
        "device": device,
        "out": out,
    }
    doc = run_bench(command_options(BenchOptions, protocol_layer(protocol), flags=flags, sets=sets))
    root = Path(doc["options"]["out"])
    print_leaderboard(root / "eval")
    typer.echo(f"leaderboard: {root}/eval/report.md (report.html, report.tex, figure.png)")
    typer.echo(f"study: {root}/study/{doc['options']['study']['name']}/study.yaml")
    typer.echo("wall seconds per step:")
    for line in step_seconds(doc):
        typer.echo(f"  {line}")
    info(f"wrote {root}/bench.json")


def register(app: typer.Typer) -> None:
    """Add ``cfkit bench`` (its help lists the registered methods)."""
    from cfkit.console import listed_help
    from cfkit.train.cli import methods_help

    app.command("bench", cls=listed_help("Methods (domains)", methods_help))(bench_cmd)
