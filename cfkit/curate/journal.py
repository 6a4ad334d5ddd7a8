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


class Journal:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def check_options(self, options: dict) -> None:
        """Record the options of this output; refuse to mix runs made with different ones."""
        path = self.folder / "options.json"
        norm = json.loads(json.dumps(options, sort_keys=True, default=str))
        if path.is_file():
            old = json.loads(path.read_text())
            if old != norm:
                diff = ", ".join(f"{k}: {old.get(k)} -> {norm.get(k)}" for k in norm if old.get(k) != norm.get(k))
                raise CfkitError(
                    f"{self.folder.parent.parent} was prepared with other options ({diff}); "
                    "use another --out or delete it"
                )
        else:
            atomic_write_json(path, norm)

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
