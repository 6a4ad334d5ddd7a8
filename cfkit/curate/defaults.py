"""The one place for ``prepare``/``align``/``mask`` defaults, shared by the CLI and the Python API."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from cfkit.errors import InputError


@dataclass(frozen=True)
class QualityThresholds:
    """A kept face passes all of these (quality scores are stored in the manifest either way)."""

    min_face_px: float = 40.0  # shorter side of the detection box, source pixels
    min_blur: float = 15.0  # variance of the Laplacian of the aligned grey face (128 px scale)
    max_yaw: float = 0.6  # |nose offset from the eye midline| / inter-ocular distance
    max_pitch: float = 0.35  # |nose height between eyes and mouth - 0.5|
    max_phash_distance: int = 4  # perceptual-hash Hamming distance counted as a near-duplicate
    eye_tolerance_px: float = 2.0  # the card's eye-alignment figure: share of faces within this


@dataclass(frozen=True)
class PrepareOptions:
    """Options of one ``prepare`` run; ``fingerprint()`` guards a resumed run against changed options."""

    size: int = 128
    template: str = "ffhq"  # ffhq | arcface (cfkit.geometry.align.TEMPLATES)
    policy: str = "largest"
    mask: bool = False
    mask_method: str = "landmarks"
    seed: int = 0
    splits: tuple[tuple[str, float], ...] = (("train", 0.9), ("val", 0.05), ("test", 0.05))
    quality: QualityThresholds = field(default_factory=QualityThresholds)

    def __post_init__(self) -> None:
        names = [name for name, _ in self.splits]
        if not self.splits or len(set(names)) != len(names) or not all(names):
            raise InputError(f"splits must name distinct non-empty splits (got {list(self.splits)})")
        fractions = [f for _, f in self.splits]
        if not all(math.isfinite(f) and f >= 0 for f in fractions) or not sum(fractions) > 0:
            raise InputError(f"split sizes must be >= 0 and add up to more than 0 (got {list(self.splits)})")

    def fingerprint(self) -> dict:
        d = asdict(self)
        d.pop("seed")  # splits are recomputed at the end; the seed does not change per-image work
        d.pop("splits")
        return d


PREPARE_DEFAULTS = PrepareOptions()
CHUNK = 16  # images per work unit (one journal part)
