"""DiffAugment for D (method.d_augment): each transform does what the paper says, gradients pass, and
CartoonGAN's D sees augmented real, edge-smoothed and generated images alike."""

from __future__ import annotations

import pytest
import torch

from cfkit.nets.diffaugment import color, cutout, diff_augment, translation


def _images(n=6, size=16):
    torch.manual_seed(0)
    return torch.rand(n, 3, size, size) * 1.8 - 0.9  # no exact zeros, so zero means "padded" or "cut"


def test_translation_shifts_each_image_within_an_eighth_with_zero_padding():
    x = _images()
    y = translation(x)
    for xi, yi in zip(x, y, strict=True):
        padded = torch.nn.functional.pad(xi, (2, 2, 2, 2))
        shifts = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(yi, padded[:, 2 + dy : 18 + dy, 2 + dx : 18 + dx])
        ]
        assert len(shifts) == 1  # exactly one shift of at most 16/8 = 2 pixels explains the output
    assert not torch.equal(y, x.expand_as(y))  # the six images are not all left in place


def test_cutout_zeroes_one_square_of_at_most_half_the_side_and_keeps_the_rest():
    x = _images()
    y = cutout(x)
    for xi, yi in zip(x, y, strict=True):
        hole = (yi == 0).all(0)
        assert torch.equal(yi[:, ~hole], xi[:, ~hole])
        rows, cols = hole.any(1).nonzero().flatten(), hole.any(0).nonzero().flatten()
        assert 0 < len(rows) <= 8 and 0 < len(cols) <= 8
        assert hole.sum() == len(rows) * len(cols)  # one filled rectangle
    assert (y == 0).any()


def test_color_changes_brightness_saturation_and_contrast_per_image_not_geometry():
    x = _images()
    y = color(x)
    assert y.shape == x.shape and not torch.allclose(y, x)
    shift = (y - x).mean(dim=(1, 2, 3))
    assert shift.std() > 0  # each image draws its own parameters
    flat = torch.full((2, 3, 4, 4), 0.25)  # a uniform image stays uniform: colour only, no geometry
    out = color(flat)
    assert torch.allclose(out, out[:, :1, :1, :1].expand_as(out), atol=1e-6)


def test_gradients_pass_and_policies_are_checked():
    x = _images().requires_grad_()
    diff_augment("color,translation,cutout")(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    plain = _images()
    assert diff_augment("")(plain) is plain
    from cfkit.errors import InputError

    with pytest.raises(InputError, match="unknown D augmentation 'flip'"):
        diff_augment("translation,flip")


def test_cartoongan_d_sees_augmented_real_smoothed_and_fake_images():
    from cfkit.methods.cartoongan import CartoonGAN
    from cfkit.train.method import Batch

    x = _images(4, 32)
    batch = Batch({"a": x[:2], "b": x[2:], "b_smooth": x[2:].flip(-1)})
    for policy, holes in (("", False), ("cutout", True)):
        method = CartoonGAN({"size": 32, "width": 0.125, "method": {"d_augment": policy}}, torch.device("cpu"))
        method.setup()
        seen: list[torch.Tensor] = []
        method.nets["D"].register_forward_pre_hook(lambda _m, args, seen=seen: seen.append(args[0]))
        with torch.no_grad():
            method.losses("adversarial", "d", batch)
        assert len(seen) == 3
        assert all(bool((s == 0).all(1).any()) == holes for s in seen)  # real, edge-smoothed and fake
