"""Photo face detection with 5 keypoints: insightface SCRFD, batched and sized to the image.

The detector is insightface's ``FaceAnalysis(allowed_modules=['detection'])`` (the SCRFD
asset, or ``buffalo_l``'s ``det_10g`` when that pack is installed). Two changes make it fast
without changing its numbers: the ONNX graph is rewritten once to take any batch and input
size (its two fixed-size ``Resize`` nodes become scale-2 resizes; outputs match the original
640x640 graph to 1e-6), so images of one size run as one batch, and each image is letterboxed
to a canvas just big enough for it (a 128 px face is detected at 128x128, not 640x640).

    det = FaceDetector()
    faces = det.detect(rgb)            # list[Detection], best first
    batches = det.detect_batch([rgb1, rgb2, ...])
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cfkit.resources import cache_dir

BUFFALO_DET = Path("~/.insightface/models/buffalo_l/det_10g.onnx").expanduser()


@dataclass
class Detection:
    """One face: ``box`` x1,y1,x2,y2 and ``kps`` 5x2 (left eye, right eye, nose, mouth left, mouth right)."""

    box: np.ndarray
    score: float
    kps: np.ndarray

    @property
    def area(self) -> float:
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))


def detector_model_path() -> Path:
    """``buffalo_l/det_10g.onnx`` when installed, else the ``scrfd`` asset (AssetMissingError if absent)."""
    if BUFFALO_DET.is_file():
        return BUFFALO_DET
    from cfkit.assets import asset_path

    return asset_path("scrfd")


def dynamic_model_dir(path: Path) -> Path:
    """A model folder holding ``path`` rewritten for dynamic batch/size (cached by content hash).

    If the graph cannot be rewritten (an unknown layout), the folder holds the original model.
    """
    data = path.read_bytes()
    out = cache_dir("detector") / f"{path.stem}-dyn-{hashlib.sha256(data).hexdigest()[:16]}"
    target = out / path.name
    if target.is_file():
        return out
    from cfkit.fsutil import atomic_write_bytes

    try:
        blob = _make_dynamic(data)
    except Exception:  # noqa: BLE001 - keep the original graph; batch 1 at its fixed size still works
        blob = data
    atomic_write_bytes(target, blob)
    return out


def _make_dynamic(data: bytes) -> bytes:
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(data)
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "Resize":
            continue
        if len(node.input) < 4 or node.input[3] not in inits:
            raise ValueError("Resize without constant sizes")
        sizes = numpy_helper.to_array(inits[node.input[3]])
        if len(sizes) != 4:
            raise ValueError("unexpected Resize sizes")
        name = node.output[0] + "_scales"
        model.graph.initializer.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), name))
        node.input[2] = name
        del node.input[3:]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for i, sym in ((0, "N"), (2, "H"), (3, "W")):
        dims[i].dim_param = sym
    for out in model.graph.output:
        for d in out.type.tensor_type.shape.dim:
            d.dim_param = "?"
    del model.graph.value_info[:]
    return model.SerializeToString()


def _canvas_side(h: int, w: int, det_size: int, min_size: int) -> tuple[int, float]:
    """Square canvas side (multiple of 32) and the scale that fits the image into it."""
    long_side = max(h, w)
    side = int(np.clip(np.ceil(long_side / 32.0) * 32, min_size, det_size))
    return side, min(side / long_side, 1.0) if long_side > side else 1.0


class FaceDetector:
    """SCRFD through insightface, batched; ``threads`` is onnxruntime's intra-op thread count."""

    def __init__(
        self,
        threshold: float = 0.5,
        det_size: int = 640,
        min_size: int = 128,
        threads: int = 0,
        model_path: Path | None = None,
    ):
        import onnxruntime as ort
        from insightface.app import FaceAnalysis

        src = Path(model_path) if model_path else detector_model_path()
        model_dir = dynamic_model_dir(src)
        app = FaceAnalysis(name=str(model_dir), allowed_modules=["detection"], providers=["CPUExecutionProvider"])
        self.model = app.det_model
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.model.session = ort.InferenceSession(str(model_dir / src.name), opts, providers=["CPUExecutionProvider"])
        shape = self.model.session.get_inputs()[0].shape
        self.fixed = isinstance(shape[2], int)
        self.det_size = int(shape[2]) if self.fixed else det_size
        self.min_size = self.det_size if self.fixed else min_size
        self.threshold = threshold
        self.name = src.name

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        return self.detect_batch([rgb])[0]

    def detect_batch(self, images: list[np.ndarray], batch_size: int = 16) -> list[list[Detection]]:
        """Faces per image (best score first); images sharing a canvas size run as one batch."""
        plans = []
        for img in images:
            side, scale = _canvas_side(img.shape[0], img.shape[1], self.det_size, self.min_size)
            plans.append((side, scale))
        results: list[list[Detection]] = [[] for _ in images]
        groups: dict[int, list[int]] = {}
        for i, (side, _) in enumerate(plans):
            groups.setdefault(side, []).append(i)
        step = 1 if self.fixed else batch_size
        for side, idx in groups.items():
            for k in range(0, len(idx), step):
                chunk = idx[k : k + step]
                blobs = [self._blob(images[i], side, plans[i][1]) for i in chunk]
                outs = self.model.session.run(self.model.output_names, {self.model.input_name: np.concatenate(blobs)})
                for j, i in enumerate(chunk):
                    results[i] = self._decode(outs, j, len(chunk), side, plans[i][1])
        return results

    def _blob(self, rgb: np.ndarray, side: int, scale: float) -> np.ndarray:
        h, w = rgb.shape[:2]
        if scale != 1.0:
            rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        canvas = np.zeros((side, side, 3), np.float32)
        canvas[: rgb.shape[0], : rgb.shape[1]] = rgb
        blob = (canvas - self.model.input_mean) / self.model.input_std
        return blob.transpose(2, 0, 1)[None]

    def _decode(self, outs, j: int, n: int, side: int, scale: float) -> list[Detection]:
        from insightface.model_zoo.scrfd import distance2bbox, distance2kps

        m = self.model
        scores_l, boxes_l, kps_l = [], [], []
        for idx, stride in enumerate(m._feat_stride_fpn):

            def part(o):
                return outs[o].reshape(n, -1, outs[o].shape[-1])[j]

            scores = part(idx)[:, 0]
            fh = fw = side // stride
            centers = np.stack(np.mgrid[:fh, :fw][::-1], axis=-1).astype(np.float32).reshape(-1, 2) * stride
            if m._num_anchors > 1:
                centers = np.repeat(centers, m._num_anchors, axis=0)
            keep = np.where(scores >= self.threshold)[0]
            if keep.size == 0:
                continue
            scores_l.append(scores[keep])
            boxes_l.append(distance2bbox(centers[keep], part(idx + m.fmc)[keep] * stride))
            kps_l.append(distance2kps(centers[keep], part(idx + 2 * m.fmc)[keep] * stride).reshape(-1, 5, 2))
        if not scores_l:
            return []
        scores = np.concatenate(scores_l)
        order = np.argsort(-scores, kind="stable")
        dets = np.hstack([np.concatenate(boxes_l) / scale, scores[:, None]]).astype(np.float32)[order]
        kps = (np.concatenate(kps_l) / scale).astype(np.float32)[order]
        keep = m.nms(dets)
        return [Detection(box=dets[k, :4].copy(), score=float(dets[k, 4]), kps=kps[k].copy()) for k in keep]
