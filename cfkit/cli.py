"""The ``cfkit`` command: a thin Typer layer over the Python API.

Each feature package contributes its commands through a ``register(app)`` function in
its ``cli`` module; heavy imports (torch, onnxruntime) happen inside commands so that
``cfkit --help`` stays fast. Every error reaches the user as one line and a non-zero exit.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import click
import typer

from cfkit import __version__
from cfkit.console import VERBOSITY, console, set_verbosity
from cfkit.errors import CfkitError

COMMAND_MODULES = (
    "cfkit.curate.cli",
    "cfkit.curate.scrape_cli",
    "cfkit.train.cli",
    "cfkit.evaluate.cli",
    "cfkit.bench.cli",
    "cfkit.study.cli",
    "cfkit.assets.cli",
    "cfkit.demo",
)

app = typer.Typer(
    name="cfkit",
    help="Cartoon <-> photo face translation research: curate, train, evaluate, study.\n\n"
    "Example: cfkit prepare folder --src ~/selfies --size 128 --mask",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cfkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors and final results."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging; tracebacks on errors."),
    offline: bool = typer.Option(
        False, "--offline", help="Never download model assets (same as CFKIT_OFFLINE=1); missing ones are an error."
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    set_verbosity(quiet=quiet, verbose=verbose)
    if offline:
        os.environ["CFKIT_OFFLINE"] = "1"  # also seen by worker processes


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def _is_usage_error(e: Exception) -> bool:
    """Click's (or Typer's vendored click's) usage errors know how to show themselves."""
    return type(e).__module__.split(".")[0] in ("click", "typer") and hasattr(e, "show") and hasattr(e, "exit_code")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and turn every failure into one line + exit code."""
    try:
        rv = app(args=argv, prog_name="cfkit", standalone_mode=False)
    except (click.exceptions.Abort, typer.Abort):
        console.print("error: aborted")
        sys.exit(130)
    except CfkitError as e:
        console.print(f"error: {e}", markup=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        console.print("error: interrupted; re-run the same command to resume")
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - last line of defence: no traceback for users
        if _is_usage_error(e):
            e.show()
            sys.exit(e.exit_code)
        if VERBOSITY.verbose:
            traceback.print_exc()
        msg = str(e).splitlines()[0] if str(e) else ""
        console.print(
            f"error: internal error: {type(e).__name__}: {msg} (re-run with --verbose for details)",
            markup=False,
            soft_wrap=True,
        )
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)
