"""Anime styles: the AnimeGAN release zip (Hayao/Paprika/Shinkai/SummerWar frames) or selfie2anime faces.

Options: ``variant`` (animegan | selfie2anime), ``style`` (a style name or ``all``), ``url`` (or
``$CFKIT_ANIME_URL``) to fetch the release zip from a mirror.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfkit.curate.profiles import ANIME
from cfkit.curate.sources import SOURCES, Resolved, Source, SourceOptions
from cfkit.curate.sources.inputs import extract_archive, fetch_file, from_folder, resolve_src
from cfkit.errors import CfkitError


@dataclass(frozen=True)
class AnimeOptions(SourceOptions):
    variant: str = "animegan"
    style: str = "Hayao"
    url: str | None = None


@SOURCES.register("anime")
class AnimeSource(Source):
    name = "anime"
    profile = ANIME
    help = "anime faces: AnimeGAN style frames or selfie2anime (-o style=Hayao)"
    options = AnimeOptions

    def _variant(self, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        variants = self.recipe()["official"]["variants"]
        name = options["variant"]
        if name not in variants:
            raise CfkitError(f"anime: unknown variant '{name}' (known: {', '.join(variants)})")
        return name, variants[name]

    def _styles(self, folder: Path, spec: dict[str, Any], options: dict[str, Any]) -> list[Path]:
        """The style folders present under an extracted AnimeGAN dataset (``[]`` if it is not one)."""
        style = options["style"]
        wanted = spec["styles"] if style == "all" else [style]
        unknown = [s for s in wanted if s not in spec["styles"]]
        if unknown:
            raise CfkitError(f"anime: unknown style '{unknown[0]}' (known: {', '.join(spec['styles'])}, all)")
        found = []
        for s in wanted:
            found += [p for p in folder.rglob(s) if (p / spec["style_folder"]).is_dir()]
        return [p / spec["style_folder"] for p in sorted(found)]

    def _pick(self, folder: Path, spec: dict[str, Any], limit: int | None, options: dict[str, Any]) -> Resolved:
        dirs = self._styles(folder, spec, options)
        if not dirs:
            return from_folder(folder, self.name, self.licence, limit)
        res = Resolved(source=self.name, licence=self.licence)
        for d in dirs:
            part = from_folder(d, self.name, self.licence, None)
            for img in part.images:
                img.meta["style"] = d.parent.name
            res.images += part.images
        res.images = res.images[: limit if limit else None]
        res.notes.append("styles: " + ", ".join(d.parent.name for d in dirs))
        return res

    def official(self, workdir: Path, limit: int | None, options: dict[str, Any]) -> Resolved:
        variant, spec = self._variant(options)
        if "manual" in spec:
            raise CfkitError(f"anime/{variant}: {spec['manual'].strip()}; then run: cfkit prepare anime --src PATH")
        url = options.get("url") or os.environ.get(spec["url_env"]) or spec["url"]
        folder, rejected = extract_archive(fetch_file(url, workdir, options), workdir, options)
        res = self._pick(folder, spec, limit, options)
        res.rejected[:0] = rejected
        res.notes.append(f"AnimeGAN dataset from {url}")
        return res

    def from_src(self, src: str, workdir: Path, limit: int | None, options: dict[str, Any]) -> Resolved:
        variant, spec = self._variant(options)
        path = Path(src).expanduser()
        if variant == "animegan" and path.is_dir():
            return self._pick(path, spec, limit, options)
        res = resolve_src(src, source=self.name, workdir=workdir, limit=None, licence=self.licence, options=options)
        if variant == "animegan" and res.images:
            root = Path(os.path.commonpath([str(i.path.parent) for i in res.images]))
            if self._styles(root, spec, options):
                picked = self._pick(root, spec, limit, options)
                picked.rejected[:0] = res.rejected
                return picked
        res.images = res.images[: limit if limit else None]
        return res
