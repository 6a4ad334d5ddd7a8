"""Resumable per-chunk state: each finished chunk is one parquet part written atomically.

A killed run loses at most the chunks in flight; a re-run skips every origin already in a part.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pandas as pd

from cfkit.errors import CfkitError
from cfkit.fsutil import atomic_write_bytes, atomic_write_json
from cfkit.stageclock import add_seconds


class Journal:
    def __init__(self, folder: Path, out: Path | None = None):
        self.folder = Path(folder)  # created by the first write: a run that fails early leaves nothing
        self.out = Path(out) if out is not None else self.folder.parent.parent  # named in messages

    @property
    def options_path(self) -> Path:
        return self.folder / "options.json"

    def recorded_options(self) -> dict | None:
        return json.loads(self.options_path.read_text()) if self.options_path.is_file() else None

    def check_options(self, options: dict) -> None:
        """Refuse to mix runs made with different options (compares with the recorded ones, if any)."""
        old, norm = self.recorded_options(), _normalise(options)
        if old is not None and old != norm:
            keys = sorted(set(old) | set(norm))
            diff = ", ".join(f"{k}: {old.get(k)} -> {norm.get(k)}" for k in keys if old.get(k) != norm.get(k))
            raise CfkitError(f"{self.out} was prepared with other options ({diff}); use another --out or delete it")

    def record_options(self, options: dict) -> None:
        """Check, then record ``options``; call once work has started (a failed start records nothing)."""
        self.check_options(options)
        if self.recorded_options() is None:
            atomic_write_json(self.options_path, _normalise(options))

    def record_seconds(self, spent: dict[str, float]) -> dict[str, float]:
        """Add one invocation's worker seconds per stage to the recorded ones (a resumed run's add up); the sum."""
        total = add_seconds(self.seconds(), spent)
        if spent:
            atomic_write_json(self.folder / "seconds.json", total)
        return total

    def seconds(self) -> dict[str, float]:
        path = self.folder / "seconds.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def write(self, rows: list[dict], name: str | None = None) -> None:
        if not rows:
            return
        if name is None:
            key = hashlib.sha1("\n".join(sorted(r["origin"] for r in rows)).encode()).hexdigest()[:16]
            name = f"part-{key}"
        buf = io.BytesIO()
        pd.DataFrame(rows).to_parquet(buf, index=False)
        atomic_write_bytes(self.folder / f"{name}.parquet", buf.getvalue())

    def read(self) -> pd.DataFrame:
        parts = [pd.read_parquet(p) for p in sorted(self.folder.glob("*.parquet"))]
        parts = [p for p in parts if len(p)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"origin": []})

    def done(self) -> set[str]:
        return set(self.read()["origin"].astype(str))


def _normalise(options: dict) -> dict:
    return json.loads(json.dumps(options, sort_keys=True, default=str))
