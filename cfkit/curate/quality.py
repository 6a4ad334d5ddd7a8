"""Quality scores of a detected face: size, sharpness, pose from the 5 keypoints."""

from __future__ import annotations

import cv2
import numpy as np

from cfkit.curate.defaults import QualityThresholds


def blur_score(rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image, rescaled to a 128 px face (higher = sharper)."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if grey.shape[0] != 128:
        grey = cv2.resize(grey, (128, 128), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def pose_scores(kps: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) proxies from 5 points in a roll-corrected frame; 0 = frontal.

    yaw: nose offset from the eye midpoint across the face, per inter-ocular distance.
    pitch: nose height between the eye line and the mouth line, minus 0.5.
    """
    k = np.asarray(kps, np.float64)
    eye_mid, mouth_mid = (k[0] + k[1]) / 2, (k[3] + k[4]) / 2
    ex = k[1] - k[0]
    iod = np.hypot(*ex)
    if iod < 1e-6:
        return 1.0, 1.0
    ux = ex / iod
    uy = np.array([-ux[1], ux[0]])
    nose = k[2] - eye_mid
    down = float((mouth_mid - eye_mid) @ uy)
    yaw = abs(float(nose @ ux)) / iod
    pitch = abs(float(nose @ uy) / down - 0.5) if down > 1e-6 else 1.0
    return yaw, pitch


def face_size(box: np.ndarray) -> float:
    return float(min(box[2] - box[0], box[3] - box[1]))


def quality_reason(scores: dict, q: QualityThresholds) -> str | None:
    """The first failed check (``small_face``, ``blurry``, ``extreme_pose``) or None."""
    if scores.get("face_px") is not None and scores["face_px"] < q.min_face_px:
        return "small_face"
    if scores["blur"] < q.min_blur:
        return "blurry"
    if scores.get("yaw") is not None and (scores["yaw"] > q.max_yaw or scores["pitch"] > q.max_pitch):
        return "extreme_pose"
    return None
