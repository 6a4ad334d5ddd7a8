"""Deterministic splits: a face's split depends only on its id and the seed."""

from __future__ import annotations

import hashlib


def split_of(face_id: str, seed: int, splits: tuple[tuple[str, float], ...]) -> str:
    u = int(hashlib.sha256(f"{seed}:{face_id}".encode()).hexdigest()[:15], 16) / float(1 << 60)
    total = sum(f for _, f in splits)
    acc = 0.0
    for name, frac in splits:
        acc += frac / total
        if u < acc:
            return name
    return splits[-1][0]
