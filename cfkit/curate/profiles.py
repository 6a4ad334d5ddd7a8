"""Per-source processing knobs: which detectors, which template, whether dlib refines/measures.

A source's own profile is used unless ``--profile photo|cartoon`` asks for the other kind (e.g.
``prepare folder --profile cartoon`` for a folder of drawings). Photos get dlib's 68 points (and the
5-point ``lm5`` from them); cartoons get ``lm5`` from animeface or a landmark regressor.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    detectors: tuple[str, ...]  # tried in order; "centre" = whole-image centre crop
    template: str = "ffhq"
    photo: bool = True  # photos get 68-point refinement, eye measurement and quality filters

    @property
    def refine(self) -> bool:
        return self.photo


PHOTO = Profile(detectors=("scrfd",))
CARTOON = Profile(detectors=("animeface", "scrfd", "centre"), photo=False)
KINDS = {"photo": PHOTO, "cartoon": CARTOON}
PROFILES: dict[str, Profile] = {
    "ffhq": PHOTO,
    "celeba": PHOTO,
    "idphoto": PHOTO,
    "folder": PHOTO,
    "anime": Profile(detectors=("animeface", "centre"), photo=False),
    "handpainted": Profile(detectors=("scrfd", "centre"), photo=False),
    "bitmoji": Profile(detectors=("scrfd", "centre"), photo=False),
}


def profile(source: str, kind: str | None = None) -> Profile:
    """The profile of ``source``, or the generic one of ``kind`` ("photo" | "cartoon") if it differs."""
    from cfkit.errors import InputError

    own = PROFILES.get(source, PHOTO)
    if kind is None:
        return own
    if kind not in KINDS:
        raise InputError(f"unknown --profile '{kind}' (known: {', '.join(KINDS)})")
    return own if own.photo == (kind == "photo") else KINDS[kind]
