"""``downloads.jsonl``: one line per finished item (kept or rejected), so a later run resumes where this one
stopped. Transient rejections (``network``/``http_error``) and ``too_large`` ones made under lower limits
are forgotten on load, so a re-run tries them again; a kept file that is gone is fetched again."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict
from pathlib import Path

from cfkit.fetch.items import TRANSIENT, DownloadResult

MANIFEST = "downloads.jsonl"


class Manifest:
    """The finished items of one download folder (this run's and earlier runs'); thread-safe."""

    def __init__(self, folder: Path, limits: dict[str, int], keep: bool = True):
        self.path, self.limits, self.keep = folder / MANIFEST, limits, keep
        self.lock = threading.Lock()
        self.done: dict[str, DownloadResult] = {}
        self.by_sha: dict[str, str] = {}  # sha256 -> file first kept with it
        self.names: set[str] = set()  # files already written (never overwritten by other content)
        if keep and self.path.exists():
            self._load(folder)

    def _load(self, folder: Path) -> None:
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                res = DownloadResult(**json.loads(line))
            except (ValueError, TypeError):
                continue  # a line cut by a kill
            if res.ok and not (res.file and (folder / res.file).is_file()):
                continue
            if not res.ok and (res.reason in TRANSIENT or self._limits_raised(res)):
                self.done.pop(res.url, None)
                continue
            self.done[res.url] = res
            if res.ok and res.sha256 and res.file:
                self.by_sha.setdefault(res.sha256, res.file)
                self.names.add(res.file)

    def _limits_raised(self, res: DownloadResult) -> bool:
        """A ``too_large`` rejection made under lower limits than this run's (or unknown ones)."""
        if res.reason != "too_large":
            return False
        return res.limits is None or any(self.limits[k] > res.limits.get(k, 0) for k in self.limits)

    def record(self, res: DownloadResult) -> None:
        """Remember ``res`` and append it to the file (flushed and synced: a kill loses at most this line)."""
        with self.lock:
            self.done[res.url] = res
            if not self.keep:
                return
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(asdict(res), default=str) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
