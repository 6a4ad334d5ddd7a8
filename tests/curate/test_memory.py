"""Bounded memory in curation workers: decoded pixels per batch, and 16-bit decoding without float64 copies."""

from __future__ import annotations

import tracemalloc

import numpy as np
from PIL import Image

from cfkit.curate import worker
from cfkit.curate.sources import RawImage
from cfkit.imageio import load_rgb


class CountingAligner:
    """Stands in for FaceAligner: records how many pixels each call holds; finds no face."""

    def __init__(self):
        self.calls: list[list[int]] = []

    def process(self, images, clock=None):
        self.calls.append([im.shape[0] * im.shape[1] for im in images])
        return [([], "no_face", 0) for _ in images]


def test_a_worker_aligns_in_batches_bounded_by_pixels(tmp_path, monkeypatch):
    sizes = [(100, 100), (120, 80), (300, 200), (50, 50), (100, 100), (90, 110), (10, 10)]
    raws = []
    for i, (w, h) in enumerate(sizes):
        p = tmp_path / f"{i}.png"
        Image.new("RGB", (w, h), (i * 30, 90, 160)).save(p)
        raws.append(RawImage(p, str(p), "folder"))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    raws.insert(3, RawImage(tmp_path / "bad.png", str(tmp_path / "bad.png"), "folder"))
    fake = CountingAligner()
    monkeypatch.setattr(worker, "BATCH_PIXELS", 25_000, raising=False)
    monkeypatch.setitem(worker._STATE, "aligner", fake)
    monkeypatch.setitem(worker._STATE, "job", None)
    rows, _ = worker.process_chunk(raws)
    assert sorted(r["origin"] for r in rows) == sorted(r.origin for r in raws)  # every input answered once
    assert [p for call in fake.calls for p in call] == [w * h for w, h in sizes]  # each image aligned once
    # a batch exceeds the budget only when it is one image bigger than the budget by itself
    assert all(sum(call) <= 25_000 or len(call) == 1 for call in fake.calls), fake.calls
    assert len(fake.calls) == 3


def test_16_bit_decode_needs_no_float64_copies(tmp_path):
    side = 1500
    grey16 = (np.arange(side * side, dtype=np.uint32) % 65536).astype(np.uint16).reshape(side, side)
    path = tmp_path / "deep.png"
    Image.fromarray(grey16).save(path, compress_level=1)
    assert Image.open(path).mode.startswith("I")
    tracemalloc.start()
    try:
        rgb = load_rgb(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rgb.shape == (side, side, 3) and rgb.dtype == np.uint8
    expect = (grey16.astype(np.float64) / 65535 * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(rgb[..., 0], expect)
    # output (3 B/px) + the decoded 16-bit plane (2-4 B/px) + small blocks; one float64 copy alone is 8 B/px
    assert peak < 8 * side * side, peak / side / side
