"""Duplicate removal before splitting: exact (file sha256) and near (perceptual hash of the face).

Duplicates are dropped before splits are drawn, so no copy of a test face can sit in train.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def exact_duplicates(kept: pd.DataFrame) -> pd.Series:
    """Boolean mask: rows whose (sha256, face) repeats an earlier row (ordered by origin)."""
    order = kept.sort_values(["origin", "face_index"], kind="stable")
    dup = order.duplicated(subset=["sha256", "face_index"], keep="first")
    return dup.reindex(kept.index)


def near_duplicates(ids: list[str], phashes: list[str], max_distance: int) -> dict[str, str]:
    """``{duplicate id: kept id}`` for faces within ``max_distance`` bits of an earlier (by id) face."""
    order = np.argsort(np.asarray(ids, dtype=object), kind="stable")
    h = np.array([int(phashes[i], 16) for i in order], dtype=np.uint64)
    dropped: dict[str, str] = {}
    alive = np.ones(len(h), bool)
    for a in range(len(h)):
        if not alive[a]:
            continue
        dist = np.bitwise_count(h[a + 1 :] ^ h[a])
        for b in np.nonzero((dist <= max_distance) & alive[a + 1 :])[0] + a + 1:
            alive[b] = False
            dropped[ids[order[b]]] = ids[order[a]]
    return dropped
