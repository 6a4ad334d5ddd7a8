"""FFHQ from its official metadata JSON (``ffhq-dataset-v2.json``): per-file URL, size and md5.

Options: ``variant`` (thumbs = 128 px thumbnails, images = 1024 px aligned, wild = in-the-wild
originals), ``category`` (training | validation), ``metadata`` (a local copy of the JSON), ``base_url``
(or ``$CFKIT_FFHQ_BASE_URL``: a mirror with the Drive folder's layout), ``metadata_md5`` (checksum of
a mirror's JSON; the official one is checked when fetching from Google Drive). Each RawImage carries
the Flickr licence, author, photo URL and the 68 landmarks in the downloaded file's pixel frame.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfkit.curate.profiles import PHOTO
from cfkit.curate.sources import SOURCES, Resolved, Source, SourceOptions
from cfkit.curate.sources.inputs import download_images, download_options, fetch_file
from cfkit.errors import CfkitError, InputError
from cfkit.fetch.http import DownloadItem


def _landmarks(entry: dict[str, Any], key: str, scale: float | None) -> list[list[float]] | None:
    if key == "in_the_wild":
        return entry.get("in_the_wild", {}).get("face_landmarks")
    lm = entry.get("image", {}).get("face_landmarks")
    return [[x * scale, y * scale] for x, y in lm] if lm and scale else None


@dataclass(frozen=True)
class FfhqOptions(SourceOptions):
    variant: str = "thumbs"
    category: str | None = None
    metadata: str | None = None
    base_url: str | None = None
    metadata_md5: str | None = None


@SOURCES.register("ffhq")
class FfhqSource(Source):
    name = "ffhq"
    profile = PHOTO
    options = FfhqOptions
    help = "FFHQ photos from the official metadata JSON (or a mirror: -o base_url=URL)"

    def _metadata(self, workdir: Path, base: str | None, options: dict[str, Any]) -> dict[str, Any]:
        spec = self.recipe()["official"]["metadata"]
        if options.get("metadata"):
            path = Path(options["metadata"]).expanduser()
        elif base:
            path = fetch_file(f"{base}/{spec['file']}", workdir, options, md5=options.get("metadata_md5"))
        else:
            path = fetch_file(spec["url"], workdir, options, md5=spec["md5"], size=spec["size"])
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise InputError(f"FFHQ metadata {path} is unreadable: {str(e)[:120]}") from None
        if not isinstance(data, dict):
            raise InputError(f"FFHQ metadata {path}: expected a mapping of image ids")
        return data

    def official(self, workdir: Path, limit: int | None, options: dict[str, Any]) -> Resolved:
        rec = self.recipe()["official"]
        variant = options["variant"]
        if variant not in rec["variants"]:
            raise CfkitError(f"ffhq: unknown variant '{variant}' (known: {', '.join(rec['variants'])})")
        vspec = rec["variants"][variant]
        base = (options.get("base_url") or os.environ.get(rec["base_url_env"]) or "").rstrip("/") or None
        data = self._metadata(workdir, base, options)
        items = []
        for key in sorted(data, key=lambda k: int(k) if str(k).isdigit() else 1 << 60):
            entry = data[key]
            if options.get("category") and entry.get("category") != options["category"]:
                continue
            spec = entry.get(vspec["key"]) or {}
            if not spec.get("file_path"):
                continue
            md = entry.get("metadata", {})
            meta = {
                "ffhq_id": key,
                "category": entry.get("category"),
                "author": md.get("author"),
                "photo_url": md.get("photo_url"),
                "licence_url": md.get("license_url"),
                "landmarks68": _landmarks(entry, vspec["key"], vspec.get("landmark_scale")),
            }
            items.append(
                DownloadItem(
                    f"{base}/{spec['file_path']}" if base else spec["file_url"],
                    name=spec["file_path"],
                    md5=spec.get("file_md5"),
                    size=spec.get("file_size"),
                    licence=md.get("license"),
                    meta=meta,
                )
            )
        res = download_images(items, workdir, self.name, self.licence, limit, download_options(options), "ffhq")
        res.notes.append(f"FFHQ {variant} from {base or 'the official Google Drive URLs'}")
        return res
