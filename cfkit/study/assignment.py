"""Balanced, randomised trial plans: every item reaches its quota; order and layout random per volunteer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PlannedTrial:
    item_id: int
    layout: list[int]  # image ids in display order
    kind: str = "main"
    ref_seq: int | None = None


def pick_items(load: dict[int, int], quota: int, k: int, rng: np.random.Generator) -> list[int]:
    """The ``k`` least-loaded items still under ``quota`` (random tie-break)."""
    open_items = [i for i, n in load.items() if n < quota]
    tie = rng.permutation(len(open_items))
    ranked = sorted(zip(open_items, tie, strict=True), key=lambda t: (load[t[0]], t[1]))
    return [i for i, _ in ranked[:k]]


def plan_trials(
    items: dict[int, list[int]],
    chosen: list[int],
    rng: np.random.Generator,
    duplicates: int = 0,
    broken: dict[int, list[int]] | None = None,
    n_broken: int = 0,
) -> list[PlannedTrial]:
    """Shuffle ``chosen`` items, shuffle outputs per trial, then insert attention checks.

    ``items``: item id -> its output image ids. ``broken``: item id -> broken image ids usable in it.
    A duplicate repeats an earlier trial (fresh layout) at least two trials later; a broken trial
    shows an item with one output swapped for a broken image.
    """
    order = [chosen[j] for j in rng.permutation(len(chosen))]
    trials = [PlannedTrial(i, [items[i][j] for j in rng.permutation(len(items[i]))]) for i in order]
    candidates = [i for i in (broken or {}) if broken[i]]
    for _ in range(n_broken if candidates else 0):
        i = candidates[rng.integers(len(candidates))]
        layout = [items[i][j] for j in rng.permutation(len(items[i]))]
        layout[rng.integers(len(layout))] = broken[i][rng.integers(len(broken[i]))]
        trials.insert(int(rng.integers(1, len(trials) + 1)), PlannedTrial(i, layout, "broken"))
    for _ in range(duplicates if len(trials) >= 2 else 0):
        main = [s for s, t in enumerate(trials) if t.kind == "main"]
        src = int(main[rng.integers(len(main))]) if main else 0
        pos = int(rng.integers(min(src + 2, len(trials)), len(trials) + 1))
        orig = trials[src]
        trials.insert(
            pos,
            PlannedTrial(
                orig.item_id, [orig.layout[j] for j in rng.permutation(len(orig.layout))], "duplicate", ref_seq=src
            ),
        )
        # later inserts shift positions; re-point references at the shifted originals
        for t in trials[pos + 1 :]:
            if t.ref_seq is not None and t.ref_seq >= pos:
                t.ref_seq += 1
    return trials
