"""Content-term size at initialisation for each VGG and input convention: the data a stand-in's weight factor needs.

    python benchmarks/bench_standin.py --photos ../shared/data/photos/ffhq_thumbs128 [--n 16] [--size 128]

CartoonGAN's content term at G's initialisation is ``mean |VGG(G0(p)) - VGG(p)|`` on photos ``p`` with a
freshly initialised generator ``G0`` (width 1, seed 0). Printed for every installed network of
:data:`cfkit.nets.losses.LAYERS` and input convention of :data:`cfkit.nets.losses.INPUTS`, with White-box's
normalisation (``/ (H W C)`` of the map) beside it. Where the paper network and its stand-in are both
installed, the ratio of their terms under one convention is the stand-in's factor
(:data:`cfkit.nets.standins.STANDINS`: put it there with this command as its basis).
"""

from __future__ import annotations

import argparse

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", required=True, help="a folder of face photos")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--size", type=int, default=128)
    args = ap.parse_args()

    from cfkit.assets import is_installed
    from cfkit.methods.whitebox import feature_l1
    from cfkit.nets.cartoongan import Generator
    from cfkit.nets.losses import INPUTS, LAYERS, ContentLoss
    from cfkit.train.data import load_domain, to_float

    torch.manual_seed(0)
    photos = to_float(load_domain(args.photos, args.size, "all", masks=False).images[: args.n])
    with torch.no_grad():
        fake = Generator(1.0).eval()(photos)
    terms: dict[tuple[str, str], float] = {}
    print(f"{len(photos)} photos at {args.size} px; G at initialisation (width 1, seed 0)")
    print(f"{'network':16s} {'input':9s} {'l1 (CartoonGAN)':>16s} {'l1 / HWC (White-box)':>21s}")
    for arch, layer in LAYERS:
        if not is_installed(arch):
            print(f"{arch}/{layer:10s} not installed (cfkit models fetch {arch})")
            continue
        for inputs in INPUTS:
            loss = ContentLoss(arch, layer, inputs=inputs)
            with torch.no_grad():
                f_fake, f_photo = loss.features(fake), loss.features(photos)
            terms[arch, inputs] = float((f_fake - f_photo).abs().mean())
            wb = float(feature_l1(f_fake, f_photo))
            print(f"{arch}/{layer:10s} {inputs:9s} {terms[arch, inputs]:16.4f} {wb:21.3e}")
    for inputs in INPUTS:
        if ("vgg19", inputs) in terms and ("vgg16", inputs) in terms:
            print(f"factor vgg19 -> vgg16 ({inputs}): {terms['vgg19', inputs] / terms['vgg16', inputs]:.3f}")


if __name__ == "__main__":
    main()
