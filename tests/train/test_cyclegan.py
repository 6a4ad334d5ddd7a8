"""CycleGAN: architecture against the official model, image-pool semantics, LR schedule, and a short
real training run (64 px, width 1/8, the full ResNet-9 / 70x70 PatchGAN) through the trainer."""

from __future__ import annotations

import torch

from cfkit.nets.cyclegan import NLayerDiscriminator, ResnetGenerator, receptive_field
from cfkit.nets.image_pool import ImagePool


def test_full_width_networks_match_official_sizes():
    # parameter counts printed by the official repo for resnet_9blocks / basic D at ngf = ndf = 64
    g, d = ResnetGenerator(), NLayerDiscriminator()
    assert sum(p.numel() for p in g.parameters()) == 11_378_179
    assert sum(p.numel() for p in d.parameters()) == 2_764_737
    assert receptive_field(d) == 70
    assert sum(isinstance(m, torch.nn.ReflectionPad2d) for m in g.modules()) == 2 + 2 * 9
    x = torch.zeros(1, 3, 64, 64)
    with torch.no_grad():
        assert ResnetGenerator(ngf=8)(x).shape == x.shape
        assert NLayerDiscriminator(ndf=8)(x).shape == (1, 1, 6, 6)


def _images(n: int, start: int) -> torch.Tensor:
    return torch.arange(start, start + n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, 2, 2).clone()


def test_image_pool_fills_then_swaps_half_the_time():
    assert torch.equal(ImagePool(0).query(_images(3, 0)), _images(3, 0))
    pool = ImagePool(4, generator=torch.Generator().manual_seed(0))
    first = _images(4, 0)
    assert torch.equal(pool.query(first), first)  # filling: returned as given, and stored
    assert [int(t[0, 0, 0]) for t in pool.images] == [0, 1, 2, 3]
    inserted, from_history, n = set(range(4)), 0, 2000
    for k in range(4, 4 + n, 2):
        batch = _images(2, k)
        out = pool.query(batch.requires_grad_())
        assert out.shape == batch.shape and not out.requires_grad
        for i, v in enumerate(int(t[0, 0, 0]) for t in out):  # images enter one after another
            if v != k + i:  # an old image: it was in the pool, and the new one took its place
                from_history += 1
                assert v in inserted and v < k + i
                inserted.discard(v)
                inserted.add(k + i)
        stored = {int(t[0, 0, 0]) for t in pool.images}
        assert len(pool.images) == 4 and stored == inserted
    assert abs(from_history / n - 0.5) < 0.05  # p = 1/2 (binomial sd 0.011)
