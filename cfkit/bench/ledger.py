"""``BENCH/bench.json``: which steps of a leaderboard run are finished and what each cost.

Each finished step is recorded at once with an atomic write, so a killed run continues with the first
step not recorded; a step in progress when the run stopped is done again (training from its last
checkpoint). A bench folder keeps the options it was started with (but for ``free`` ones, e.g. the list of
methods): others are refused by name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cfkit.console import info
from cfkit.errors import InputError
from cfkit.fsutil import atomic_write_json

FILE = "bench.json"
FORMAT = "cfkit-bench-1"


def changed_keys(
    old: dict[str, Any], new: dict[str, Any], nested: tuple[str, ...] = (), free: tuple[str, ...] = ()
) -> list[str]:
    """Keys whose values differ between two option records, ``nested`` option groups key by key (dotted),
    ``free`` keys left out.

    Option names only one record has (another cfkit version's) are not compared."""
    out = []
    for key in sorted(set(old) & set(new) - set(free)):
        if key in nested:
            out += [f"{key}.{k}" for k in changed_keys(old[key], new[key])]
        elif old[key] != new[key]:
            out.append(key)
    return out


class Ledger:
    """The step records of one bench folder."""

    def __init__(self, root: Path, options: dict[str, Any], nested: tuple[str, ...] = (), free: tuple[str, ...] = ()):
        self.path = root / FILE
        self.doc: dict[str, Any] = {"format": FORMAT, "options": options, "steps": {}, "status": "running"}
        if self.path.is_file():
            try:
                saved = json.loads(self.path.read_text(encoding="utf-8"))
            except ValueError:
                raise InputError(f"{self.path}: not a readable bench record; choose another --out") from None
            if saved.get("format") != FORMAT:
                raise InputError(f"{self.path}: not a cfkit bench record; choose another --out")
            diff = changed_keys(saved["options"], options, nested, free)
            if diff:
                raise InputError(
                    f"{root} was started with other options ({', '.join(diff)}); "
                    "rerun it with the same options or choose another --out"
                )
            self.doc = {**saved, "options": options, "status": "running"}
        elif root.is_dir() and any(root.iterdir()):
            raise InputError(f"{root} is not empty and holds no {FILE}; choose another --out")
        root.mkdir(parents=True, exist_ok=True)
        self.save()

    @property
    def steps(self) -> dict[str, dict[str, Any]]:
        return self.doc["steps"]

    def save(self) -> None:
        atomic_write_json(self.path, self.doc)

    def run(self, key: str, what: str, fn: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
        """Do step ``key`` unless it is recorded; record its wall seconds and what ``fn`` returns."""
        if key in self.steps:
            info(f"{what}: done earlier ({self.steps[key]['seconds']:.1f} s)")
            return self.steps[key]
        info(f"{what} ...")
        t0 = time.perf_counter()
        extra = fn() or {}
        self.steps[key] = {"seconds": round(time.perf_counter() - t0, 3), **extra}
        self.save()
        info(f"{what}: done ({self.steps[key]['seconds']:.1f} s)")
        return self.steps[key]

    def forget(self, *keys: str) -> None:
        """Drop the records of ``keys``: those steps are done again."""
        for key in keys:
            self.steps.pop(key, None)
        self.save()

    def finish(self, leaderboard: dict[str, Any]) -> None:
        self.doc.update(status="finished", leaderboard=leaderboard)
        self.save()
