"""Processing profiles: which detectors, which template, whether a face gets photo-only steps.

Each dataset source declares its own profile (``Source.profile``). ``--profile photo|cartoon`` asks for
the generic profile of the other kind (e.g. ``prepare folder --profile cartoon`` for a folder of
drawings). Photos get dlib's 68 points (and the 5-point ``lm5`` from them); cartoons get ``lm5`` from
animeface or a landmark regressor.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    detectors: tuple[str, ...]  # tried in order; "centre" = whole-image centre crop
    photo: bool = True  # photos get 68-point refinement, eye measurement and quality filters


PHOTO = Profile("photo", detectors=("scrfd",))
CARTOON = Profile("cartoon", detectors=("animeface", "scrfd", "centre"), photo=False)
"""Any drawn face: the anime face detector, a photo detector, else the centre crop; no photo filters."""
DRAWING = Profile("drawing", detectors=("scrfd", "centre"), photo=False)
"""Painted or rendered faces close to photos (bitmoji, portraits): the photo detector, else the centre crop."""
ANIME = Profile("anime", detectors=("animeface", "centre"), photo=False)
"""Anime drawings: the anime face detector, else the centre crop."""
KINDS = {"photo": PHOTO, "cartoon": CARTOON}
"""What ``--profile`` accepts."""
