"""Console output and progress bars shared by every command (respecting --quiet/--verbose)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

T = TypeVar("T")

console = Console(stderr=True, highlight=False)
log = logging.getLogger("cfkit")


@dataclass
class Verbosity:
    quiet: bool = False
    verbose: bool = False


VERBOSITY = Verbosity()


def set_verbosity(quiet: bool = False, verbose: bool = False) -> None:
    VERBOSITY.quiet, VERBOSITY.verbose = quiet, verbose
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(level)


def info(msg: str) -> None:
    """A status line for the user (hidden by --quiet); printed verbatim: outside strings (URLs, file
    names, page text) may hold Rich markup such as ``[/b]``."""
    if not VERBOSITY.quiet:
        console.print(msg, markup=False)


def warn(msg: str) -> None:
    console.print(f"[yellow]warning:[/yellow] {escape(msg)}")


def make_progress(transient: bool = False) -> Progress:
    """A rich progress bar with rate and ETA; disabled under --quiet."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=VERBOSITY.quiet,
    )


def track(items: Iterable[T], description: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """Iterate with a progress bar showing ``unit``/s and ETA."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with make_progress() as progress:
        task = progress.add_task(escape(description), total=total, rate="")
        for item in items:
            yield item
            progress.advance(task)
            t = progress.tasks[task]
            if t.speed:
                progress.update(task, rate=f"{t.speed:.1f} {unit}/s")


@contextlib.contextmanager
def byte_progress(description: str | None) -> Iterator[Callable[[int, int | None], None] | None]:
    """A download bar: yields ``update(done_bytes, total_bytes or None)``; None when ``description`` is None."""
    if description is None:
        yield None
        return
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=console, transient=True, disable=VERBOSITY.quiet) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        yield update


def listed_help(title: str, lines: Callable[[], Iterable[str]]) -> type:
    """A Typer command class whose ``--help`` ends with ``title`` and ``lines()`` (e.g. a registry's names),
    computed only when that help is shown: other commands never import the registry's modules."""
    from typer.core import TyperCommand

    class ListedCommand(TyperCommand):
        def format_help(self, ctx, formatter) -> None:  # noqa: ANN001 - click's types
            own = self.__dict__.setdefault("own_help", self.help or "")
            self.help = f"{own}\n\n[bold]{title}[/bold]:\n\n" + "\n".join(lines())
            super().format_help(ctx, formatter)

    return ListedCommand
