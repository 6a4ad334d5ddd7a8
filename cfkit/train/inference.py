"""Batched inference with a trained run: ``cfkit translate RUN_DIR_OR_CKPT --input DIR --out DIR``.

Outputs keep the input ids: ``OUT/<id>.png`` at the run's training size (inputs are resized and
centre-cropped like training data). ``reverse`` translates domain B -> A with a ``reversible``
method's ``translate_reverse`` (CycleGAN's ``G_B``). With ``mask_composite`` the translated face is
pasted on the original background: ``out = fake * m + input * (1 - m)``, ``m`` from the method's own
mask model of domain A (``mask_probs`` > 0.5; cartoongan-mask's U-Net) or else the input dataset's ``masks/``.

OUT must not overlap the input and may hold only an earlier translation (by cfkit's record), which is
replaced whole: ``OUT/translate.json`` lists exactly the images in OUT.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from cfkit.errors import InputError
from cfkit.imageio import load_rgb
from cfkit.runs.load import load_run
from cfkit.train.config import TrainOptions
from cfkit.train.data import _check_ids, fit_square, list_domain, to_float, to_uint8
from cfkit.train.method import METHODS, Method
from cfkit.train.runtime import pick_device


def load_method(
    run_or_ckpt: str | Path, device: str = "auto", prefer_best: bool = False, weights: str = "ema"
) -> tuple[Method, dict[str, Any], Path]:
    """(method in eval mode with trained weights, its run's options, checkpoint path).

    ``weights="ema"``: the exponential moving averages where the run kept them (``ema`` set), else the
    trained weights; ``"raw"``: always the trained weights.
    """
    run = load_run(run_or_ckpt, prefer_best=prefer_best, weights=weights)
    dev = pick_device(device)
    config = run.config  # given as saved: method keys of other cfkit versions are ignored
    method = METHODS.get(TrainOptions.from_saved(config).name)(config, dev)
    options = method.options
    method.setup()
    for name, sd in run.nets.items():
        method.nets[name].load_state_dict(sd)
    for name, net in method.nets.items():
        method.nets[name] = net.to(dev).eval().requires_grad_(False)
    return method, options, run.path


def state_has_ema(options: TrainOptions) -> bool:
    """Whether a run with these options kept EMA weights."""
    return bool(options.ema) and bool(METHODS.get(options.name).ema_nets)


def check_reversible(method: Method) -> None:
    """A clear error where ``method`` has no B -> A translation."""
    if not method.reversible:
        both = ", ".join(n for n in METHODS.names() if METHODS.get(n).reversible)
        raise InputError(
            f"--reverse: {method.name} translates {method.direction} only; runs of {both} translate both ways"
        )


def _mask_for(
    method: Method, x: torch.Tensor, ids: list[str], masks_dir: Path | None, size: int, reverse: bool
) -> torch.Tensor:
    if hasattr(method, "mask_probs") and not reverse:  # a mask model of domain A
        return (method.mask_probs(x) > 0.5).to(x.dtype)  # the binary mask its discriminator used
    if masks_dir is None:
        raise InputError("--mask-composite needs a method with a mask model or an input dataset with masks/")
    ms = []
    for i in ids:
        p = masks_dir / f"{i}.png"
        if not p.is_file():
            raise InputError(f"--mask-composite: no mask {p}")
        ms.append(fit_square(load_rgb(p)[..., 0], size))
    return torch.from_numpy(np.stack(ms))[:, None].to(x.device).float() / 255.0


def translate(
    run: str | Path,
    input: str | Path,
    out: str | Path,
    batch: int = 16,
    mask_composite: bool = False,
    device: str = "auto",
    split: str = "all",
    prefer_best: bool = False,
    weights: str = "ema",
    reverse: bool = False,
) -> list[Path]:
    """Translate every image of ``input`` (prepared dataset or plain folder), domain A -> B or with
    ``reverse`` B -> A; returns written paths."""
    from cfkit.console import track
    from cfkit.fsutil import OutputFolder, atomic_write_json, refuse_overlap, sha256_file
    from cfkit.imageio import save_png

    out = Path(out)
    refuse_overlap(input, out, "--input")
    folder = OutputFolder(out, "translate", replace=True)  # an earlier translation here is replaced whole
    method, options, path = load_method(run, device, prefer_best, weights)
    if reverse:
        check_reversible(method)
    translate_batch = method.translate_reverse if reverse else method.translate
    size = options.size
    ids, paths, masks_dir = list_domain(input, split)
    _check_ids(Path(input), ids)
    folder.begin([*(f"{i}.png" for i in ids), "translate.json"])
    written: list[Path] = []
    chunks = [range(s, min(s + batch, len(ids))) for s in range(0, len(ids), batch)]
    with torch.no_grad():
        for chunk in track(chunks, f"translating {len(ids)} images", unit="batch"):
            arr = np.stack([fit_square(load_rgb(paths[i]), size) for i in chunk])
            x = to_float(torch.from_numpy(arr).permute(0, 3, 1, 2).to(method.device))
            y = translate_batch(x)
            if mask_composite:
                m = _mask_for(method, x, [ids[i] for i in chunk], masks_dir, size, reverse)
                y = y * m + x * (1 - m)
            for i, img in zip(chunk, to_uint8(y).permute(0, 2, 3, 1).cpu().numpy(), strict=True):
                dst = out / f"{ids[i]}.png"
                save_png(dst, img)
                written.append(dst)
    atomic_write_json(
        out / "translate.json",
        {
            "method": options.name,
            "direction": method.reverse_direction() if reverse else method.direction,
            "reverse": reverse,
            "checkpoint": str(path),
            "checkpoint_sha256": sha256_file(path),
            "input": str(input),
            "size": size,
            "images": len(written),
            "files": [p.relative_to(out).as_posix() for p in written],
            "mask_composite": mask_composite,
            "weights": weights if state_has_ema(options) else "raw",
        },
    )
    folder.finish()
    return written
