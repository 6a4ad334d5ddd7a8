"""Identity embeddings: insightface ArcFace (buffalo_l) when installed, else dlib's ResNet.

backend = get_identity_backend("auto")
e = backend.embed(rgb)          # L2-normalised vector, or None when no face is found
backend.name, backend.provenance  # recorded in every result
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from cfkit.assets import asset_dir, asset_info, asset_path, is_installed
from cfkit.errors import CfkitError
from cfkit.fetch.archive import extract


def _normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / max(float(np.linalg.norm(v)), 1e-12)


class DlibIdentity:
    """dlib ResNet 128-d descriptor (offline asset ``dlib-identity``; CC0)."""

    name = "dlib-resnet128"

    def __init__(self):
        import dlib

        from cfkit.faces.landmarks import Landmarks68

        self._lm = Landmarks68()
        self._model = dlib.face_recognition_model_v1(str(asset_path("dlib-identity")))
        self._lock = threading.Lock()
        self.provenance = {k: asset_info(k)["sha256"] for k in ("dlib-identity", "dlib-landmarks68")}

    def embed(self, rgb: np.ndarray, assume_aligned: bool = False) -> np.ndarray | None:
        boxes = self._lm.boxes(rgb)
        if boxes:
            box = boxes[0]
        elif assume_aligned:
            h, w = rgb.shape[:2]
            box = (0.15 * w, 0.2 * h, 0.85 * w, 0.9 * h)
        else:
            return None
        shape = self._lm.shape(rgb, box)
        with self._lock:
            desc = self._model.compute_face_descriptor(np.ascontiguousarray(rgb), shape)
        return _normalise(np.array(desc))


class ArcFaceIdentity:
    """insightface buffalo_l: SCRFD det_10g + ArcFace w600k_r50 (research-only licence)."""

    name = "arcface-w600k_r50"

    def __init__(self):
        from insightface.app import FaceAnalysis

        root = asset_dir("buffalo_l")
        pack = root / "models" / "buffalo_l"
        if not pack.is_dir():
            extract(asset_path("buffalo_l"), pack, select=_onnx_flat)
        self._app = FaceAnalysis(
            name="buffalo_l",
            root=str(root),
            allowed_modules=["detection", "recognition"],
            providers=["CPUExecutionProvider"],
        )
        self._app.prepare(ctx_id=-1, det_size=(640, 640))
        self._lock = threading.Lock()
        self.provenance = {"buffalo_l": asset_info("buffalo_l")["sha256"]}

    def embed(self, rgb: np.ndarray, assume_aligned: bool = False) -> np.ndarray | None:
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        with self._lock:
            faces = self._app.get(bgr)
        if not faces:
            return None
        face = max(faces, key=lambda f: (f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]))
        return _normalise(face.normed_embedding)


def _onnx_flat(member: str) -> str | None:
    """Keep only the .onnx files of a model pack, flattened (insightface looks for them in one folder)."""
    base = Path(member).name
    return base if base.endswith(".onnx") and not base.startswith(".") else None


BACKENDS = {"arcface": ArcFaceIdentity, "dlib": DlibIdentity}


def get_identity_backend(name: str = "auto"):
    """``auto`` picks ArcFace when buffalo_l is installed, else dlib (always fetchable offline)."""
    if name == "auto":
        name = "arcface" if is_installed("buffalo_l") else "dlib"
    if name not in BACKENDS:
        raise CfkitError(f"unknown identity backend '{name}' (known: auto, {', '.join(BACKENDS)})")
    return BACKENDS[name]()
