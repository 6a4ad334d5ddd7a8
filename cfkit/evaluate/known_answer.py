"""The known-answer task: does a training method learn a translation at all?

Domain A is a set of real photos; domain B is *the same photos* passed through a fixed stylisation
filter (:func:`stylise`: edge-preserving smoothing, colour quantisation, dark edges). The methods
train unpaired (A and B are shuffled independently), but each held-out photo's ideal translation is
known: its own stylised copy. :func:`score` measures a trained method's translations of held-out
photos against those targets (evaluation's ``l1_target`` and ``lpips_target`` with AlexNet) beside the
"copy the input" baseline, which a method that learned nothing (or only the identity) scores.

    task = build_task(photo_folder, out="ka", size=64, n_test=16)
    run = cfkit.train.train("cartoongan", task.a, task.b, size=64, iters=300, substitute={"vgg19": "vgg16"})
    print(score(run, task))      # Score(l1=..., lpips=..., copy_l1=..., copy_lpips=...)

``cfkit demo`` uses the same filter for its synthetic cartoon domain; ``benchmarks/bench_learning.py``
trains every method on this task and prints the curve and the table of docs/train.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from cfkit.errors import InputError

TARGETS = "targets"  # TASK/targets/<id>.png: the stylised held-out photos at the task size
REVERSE = "reverse"  # TASK/reverse/: the task the other way round (reverse_task)


FILTER = 2
"""The current version of :func:`stylise`, recorded in a task's ``task.json`` (absent there: version 1)."""


