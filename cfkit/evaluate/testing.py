"""Random-init FID Inception weights for tests and benchmarks (the real ones are not obtainable offline).

The file is pytorch-fid's own architecture (``fid_inception_v3``: FIDInceptionA/C/E blocks) with a seeded,
well-scaled initialisation, saved where pytorch-fid looks for its weights, so ``python -m pytorch_fid``
and cfkit load the same network.
"""

from __future__ import annotations

from pathlib import Path

FID_WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"


def fid_inception_architecture():
    """The module tree ``pytorch_fid.inception.fid_inception_v3`` builds, without loading weights."""
    from pytorch_fid import inception as pfi

    net = pfi._inception_v3(num_classes=1008, aux_logits=False, init_weights=False)
    net.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pfi.FIDInceptionE_1(1280)
    net.Mixed_7c = pfi.FIDInceptionE_2(2048)
    return net


def write_random_fid_weights(torch_home: str | Path, seed: int = 0) -> Path:
    """Seeded He-initialised weights at ``$TORCH_HOME/hub/checkpoints/pt_inception-...pth``.

    He (fan-in, ReLU) convolutions keep activations O(1) through the ~90 layers, so the 2048-d
    features are finite and vary between images; BatchNorm is the identity (eval statistics 0/1).
    """
    import torch
    from torch import nn

    torch.manual_seed(seed)
    net = fid_inception_architecture()
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
    path = Path(torch_home) / "hub" / "checkpoints" / FID_WEIGHTS_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return path
