"""Commands of cfkit.evaluate (placeholder until its commands land)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
