"""Processing profiles: which detectors, which template, whether a face gets photo-only steps.

Each dataset source declares its profile (``Source.profile``); :func:`profile` looks it up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    detectors: tuple[str, ...]  # tried in order; "centre" = whole-image centre crop
    template: str = "ffhq"
    photo: bool = True  # photos get 68-point refinement, eye measurement and quality filters

    @property
    def refine(self) -> bool:
        return self.photo


PHOTO = Profile("photo", detectors=("scrfd",))
DRAWING = Profile("drawing", detectors=("scrfd", "centre"), photo=False)
"""Painted or rendered faces: a photo detector where it works, else the centre crop; no photo filters."""
ANIME = Profile("anime", detectors=("animeface", "centre"), photo=False)
"""Anime drawings: the anime face detector, else the centre crop."""


def profile(source: str) -> Profile:
    """The profile that source ``source`` declares."""
    from cfkit.curate.sources import SOURCES

    return SOURCES.get(source).profile
