"""pytorch-fid's InceptionV3 on cfkit-decoded images.

Preprocessing is pytorch-fid's, split in two: :func:`to_inception_input` (``ToTensor`` then bilinear
resize to 299, per image, so it runs in decode workers) and the model's own ``2x - 1`` normalisation.
Features are computed exactly as ``pytorch_fid.fid_score`` does.

The fast network (the default) is pytorch-fid's with each BatchNorm folded into its convolution and
channels_last memory (oneDNN's fastest CPU convolutions): features within ~1e-6 of the original.
"""

from __future__ import annotations

import functools
from unittest import mock

import numpy as np

from cfkit.assets import asset_info, asset_path

SIZE = 299


def to_inception_input(rgb: np.ndarray):
    """``uint8 HxWx3`` -> ``float32 3x299x299`` in [0, 1], as pytorch-fid's ToTensor + resize."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div(255)
    return F.interpolate(x[None], size=(SIZE, SIZE), mode="bilinear", align_corners=False)[0]


def load_inception(dims: int = 2048, device: str = "cpu", exact: bool = False):
    """pytorch-fid's ``InceptionV3`` for ``dims`` with the ``fid-inception`` asset, and its provenance.

    ``exact`` keeps the network as pytorch-fid builds it; otherwise it is :func:`fast_inception`.

    pytorch-fid fetches its weights with ``load_state_dict_from_url``; that single call is pointed at
    the installed asset file so the network is built by pytorch-fid's own code.
    """
    from pytorch_fid import inception as pfi

    if dims not in pfi.InceptionV3.BLOCK_INDEX_BY_DIM:
        raise ValueError(f"fid_dims must be one of {sorted(pfi.InceptionV3.BLOCK_INDEX_BY_DIM)}")
    path = asset_path("fid-inception")
    rec = asset_info("fid-inception") or {}
    model = _build(dims, str(path), rec.get("sha256", ""), exact).to(device)
    provenance = {
        "network": "pytorch-fid" if exact else "pytorch-fid, BatchNorm folded, channels_last",
        "asset": "fid-inception",
        "file": str(path),
        "sha256": rec.get("sha256", ""),
        "official": bool(rec.get("official_hash", False)),
    }
    return model, provenance


class _ChannelsLast:
    """Calls a channels_last network with its input in channels_last memory."""

    def __init__(self, net):
        self.net = net

    def to(self, device):
        self.net.to(device)
        return self

    def __call__(self, x):
        import torch

        return self.net(x.contiguous(memory_format=torch.channels_last))


def fast_inception(model):
    """A copy of pytorch-fid's network with BatchNorm folded into the convolutions, in channels_last."""
    import copy

    import torch
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = copy.deepcopy(model).eval()
    for m in model.modules():  # torchvision's BasicConv2d: conv (no bias) -> bn -> relu
        if isinstance(getattr(m, "bn", None), torch.nn.BatchNorm2d):
            m.conv, m.bn = fuse_conv_bn_eval(m.conv, m.bn), torch.nn.Identity()
    return _ChannelsLast(model.to(memory_format=torch.channels_last))


@functools.lru_cache(maxsize=4)
def _build(dims: int, path: str, sha256: str, exact: bool):
    """The network for one weights file (keyed by its hash), built once per process."""
    import torch
    from pytorch_fid import inception as pfi

    def _load(*_args, **_kwargs):
        return torch.load(path, map_location="cpu", weights_only=True)

    with mock.patch.object(pfi, "load_state_dict_from_url", _load):
        model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[dims]], resize_input=False)
    return model.eval() if exact else fast_inception(model)


def forward_features(model, batch) -> np.ndarray:
    """pool features of a ``Bx3x299x299`` batch in [0, 1] -> float32 ``(B, dims)`` (pytorch-fid's reduction)."""
    import torch
    from torch.nn.functional import adaptive_avg_pool2d

    with torch.no_grad():
        pred = model(batch)[0]
    if pred.size(2) != 1 or pred.size(3) != 1:
        pred = adaptive_avg_pool2d(pred, output_size=(1, 1))
    return pred.squeeze(3).squeeze(2).cpu().numpy()
