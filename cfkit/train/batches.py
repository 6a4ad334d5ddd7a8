"""Training batches: the domains a run reads, and the augmented, device-ready micro-batches drawn from them.

Domains are held at the method's ``load_size`` (CartoonGAN's edge-smoothed B beside them); a batch is
random ``size`` crops (one offset per image, shared by its mask, edge-smoothed copy and landmarks),
random horizontal flips (``flip``), moved to the device as floats in [-1, 1] (masks in [0, 1]), plus
landmark heatmaps for methods that need them. Index streams shard each domain over DDP processes.
"""

from __future__ import annotations

import torch

from cfkit.train.config import TrainOptions
from cfkit.train.data import Domain, IndexStream, load_domain, to_float
from cfkit.train.method import Batch, Method
from cfkit.train.store import UInt8Store


class Batches:
    """The domains of a run and its batches; ``size`` is the resolved training size (never ``auto``)."""

    def __init__(
        self,
        method: Method,
        options: TrainOptions,
        size: int,
        device: torch.device,
        channels_last: bool,
        rank: int = 0,
        world: int = 1,
    ):
        """Load the domains (call on rank 0 first under DDP: it builds the stores the others reuse)."""
        self.size, self.flip, self.device = size, options.flip, device
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        load = method.load_size()
        self.data_a = load_domain(options.data_a, load, options.split)
        self.data_b = None if method.one_domain else load_domain(options.data_b, load, options.split)
        self.smooth_b: UInt8Store | None = None
        if method.needs_edge_smoothed_b:
            from cfkit.train.edges import edge_smoothed

            self.smooth_b = edge_smoothed(self.data_b.images)
        self.lm: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # domain key -> (points, ok)
        if method.needs_landmarks:  # an instance may decide from its recipe (cpgan)
            from cfkit.train.landmark_data import domain_landmarks

            for key, dom in (("a", self.data_a), ("b", self.data_b)):
                if dom is not None:
                    self.lm[key] = domain_landmarks(dom.root, dom.ids, size)
        seed = options.seed
        self.stream_a = IndexStream(len(self.data_a), seed, rank, world)
        self.stream_b = None if self.data_b is None else IndexStream(len(self.data_b), seed + 1, rank, world)

    def epoch_images(self, which: str) -> int:
        """Images per epoch: of domain ``a``, ``b`` or the ``max`` of both (a method's ``epoch_images``)."""
        n_a = len(self.data_a)
        n_b = n_a if self.data_b is None else len(self.data_b)
        return {"a": n_a, "b": n_b, "max": max(n_a, n_b)}[which]

    def streams(self) -> dict[str, IndexStream]:
        """The index streams by domain key (their positions are part of a checkpoint)."""
        return {k: s for k, s in (("a", self.stream_a), ("b", self.stream_b)) if s is not None}

    def next(self, batch: int) -> Batch:
        """The next ``batch`` images of each domain, augmented."""
        ia = self.stream_a.take(batch)
        t = self._gather(self.data_a, ia, None, "a", True)
        ids = {"a": [self.data_a.ids[i] for i in ia]}
        if self.data_b is not None:
            ib = self.stream_b.take(batch)
            t.update(self._gather(self.data_b, ib, self.smooth_b, "b", True))
            ids["b"] = [self.data_b.ids[i] for i in ib]
        return Batch(self._to_device(t), ids)

    def fixed(self, n: int = 8) -> Batch:
        """The first ``n`` images of each domain, unaugmented: the subjects of sample grids."""
        ia = list(range(min(n, len(self.data_a))))
        t = self._gather(self.data_a, ia, None, "a", False)
        if self.data_b is not None:
            t.update(self._gather(self.data_b, list(range(min(n, len(self.data_b)))), self.smooth_b, "b", False))
        return Batch(self._to_device(t), {"a": [self.data_a.ids[i] for i in ia]})

    def _to_device(self, t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        real = torch.get_default_dtype()  # float64 under torch.set_default_dtype: exact runs (the DDP tests)
        out = {}
        for k, v in t.items():
            v = v.to(self.device, non_blocking=True)
            if k.endswith(("_lm", "_lm_ok")):
                out[k] = v.to(real)
                continue
            v = v.to(real).div_(255.0) if k.endswith("_mask") else to_float(v)
            out[k] = v.contiguous(memory_format=self.memory_format)
        if self.lm:
            from cfkit.train.landmark_data import with_heatmaps

            with_heatmaps(out, self.size)
        return out

    def _gather(self, dom: Domain, idx: list[int], extra: UInt8Store | None, key: str, augment: bool):
        t = {key: dom.images[idx]}
        if dom.masks is not None:
            t[f"{key}_mask"] = dom.masks[idx]
        if extra is not None:
            t[f"{key}_smooth"] = extra[idx]
        lm = self.lm.get(key)
        pts, ok = (lm[0][idx], lm[1][idx]) if lm is not None else (None, None)
        t, crop = self._crop(t, random=augment)
        if pts is not None and crop is not None:  # image-relative points follow the crop
            (ys, xs), side, size = crop
            offset = torch.tensor([xs, ys], dtype=pts.dtype).T[:, None, :]
            pts = (pts * side - offset) / size * ok[:, None, None]
        if augment and self.flip:
            f = torch.rand(len(idx)) < 0.5
            for k in t:
                t[k][f] = t[k][f].flip(-1)
            if pts is not None:
                from cfkit.train.landmark_data import flip_landmarks

                pts[f] = flip_landmarks(pts[f], ok[f])
        if pts is not None:
            t[f"{key}_lm"], t[f"{key}_lm_ok"] = pts, ok
        return t

    def _crop(self, t: dict[str, torch.Tensor], random: bool):
        """``size`` crops of images held at the method's larger ``load_size``: at random offsets (one per
        image, shared by its mask and edge-smoothed copy), or centred (``random=False``).
        Returns the crops and ``((ys, xs), held side, size)``, or ``(t, None)`` when nothing is cropped."""
        size = self.size
        n, side = len(next(iter(t.values()))), next(iter(t.values())).shape[-1]
        if side == size:
            return t, None
        if random:
            ys, xs = torch.randint(0, side - size + 1, (2, n)).tolist()
        else:
            ys = xs = [(side - size) // 2] * n
        crops = {
            k: torch.stack([v[i, :, y : y + size, x : x + size] for i, (y, x) in enumerate(zip(ys, xs, strict=True))])
            for k, v in t.items()
        }
        return crops, ((ys, xs), side, size)
