"""Which photos the known-answer task holds out: spread over their source images, not left to chance."""

from __future__ import annotations

from collections import Counter

import numpy as np


def test_held_out_photos_follow_the_groups_sizes():
    from cfkit.evaluate.known_answer import held_out

    groups = ["solvay"] * 29 + ["t1"] * 5 + ["astronaut", "hanks"]  # the demo's sources
    for seed in range(20):
        test = held_out(groups, 6, seed)
        assert len(test) == 6
        assert Counter(groups[k] for k in test) == {"solvay": 5, "t1": 1}  # 4.83 and 0.83 of 6, rounded up
    assert len({frozenset(held_out(groups, 6, s)) for s in range(20)}) > 10  # the seed still chooses faces


def test_one_group_per_photo_is_the_plain_random_draw():
    from cfkit.evaluate.known_answer import held_out

    ids = [f"p{k}" for k in range(113)]
    for seed in (0, 3):
        assert held_out(ids, 12, seed) == set(np.random.default_rng(seed).permutation(113)[:12].tolist())
