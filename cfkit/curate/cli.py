"""Commands of cfkit.curate (placeholder until its commands land)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
