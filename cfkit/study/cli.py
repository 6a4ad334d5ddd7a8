"""``cfkit study create | serve | export | analyze``: a thin layer over :mod:`cfkit.study`."""

from __future__ import annotations

from pathlib import Path

import typer

from cfkit.study.config import FORMATS, StudyConfig

_D = StudyConfig()
study_app = typer.Typer(
    help="Blind human rating studies: design, serve to volunteers, export, analyse.\n\n"
    "Example: cfkit study create --from-eval eval/x --name s1 && cfkit study serve --study s1",
    no_args_is_help=True,
)

DB_HELP = "Study database: a SQLite file path or postgresql://user:pw@host/db \\[default: studies/STUDY/study.db]."


def _db(db: str | None, study: str) -> str:
    return db or str(Path("studies") / study / "study.db")


@study_app.command("create")
def create(
    from_eval: Path | None = typer.Option(
        None, "--from-eval", help="A `cfkit eval` output folder (records source and method folders)."
    ),
    methods: str | None = typer.Option(
        None, "--methods", help="Method result folders: name=DIR,name=DIR (ids = source file stems)."
    ),
    source: Path | None = typer.Option(None, "--source", help="Source image folder (or prepared dataset)."),
    name: str | None = typer.Option(
        None, "--name", help=f"Study name, unique within the database \\[default: {_D.name}]."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Study folder: study.yaml, attention images, default SQLite db \\[default: studies/NAME]."
    ),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    n_sources: int | None = typer.Option(
        None, "--n", help=f"Source images to sample (seeded) \\[default: {_D.n_sources}]."
    ),
    criteria: str | None = typer.Option(
        None, "--criteria", help=f"Comma-separated criteria \\[default: {','.join(_D.criteria)}]."
    ),
    response_format: str | None = typer.Option(
        None, "--format", help=f"Response format: {', '.join(FORMATS)} \\[default: {_D.response_format}]."
    ),
    ratings_per_item: int | None = typer.Option(
        None, "--ratings-per-item", help=f"Quota of ratings per item \\[default: {_D.ratings_per_item}]."
    ),
    trials_per_participant: int | None = typer.Option(
        None, "--trials-per-participant", help="Items per volunteer \\[default: all]."
    ),
    attention_duplicates: int | None = typer.Option(
        None, "--attention-duplicates", help=f"Repeated trials per volunteer \\[default: {_D.attention_duplicates}]."
    ),
    attention_broken: int | None = typer.Option(
        None,
        "--attention-broken",
        help=f"Trials with a broken image per volunteer \\[default: {_D.attention_broken}].",
    ),
    seed: int | None = typer.Option(None, "--seed", help=f"Sampling seed \\[default: {_D.seed}]."),
    stratify_by: str | None = typer.Option(
        None, "--stratify-by", help="Manifest column to stratify the sample by (e.g. gender)."
    ),
    options_file: Path | None = typer.Option(
        None, "--options", help="YAML of study options (n_sources, criteria, questions, instructions, ...)."
    ),
    sets: list[str] = typer.Option(None, "--set", help="Study option KEY=VALUE, repeatable (stale_after_s=3600)."),
) -> None:
    """Design a study from an evaluation or method folders; writes it to the database and to study.yaml.

    Options: defaults < --options FILE < flags < --set.

    Example: cfkit study create --methods cyclegan=results/cyclegan,ours=results/ours --source data/x --n 48 --name s1
    """
    from cfkit.options import command_options, file_layer
    from cfkit.study.db import masked
    from cfkit.study.design import create_study

    flags = {
        "name": name,
        "n_sources": n_sources,
        "criteria": [c.strip() for c in criteria.split(",") if c.strip()] if criteria is not None else None,
        "response_format": response_format,
        "ratings_per_item": ratings_per_item,
        "trials_per_participant": trials_per_participant,
        "attention_duplicates": attention_duplicates,
        "attention_broken": attention_broken,
        "seed": seed,
        "stratify_by": stratify_by,
    }
    config = command_options(StudyConfig, file_layer(options_file) if options_file else None, flags=flags, sets=sets)
    name = config.name
    out = out or Path("studies") / name
    create_study(config, db=db or out / "study.db", out=out, from_eval=from_eval, methods=methods, source=source)
    typer.echo(
        f"created study '{name}': {out / 'study.yaml'}; serve it with: cfkit study serve --study {name}"
        + (f" --db {masked(db)}" if db else "")
    )


