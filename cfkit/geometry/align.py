"""Face alignment from 5 keypoints: FFHQ oriented quad or the ArcFace ``norm_crop`` template.

    aligned = align_face(rgb, kps5, size=128, template="ffhq")
    aligned.image, aligned.matrix          # output image; 2x3 map from input to output pixels

``ffhq`` follows the FFHQ dataset script (``recreate_aligned_images``): an oriented square from
the eye and mouth centres (here from the 5 detector points), reflect-padded at the borders.
``arcface`` is insightface's ``estimate_norm``/``norm_crop`` (similarity fit of the 5 points to
the 112 px template, scaled; sizes that are multiples of 128 use insightface's +8 px shift).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from cfkit.geometry.scheme import eye_centres

TEMPLATES = ("ffhq", "arcface")

ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)
"""insightface's ``arcface_dst`` (float32, as there: the fit below then matches ``estimate_norm`` exactly)."""


@dataclass
class AlignedFace:
    image: np.ndarray
    matrix: np.ndarray  # 2x3, input pixel -> output pixel
    kps: np.ndarray  # the 5 points in output pixels
    template: str
    size: int


def arcface_points(size: int) -> np.ndarray:
    """The ArcFace 5-point template for ``size`` px, computed as insightface's ``estimate_norm`` does."""
    ratio, shift = (size / 112.0, 0.0) if size % 112 == 0 else (size / 128.0, 8.0 * size / 128.0)
    dst = ARCFACE_112 * ratio
    dst[:, 0] += shift
    return dst


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (2x3) taking ``src`` points onto ``dst``: scikit-image's
    ``SimilarityTransform`` estimate, the fit insightface's ``estimate_norm`` uses (so ``arcface``
    crops equal ``norm_crop``'s)."""
    from skimage.transform import SimilarityTransform

    if hasattr(SimilarityTransform, "from_estimate"):  # scikit-image >= 0.26
        tform = SimilarityTransform.from_estimate(src, dst)
    else:
        tform = SimilarityTransform()
        tform.estimate(src, dst)
    return tform.params[:2]


def ffhq_quad(kps: np.ndarray) -> np.ndarray:
    """The FFHQ script's oriented square (TL, BL, BR, TR) from 5 points (eyes, nose, mouth corners)."""
    kps = np.asarray(kps, np.float64)
    eye_left, eye_right, mouth_left, mouth_right = kps[0], kps[1], kps[3], kps[4]
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = (mouth_left + mouth_right) * 0.5 - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def template_matrix(kps: np.ndarray, size: int, template: str = "ffhq") -> np.ndarray:
    """2x3 affine taking input pixel coordinates to output pixel coordinates."""
    if template == "arcface":
        return similarity_fit(kps, arcface_points(size))
    if template == "ffhq":
        # PIL's QUAD transform maps output corners onto quad + 0.5 (pixel-area coordinates).
        quad = ffhq_quad(kps) + 0.5
        corners = np.array([[0, 0], [0, size], [size, size]], np.float64)
        m = cv2.getAffineTransform(quad[:3].astype(np.float32), corners.astype(np.float32)).astype(np.float64)
        m[:, 2] += m[:, :2].sum(1) * 0.5 - 0.5  # back to pixel-centre coordinates on both sides
        return m
    raise ValueError(f"unknown template {template!r} (known: {', '.join(TEMPLATES)})")


def transform_points(matrix: np.ndarray, pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts, np.float64)
    return (pts @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def template_eyes(template: str, size: int) -> np.ndarray:
    """Where the template puts the eye centres (2x2, image-left eye first).

    ArcFace: its template points. FFHQ has no fixed points (the square follows each face), so
    the reference is where the FFHQ square puts the eyes of the canonical ArcFace face.
    """
    if template == "arcface":
        return arcface_points(size)[:2].astype(np.float32)
    canon = arcface_points(112)
    return transform_points(template_matrix(canon, size, template), canon[:2])


def warp(rgb: np.ndarray, matrix: np.ndarray, size: int, border: int, value=0) -> np.ndarray:
    """``cv2.warpAffine`` that first box-shrinks by an integer factor when minifying by > 2x."""
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    shrink = int(np.floor(0.5 / scale)) if scale > 0 else 1
    if shrink > 1:
        h, w = rgb.shape[:2]
        rgb = cv2.resize(rgb, (max(1, w // shrink), max(1, h // shrink)), interpolation=cv2.INTER_AREA)
        up = np.array([[shrink, 0, (shrink - 1) / 2], [0, shrink, (shrink - 1) / 2], [0, 0, 1]], np.float64)
        matrix = matrix @ up
    return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=value)


def align_face(rgb: np.ndarray, kps: np.ndarray, size: int = 128, template: str = "ffhq") -> AlignedFace:
    """Crop and rotate the face given by 5 keypoints into a ``size`` x ``size`` image."""
    m = template_matrix(kps, size, template)
    border = cv2.BORDER_REFLECT if template == "ffhq" else cv2.BORDER_CONSTANT
    img = warp(rgb, m, size, border)
    return AlignedFace(img, m, transform_points(m, kps), template, size)


def eye_error(lm68: np.ndarray, template: str, size: int) -> float:
    """Largest distance (px) between a measured eye centre and the template's eye position."""
    measured = np.stack(eye_centres(np.asarray(lm68, np.float64)))
    return float(np.linalg.norm(measured - template_eyes(template, size), axis=1).max())


def centre_crop(rgb: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Largest centred square, resized to ``size``; returns (image, 2x3 matrix)."""
    h, w = rgb.shape[:2]
    side = min(h, w)
    x0, y0 = (w - side) / 2.0, (h - side) / 2.0
    s = size / side
    m = np.array([[s, 0, (-x0 + 0.5) * s - 0.5], [0, s, (-y0 + 0.5) * s - 0.5]], np.float64)
    return warp(rgb, m, size, cv2.BORDER_REFLECT), m