def stylise(rgb: np.ndarray, levels: int = 6, version: int = FILTER) -> np.ndarray:
    """A classical cartoon filter: edge-preserving smoothing, colour quantisation, dark edges.

    ``version`` 1 is the filter before 2026-12-07, kept to rebuild the tasks measured with it: its top colour
    level overflowed uint8, so near-white smoothed pixels (>= 252 in a channel) came out near-black (17);
    version 2 caps them at 255."""
    import cv2

    if version not in (1, 2):
        raise InputError(f"stylise version {version}: 1 or 2")
    smooth = cv2.stylization(rgb, sigma_s=40, sigma_r=0.35)
    step = 256 // levels
    wide = smooth.astype(np.int16) if version == 2 else smooth  # version 1 computed in (wrapping) uint8
    flat = np.minimum((wide // step) * step + step // 2, 255)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    edges = cv2.adaptiveThreshold(cv2.medianBlur(gray, 5), 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 9, 4)
    return np.where(edges[..., None] > 0, flat, 0).astype(np.uint8)


@dataclass(frozen=True)
class KnownAnswerTask:
    """Prepared datasets ``a`` (photos: ``train`` and ``test`` rows, with ``masks/``) and ``b`` (the
    stylised ``train`` photos, with the same masks), and the stylised ``test`` photos in ``targets``."""

    a: Path
    b: Path
    targets: Path
    size: int
    filter: int = 1  # the version of stylise that made the targets

    @classmethod
    def at(cls, root: str | Path) -> KnownAnswerTask:
        """The task :func:`build_task` wrote in ``root``."""
        import json

        root = Path(root)
        meta = root / "task.json"
        if not meta.is_file():
            raise InputError(f"{root}: not a known-answer task folder (no task.json)")
        info = json.loads(meta.read_text())
        return cls(root / "A", root / "B", root / TARGETS, int(info["size"]), int(info.get("filter", 1)))

    def test_pairs(self) -> tuple[list[str], torch.Tensor, torch.Tensor]:
        """(ids, held-out photos, their targets): ``N x 3 x S x S`` uint8 tensors."""
        from cfkit.imageio import load_rgb
        from cfkit.train.data import fit_square, list_domain

        ids, paths, _ = list_domain(self.a, "test")
        photos = np.stack([fit_square(load_rgb(p), self.size) for p in paths])
        targets = np.stack([fit_square(load_rgb(self.targets / f"{i}.png"), self.size) for i in ids])
        as_t = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()  # noqa: E731
        return ids, as_t(photos), as_t(targets)


def build_task(
    photos: str | Path | list[Path],
    out: str | Path,
    size: int = 64,
    n_test: int = 16,
    seed: int = 0,
    masks: str | Path | None = None,
    landmarks: bool = False,
    groups: Mapping[str, str] | None = None,
    filter: int = FILTER,
) -> KnownAnswerTask:
    """Write the known-answer task for the face photos in ``photos`` (a folder, searched recursively, or
    a list of files) into ``out``: ``n_test`` photos chosen with ``seed`` are held out, spread over
    ``groups`` (photo id -> group, e.g. the source image of each face) in proportion to their sizes.

    Images are centre-cropped to a square and stored at ``size``; the filter runs on the photo at its own
    resolution, then the result is resized like the photo. A photo and its stylised copy share one mask:
    ``masks/<id>.png`` when ``masks`` names such a folder (a prepared dataset's), else the ellipse of an
    aligned face (:func:`cfkit.faces.masks.ellipse_mask`). With ``landmarks``, dlib's points of each
    photo (5-point scheme, ``lm5``) go into both manifests: the filter moves no feature, so a photo's
    points are its stylised copy's too (for methods that ``needs_landmarks``). Re-running with the
    same arguments reuses what is there. ``filter``: the version of :func:`stylise` (1 rebuilds the tasks
    measured before 2026-12-07).
    """
    import json

    import pandas as pd

    from cfkit.faces.locate import LandmarkChain
    from cfkit.faces.masks import ellipse_mask
    from cfkit.fsutil import atomic_write_json
    from cfkit.imageio import load_rgb, save_png
    from cfkit.train.data import fit_square

    out = Path(out)
    files, ids = _photo_files(photos)
    if len(files) < n_test + 4:
        raise InputError(f"{photos}: {len(files)} photos; the known-answer task needs at least {n_test + 4}")
    meta = {"size": size, "n_test": n_test, "seed": seed, "photos": [str(p) for p in files]}
    if filter != 1:  # a task.json without it is a version-1 task
        meta["filter"] = filter
    if masks is not None:
        meta["masks"] = str(masks)
    if landmarks:
        meta["landmarks"] = "dlib"
    labels = ids if groups is None else [str(groups.get(i, i)) for i in ids]
    if groups is not None:
        meta["groups"] = dict(zip(ids, labels, strict=True))
    if (out / "task.json").is_file():
        if json.loads((out / "task.json").read_text()) != meta:
            raise InputError(f"{out} holds a known-answer task built from other photos or options; choose another")
        return KnownAnswerTask.at(out)
    test = held_out(labels, n_test, seed)
    split = ["test" if k in test else "train" for k in range(len(files))]
    ellipse = ellipse_mask((size, size))
    locate = LandmarkChain("dlib", assume_aligned=True) if landmarks else None
    lm5: list[list[float] | None] = []
    for i, p, s in zip(ids, files, split, strict=True):
        rgb = load_rgb(p)
        if locate is not None:
            pts = locate(fit_square(rgb, min(rgb.shape[:2])))[0]
            lm5.append(None if pts is None else [round(float(v), 5) for v in pts.ravel()])
        mask = ellipse
        if masks is not None:
            curated = fit_square(load_rgb(Path(masks) / f"{i}.png")[..., 0], size)
            mask = np.where(curated > 127, 255, 0).astype(np.uint8)
        photo, target = known_pair(rgb, size, filter)
        save_png(out / "A" / "images" / f"{i}.png", photo)
        save_png(out / "A" / "masks" / f"{i}.png", mask)
        if s == "train":
            save_png(out / "B" / "images" / f"{i}.png", target)
            save_png(out / "B" / "masks" / f"{i}.png", mask)
        else:
            save_png(out / TARGETS / f"{i}.png", target)
    rows = pd.DataFrame({"id": ids, "split": split, "source": "known-answer"})
    if locate is not None:
        rows["lm5"] = lm5
        rows["lm_source"] = ["dlib68" if v is not None else None for v in lm5]
    write_manifests(rows, out)
    atomic_write_json(out / "task.json", meta)
    return KnownAnswerTask.at(out)


def _photo_files(photos: str | Path | list[Path]) -> tuple[list[Path], list[str]]:
    """The photo files of ``photos`` (a folder, searched recursively, or a list of files), absolute and
    sorted so that any spelling of the same photos gives the same list, and their ids (file stems, unique)."""
    from cfkit.imageio import is_image_path

    if isinstance(photos, (str, Path)):
        files = sorted(p for p in Path(os.path.abspath(photos)).rglob("*") if p.is_file() and is_image_path(p))
    else:
        files = sorted(Path(os.path.abspath(p)) for p in photos)
    ids = [p.stem for p in files]
    if len(set(ids)) != len(ids):
        raise InputError(f"{photos}: two photos share a file stem; ids must be unique")
    return files, ids


def known_pair(rgb: np.ndarray, size: int, filter: int = FILTER) -> tuple[np.ndarray, np.ndarray]:
    """(photo, its known answer) at ``size``: the filter (:func:`stylise` of version ``filter``) runs at the
    photo's own resolution, then both are centre-cropped and resized alike."""
    from cfkit.train.data import fit_square

    return fit_square(rgb, size), fit_square(stylise(rgb, version=filter), size)


def extra_test_set(task: KnownAnswerTask, photos: str | Path, name: str) -> tuple[Path, Path]:
    """More test pairs for ``task``: the face photos in ``photos`` (searched recursively; none of the task's
    own) through the task's filter and crop, written once into ``TASK/tests/NAME/photos`` and ``.../targets``
    (``<id>.png``) with the task's own filter version; returns those two folders for ``cfkit translate`` and
    ``cfkit eval --targets``.

    The task holds out a few photos; hundreds more give the paired tests of ``cfkit eval`` (each method
    against copying the input) the power to decide. Photos of another source than the task's (CelebA-HQ
    beside an FFHQ task) test the method on a shifted distribution, which a report should say."""
    import json

    from cfkit.fsutil import atomic_write_json
    from cfkit.imageio import load_rgb, save_png

    if not name or name != Path(name).name or name.startswith("."):
        raise InputError(f"test set name {name!r}: use a plain folder name")
    root = task.a.parent / "tests" / name
    files, ids = _photo_files(photos)
    if not files:
        raise InputError(f"{photos}: no images")
    own = set(json.loads((task.a.parent / "task.json").read_text())["photos"])
    if shared := [str(p) for p in files if str(p) in own]:
        raise InputError(f"{photos}: {len(shared)} photo(s) belong to the task itself, e.g. {shared[0]}")
    meta = {"size": task.size, "filter": task.filter, "photos": [str(p) for p in files]}
    if (root / "test_set.json").is_file():
        if json.loads((root / "test_set.json").read_text()) != meta:
            raise InputError(f"{root} holds a test set of other photos; choose another name")
        return root / "photos", root / TARGETS
    for i, p in zip(ids, files, strict=True):
        photo, target = known_pair(load_rgb(p), task.size, task.filter)
        save_png(root / "photos" / f"{i}.png", photo)
        save_png(root / TARGETS / f"{i}.png", target)
    atomic_write_json(root / "test_set.json", meta)
    return root / "photos", root / TARGETS


def write_manifests(rows, root: Path) -> None:
    """A task's two manifests: every row (``train`` and ``test``) for domain A, the ``train`` rows for B."""
    rows.to_parquet(root / "A" / "manifest.parquet")
    rows[rows.split == "train"].reset_index(drop=True).to_parquet(root / "B" / "manifest.parquet")


def reverse_task(task: KnownAnswerTask) -> KnownAnswerTask:
    """The same task the other way round, written once into ``TASK/reverse/``: domain A the stylised photos
    (``train`` rows and the held-out ``test`` rows), domain B the training photos, and the held-out photos
    as the targets, with the same ids, masks and landmarks. For cartoon -> photo methods (cpgan) and a
    ``cfkit bench`` of direction ``cartoon -> photo`` (``pipelines/bench/known-answer-reverse.yaml``)."""
    import json
    import shutil

    import pandas as pd

    from cfkit.fsutil import atomic_write_json

    root = task.a.parent / REVERSE
    if (root / "task.json").is_file():
        return KnownAnswerTask.at(root)

    def copy(src: Path, *dsts: Path) -> None:
        for dst in dsts:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)

    rows = pd.read_parquet(task.a / "manifest.parquet")
    for i, split in zip(rows["id"], rows["split"], strict=True):
        held = split == "test"
        image, mask = f"images/{i}.png", f"masks/{i}.png"
        copy(task.targets / f"{i}.png" if held else task.b / image, root / "A" / image)
        copy(task.a / image, root / TARGETS / f"{i}.png" if held else root / "B" / image)
        copy(task.a / mask, root / "A" / mask, *([] if held else [root / "B" / mask]))
    write_manifests(rows, root)
    meta = json.loads((task.a.parent / "task.json").read_text())
    atomic_write_json(root / "task.json", {**meta, "reverse": True})
    return KnownAnswerTask.at(root)


def held_out(groups: list[str], n: int, seed: int) -> set[int]:
    """``n`` indices of ``groups`` drawn with ``seed``, each group's share in proportion to its size
    (largest remainder), so a few large groups (many faces of one group photo) do not decide the test set
    by chance. With one group per item this is a plain random draw."""
    rng = np.random.default_rng(seed)
    members: dict[str, list[int]] = {}
    for k in rng.permutation(len(groups)).tolist():
        members.setdefault(groups[k], []).append(k)
    quota = {g: n * len(m) / len(groups) for g, m in members.items()}
    count = {g: int(q) for g, q in quota.items()}
    for g in sorted(quota, key=lambda g: quota[g] - count[g], reverse=True)[: n - sum(count.values())]:
        count[g] += 1
    return {k for g, m in members.items() for k in m[: count[g]]}


@dataclass(frozen=True)
class Score:
    """Distances to the known targets of the held-out photos (lower is better)."""

    l1: float  # mean |G(x) - target| in [0, 1] pixel units
    lpips: float  # LPIPS-AlexNet
    copy_l1: float  # the same for the baseline that returns x unchanged
    copy_lpips: float
    n: int

    @property
    def beats_copy(self) -> bool:
        """Both distances below the copy-the-input baseline's."""
        return self.l1 < self.copy_l1 and self.lpips < self.copy_lpips

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _target_distances() -> tuple[Callable, Callable]:
    """(L1, LPIPS-AlexNet) per image pair of ``N x 3 x S x S`` batches in [-1, 1]: evaluation's ``l1_target``
    and ``lpips_target`` features (their network is loaded once per process)."""
    from cfkit.evaluate.config import EvalConfig
    from cfkit.evaluate.features.target import L1ToTarget, LPIPSToTarget

    cfg = EvalConfig(lpips_net="alex", metrics=[])
    features = L1ToTarget(), LPIPSToTarget()
    for f in features:
        f.open(cfg, "cpu")
    return tuple(lambda a, b, f=f: f.batch_distance(a, b).flatten() for f in features)


def _translator(model) -> Callable[[torch.Tensor], torch.Tensor]:
    from cfkit.train.inference import load_method
    from cfkit.train.method import Method

    if isinstance(model, (str, Path)):
        model = load_method(model, "cpu")[0]
    if isinstance(model, Method):
        method = model

        def run(x: torch.Tensor) -> torch.Tensor:
            nets = list(method.nets.values())
            modes = [n.training for n in nets]
            for n in nets:
                n.eval()
            try:
                return method.translate(x.to(method.device)).float().cpu()
            finally:
                for n, m in zip(nets, modes, strict=True):
                    n.train(m)

        return run
    return model


def score(model, task: KnownAnswerTask, batch: int = 16, reverse: bool = False) -> Score:
    """Score ``model`` (a run folder or checkpoint, a :class:`~cfkit.train.method.Method` with its weights,
    or a function from images in [-1, 1] to images in [-1, 1]) on the task's held-out photos.

    ``reverse``: for cartoon -> photo methods (trained with ``task.b`` as domain A and ``task.a`` as B),
    the inputs are the held-out stylised photos and the known answers the photos themselves (the copy
    baseline is the same distance either way)."""
    from cfkit.train.data import to_float, to_uint8

    translate = _translator(model)
    l1_to, lpips_to = _target_distances()
    _, photos, targets = task.test_pairs()
    if reverse:
        photos, targets = targets, photos
    l1, lp, cl1, clp = [], [], [], []
    with torch.no_grad():
        for s in range(0, len(photos), batch):
            x, t = to_float(photos[s : s + batch]), to_float(targets[s : s + batch])
            y = to_float(to_uint8(translate(x)))  # scored as the PNGs translate would write
            if y.shape != t.shape:
                raise InputError(f"translations are {tuple(y.shape[-2:])} px, the task's targets {task.size} px")
            l1.append(l1_to(y, t))
            cl1.append(l1_to(x, t))
            lp.append(lpips_to(y, t))
            clp.append(lpips_to(x, t))
    mean = lambda v: float(torch.cat(v).mean())  # noqa: E731
    return Score(mean(l1), mean(lp), mean(cl1), mean(clp), len(photos))
