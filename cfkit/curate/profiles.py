"""Per-source processing knobs: which detectors, which template, whether dlib refines/measures."""

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
PROFILES: dict[str, Profile] = {
    "ffhq": PHOTO,
    "celeba": PHOTO,
    "idphoto": PHOTO,
    "folder": PHOTO,
    "anime": Profile(detectors=("animeface", "centre"), photo=False),
    "handpainted": Profile(detectors=("scrfd", "centre"), photo=False),
    "bitmoji": Profile(detectors=("scrfd", "centre"), photo=False),
}


def profile(source: str) -> Profile:
    return PROFILES.get(source, PHOTO)
