"""dlib's 68 face points of sources and outputs, in units of the image's width/height; None where no face is found.

Relative units let an output at another resolution than its source (a 64 px translation of a 128 px
face) be compared in the same frame.
"""

from __future__ import annotations

import numpy as np

from cfkit.evaluate.features import FEATURES
from cfkit.evaluate.features._base import Feature, process_model


def _model():
    from cfkit.faces.landmarks import Landmarks68

    return process_model(("landmarks68",), Landmarks68)


@FEATURES.register("landmarks")
class Landmarks68Feature(Feature):
    name = "landmarks"

    def open(self, cfg, device):
        _model()
        return {}

    def per_image(self, rgb, cfg):
        pts = _model().detect(rgb, assume_aligned=cfg.landmarks_assume_aligned)
        return None if pts is None else pts / np.array(rgb.shape[1::-1], np.float32)
