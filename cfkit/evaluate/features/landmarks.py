"""5-point landmarks (:mod:`cfkit.geometry.scheme`) of sources and of outputs, each from its domain's source.

``landmarks_source`` measures the method inputs with the chain ``cfg.landmarks_source`` and
``landmarks_output`` the outputs with ``cfg.landmarks_output`` (:class:`cfkit.faces.locate.LandmarkChain`:
``dlib`` on photos, ``animeface`` and/or a ``landmark-regressor`` run on cartoons). Values are
``(5, 2)`` points in units of the image's width/height (an output at another resolution than its
source compares in the same frame), None where no source found the face.
"""

from __future__ import annotations

from cfkit.evaluate.features import FEATURES
from cfkit.evaluate.features._base import OUTPUT, SOURCE, Feature, process_model


def _chain(spec: str, assume_aligned: bool):
    from cfkit.faces.locate import LandmarkChain

    return process_model(("landmarks", spec, assume_aligned), lambda: LandmarkChain(spec, assume_aligned))


class _Landmarks(Feature):
    option = ""  # the EvalConfig field naming the chain

    def _spec(self, cfg) -> str:
        return str(getattr(cfg, self.option))

    def open(self, cfg, device):
        from cfkit.fsutil import sha256_file

        chain = _chain(self._spec(cfg), cfg.landmarks_assume_aligned)
        regressors = {s.net.source: sha256_file(s.net.source) for _, s in chain.sources if hasattr(s, "net")}
        return {"chain": chain.spec, "assume_aligned": cfg.landmarks_assume_aligned, "regressors": regressors}

    def per_image(self, rgb, cfg):
        pts, source, _ = _chain(self._spec(cfg), cfg.landmarks_assume_aligned)(rgb)
        return None if pts is None else (pts, source)


@FEATURES.register("landmarks_source")
class SourceLandmarks(_Landmarks):
    name = "landmarks_source"
    kinds = (SOURCE,)
    option = "landmarks_source"


@FEATURES.register("landmarks_output")
class OutputLandmarks(_Landmarks):
    name = "landmarks_output"
    kinds = (OUTPUT,)
    option = "landmarks_output"
