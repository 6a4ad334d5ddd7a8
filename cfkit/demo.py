"""``cfkit demo``: the whole loop on images that ship with installed packages."""

import typer


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the root app."""