@study_app.command("serve")
def serve(
    study: str = typer.Option(_D.name, "--study", help="Study name."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (0.0.0.0 to reach it from other machines)."
    ),
    port: int = typer.Option(8501, "--port", help="Port."),
    admin_token: str | None = typer.Option(
        None,
        "--admin-token",
        envvar="CFKIT_ADMIN_TOKEN",
        help="Token for /admin and /metrics \\[default: a random one, printed].",
    ),
    eval_dir: Path | None = typer.Option(
        None, "--eval", help="A `cfkit eval` folder to show beside the study on /metrics."
    ),
) -> None:
    """Serve the volunteer rating app (Streamlit) until Ctrl-C.

    Open http://HOST:PORT/ in a browser (default http://127.0.0.1:8501/) and hand that address to volunteers;
    each gets an anonymous code to continue later. Admin progress and analysis: http://HOST:PORT/admin,
    metrics explorer: http://HOST:PORT/metrics (both ask for the admin token printed at start).

    Example: cfkit study serve --study s1 --port 8501 --admin-token "$(openssl rand -hex 16)"
    """
    import os
    import subprocess
    import sys

    from cfkit.errors import InputError
    from cfkit.study.config import ENV_ADMIN_TOKEN
    from cfkit.study.db import open_db
    from cfkit.study.design import study_definition
    from cfkit.study.serve import serve_command

    database = open_db(_db(db, study), create=False)
    study_definition(database, study)  # fails clearly on an unknown study
    argv, env = serve_command(database.url, study, host, port, admin_token, str(eval_dir) if eval_dir else None)
    shown = "127.0.0.1" if host == "0.0.0.0" else host
    typer.echo(
        f"volunteers: open http://{shown}:{port}/\nadmin:      http://{shown}:{port}/admin  "
        f"(token: {env[ENV_ADMIN_TOKEN]})\nmetrics:    http://{shown}:{port}/metrics\nstop with Ctrl-C"
    )
    sys.stdout.flush()
    if os.name == "posix":  # become the server: Ctrl-C / SIGTERM reach streamlit directly
        os.execve(argv[0], argv, env)
    rc = subprocess.call(argv, env=env)
    if rc not in (0, -2, 130):
        raise InputError(f"streamlit exited with code {rc}")


@study_app.command("export")
def export(
    study: str = typer.Option(_D.name, "--study", help="Study name."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    out: Path = typer.Option(..., "--out", help="Ratings table: .csv or .parquet."),
    definition: Path | None = typer.Option(None, "--yaml", help="Also write the study definition (.yaml)."),
    force: bool = typer.Option(False, "--force", help="Replace existing --out / --yaml files."),
) -> None:
    """Export every rating (with method names, attention-check trials marked) as CSV or parquet.

    Existing files are kept unless --force; the database itself is never written.

    Example: cfkit study export --study s1 --out studies/s1/ratings.parquet --yaml studies/s1/definition.yaml
    """
    from cfkit.study.db import open_db
    from cfkit.study.export import export_study

    n = export_study(open_db(_db(db, study), create=False), study, out, definition, force)
    typer.echo(f"{n} ratings -> {out}")


@study_app.command("analyze")
def analyze_cmd(
    study: str = typer.Option(_D.name, "--study", help="Study name."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    out: Path | None = typer.Option(None, "--out", help="Output folder \\[default: studies/STUDY/analysis]."),
    eval_dir: Path | None = typer.Option(
        None, "--eval", help="A `cfkit eval` folder: rank-correlate its metrics with the ratings."
    ),
    exclude_failed: bool = typer.Option(
        False, "--exclude-failed", help="Drop volunteers who failed an attention check."
    ),
    n_boot: int = typer.Option(2000, "--n-boot", help="Bootstrap resamples."),
    force: bool = typer.Option(False, "--force", help="Write into an --out holding files of others (beside them)."),
) -> None:
    """Means with bootstrap CIs, mean ranks, Friedman + Holm-corrected Wilcoxon, Bradley-Terry, Krippendorff's alpha.

    Writes table.md, summary.csv, stats.json, summary.png and ratings.csv into --out: a new or empty folder, or
    an earlier analysis (replaced).

    Example: cfkit study analyze --study s1 --eval eval/x --out studies/s1/analysis
    """
    from cfkit.study.analysis import analyze
    from cfkit.study.db import open_db

    out = out or Path("studies") / study / "analysis"
    database = open_db(_db(db, study), create=False)
    res = analyze(database, study, out, eval_dir, exclude_failed, n_boot, force=force)
    typer.echo(res["table"])
    for crit, t in res["tests"].items():
        typer.echo(
            f"{crit}: Friedman chi2={t['friedman_chi2']:.3f} p={t['friedman_p']:.4g} (n={t['n_blocks']} sources)"
        )
    agree = res.get("metric_agreement")
    if agree is not None and len(agree):
        typer.echo("metric vs people (Spearman, +1 = same ordering):")
        for r in agree.itertuples():
            typer.echo(f"  {r.metric} ~ {r.criterion}: {r.spearman:+.2f} over {r.n_methods} methods")
    typer.echo(f"attention checks failed: {res['attention']['failed']}/{res['attention']['checks']}; results in {out}")


def register(app: typer.Typer) -> None:
    """Add ``cfkit study ...`` to the root app."""
    app.add_typer(study_app, name="study")
