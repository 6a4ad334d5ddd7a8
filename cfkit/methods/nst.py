"""Neural style transfer baseline (Gatys, Ecker & Bethge, CVPR 2016) with a style *set*.

"Training" computes the style statistics: for each style layer, the Gram matrix of VGG features
averaged over the images of domain B. It runs through the ordinary trainer: the averaged Grams are
the parameters of a small ``style`` network, and one plain SGD step with learning rate 1 on
``0.5 * ||G - running_mean||^2`` sets them to the running mean of every B image seen so far
(exactly; under DDP the per-rank sums are all-reduced first). "Translating" optimises each input
image (L-BFGS or Adam, initialised from the input) to match its own content features and the
averaged Grams; this is per-image optimisation, so it is slow (seconds to minutes per image).

VGG-19 (the paper's network) has no offline source: without it a run refuses to start, unless it asks
for VGG-16 as a stand-in (``--substitute vgg19=vgg16``, recorded in the run's provenance). Layers are
named as in the paper (block, index) and taken after the ReLU, which is what Caffe's in-place ReLU gave
the original implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from cfkit.train.method import METHODS, Batch, Method, OptimSpec, Phase

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"


def vgg_layer_names(features: nn.Sequential) -> list[str]:
    """``conv1_1, relu1_1, conv1_2, ..., pool1, conv2_1, ...`` for each module of a VGG ``features``."""
    names, block, i = [], 1, 0
    for m in features:
        if isinstance(m, nn.Conv2d):
            i += 1
            names.append(f"conv{block}_{i}")
        elif isinstance(m, nn.ReLU):
            names.append(f"relu{block}_{i}")
        else:
            names.append(f"pool{block}")
            block, i = block + 1, 0
    return names


class VGGFeatures(nn.Module):
    """Frozen VGG returning the named activations of an image in [-1, 1] (ImageNet-normalised inside)."""

    def __init__(self, features: nn.Sequential, layers: tuple[str, ...]):
        super().__init__()
        names = vgg_layer_names(features)
        missing = [n for n in layers if n not in names]
        if missing:
            raise ValueError(f"unknown VGG layer(s) {missing}; known: {', '.join(names)}")
        last = max(names.index(n) for n in layers)
        self.features = features[: last + 1].eval().requires_grad_(False)
        self.names = names[: last + 1]
        self.layers = set(layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = ((x + 1) / 2 - self.mean) / self.std
        out = {}
        for name, m in zip(self.names, self.features, strict=True):
            h = m(h)
            if name in self.layers:
                out[name] = h
        return out


def gram(f: torch.Tensor) -> torch.Tensor:
    """Per-image Gram matrices ``N x C x C`` normalised by ``C * H * W``."""
    n, c, h, w = f.shape
    f = f.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


class StyleTargets(nn.Module):
    """Averaged Gram matrix per style layer (parameters) and the running sums behind them (buffers)."""

    def __init__(self, channels: dict[str, int]):
        super().__init__()
        self.layers = tuple(channels)
        self.grams = nn.ParameterDict({k: nn.Parameter(torch.zeros(c, c)) for k, c in channels.items()})
        for k, c in channels.items():
            self.register_buffer(f"sum_{k}", torch.zeros(c, c, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.seen: set[str] = set()  # ids of the style images in the sums (checkpointed: exact resume)

    def get_extra_state(self) -> dict[str, list[str]]:
        return {"seen": sorted(self.seen)}

    def set_extra_state(self, state: dict[str, list[str]]) -> None:
        self.seen = set(state["seen"])

    def forward(self, batch_sums: dict[str, torch.Tensor], n: torch.Tensor) -> torch.Tensor:
        """Add a batch's Gram sums; return ``0.5 * sum ||G - mean||^2`` (an SGD step at lr 1 lands on the mean)."""
        self.count += n
        loss = torch.zeros((), device=self.count.device)
        for k in self.layers:
            s = getattr(self, f"sum_{k}")
            s += batch_sums[k].double()
            loss = loss + 0.5 * (self.grams[k] - (s / self.count.clamp_min(1)).float()).pow(2).sum()
        return loss


@dataclass(frozen=True)
class NSTHparams:
    """``method:`` of ``pipelines/train/nst.yaml`` (sources there)."""

    vgg: str = "vgg19"  # the feature network (without its weights: refused, or --substitute vgg19=vgg16)
    style_layers: tuple[str, ...] = STYLE_LAYERS  # layers whose Grams are the style, equally weighted
    content_layer: str = CONTENT_LAYER
    content_weight: float = 1.0
    style_weight: float = 1e6
    optimizer: Literal["lbfgs", "adam"] = "lbfgs"  # the per-image optimiser of translate
    lr: float = 0.08  # adam only
    steps: int = 1000  # optimiser iterations per image
    init: Literal["content", "noise"] = "content"  # start from the input image, or from uniform noise
    style_epochs: float | Literal["auto"] = "auto"  # length of the statistics pass; auto: one pass over B


@METHODS.register("nst")
class NeuralStyleTransfer(Method):
    name = "nst"
    epoch_images = "b"  # the style pass is counted in passes over B
    hparams = NSTHparams
    hp: NSTHparams

    def __init__(self, options, device):
        super().__init__(options, device)
        self.style_layers = self.hp.style_layers
        self.content_layer = self.hp.content_layer
        self._vgg: VGGFeatures | None = None

    @property
    def vgg(self) -> VGGFeatures:
        if self._vgg is None:
            from cfkit.nets.pretrained import torchvision_features
            from cfkit.nets.standins import announce, resolve

            why = "nst: the style and content features"
            standin = resolve(self.hp.vgg, self.options.substitute, why)
            feats, prov = torchvision_features(standin.arch if standin else self.hp.vgg)
            if standin is not None:
                prov.update(announce(standin, self.hp.vgg, standin.arch, why))
            self.provenance["vgg"] = prov
            layers = (*self.style_layers, self.content_layer)
            self._vgg = VGGFeatures(feats, layers).to(self.device)
        return self._vgg

    def build_networks(self) -> dict[str, nn.Module]:
        feats = self.vgg.features
        channels, last = {}, 3
        for name, m in zip(self.vgg.names, feats, strict=True):
            last = m.out_channels if isinstance(m, nn.Conv2d) else last
            if name in self.style_layers:
                channels[name] = last
        return {"style": StyleTargets(channels)}

    def build_optimizers(self) -> dict[str, OptimSpec]:
        # plain SGD (momentum = betas[0] = 0) at lr 1: each step sets the Grams to the running mean
        return {"stats": OptimSpec(("style",), lr=1.0, betas=(0.0, 0.0), kind="sgd")}

    def phases(self) -> list[Phase]:
        # one pass over B ("auto"), rounded up to whole batches so that no style image is left out
        epochs = self.hp.style_epochs
        return [Phase("style", 1.0 if epochs == "auto" else epochs, steps=("stats",), round_up=True)]

    def _unseen(self, ids: list[str]) -> list[int]:
        """Positions in this rank's ``ids`` of style images not yet in the statistics. Under DDP the ids
        of every rank are gathered so that all ranks keep one identical set (padding repeats, and a
        pass that wraps around, count once)."""
        seen = self.net("style").seen
        dist = torch.distributed
        every = [ids]
        rank = 0
        if dist.is_available() and dist.is_initialized():
            every = [None] * dist.get_world_size()
            dist.all_gather_object(every, ids)
            rank = dist.get_rank()
        keep = []
        for r, rank_ids in enumerate(every):
            for i, k in enumerate(rank_ids):
                if k not in seen:
                    seen.add(k)
                    if r == rank:
                        keep.append(i)
        return keep

    def losses(self, phase: str, opt: str, batch: Batch) -> dict[str, torch.Tensor]:
        b = batch["b"][self._unseen(batch.ids["b"])]
        # statistics in fp32 whatever the trainer's autocast: translate compares fp32 Grams with them
        with torch.no_grad(), torch.autocast(self.device.type, enabled=False):
            feats = self.vgg(b.float()) if len(b) else {}
            sums = {k: gram(feats[k]).sum(0) if len(b) else self._zeros(k) for k in self.style_layers}
            n = torch.tensor(float(len(b)), device=self.device)
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                for t in (*sums.values(), n):
                    torch.distributed.all_reduce(t)
        return {"gram_fit": self.nets["style"](sums, n)}

    def _zeros(self, layer: str) -> torch.Tensor:
        return torch.zeros_like(self.net("style").grams[layer])

    def visuals(self, batch: Batch) -> dict[str, torch.Tensor]:
        return {"a": batch["a"], "b": batch["b"]}  # translating means optimising: too slow to preview

    def translate(self, x: torch.Tensor) -> torch.Tensor:
        style = self.net("style")
        targets = {k: style.grams[k].detach() for k in self.style_layers}
        return torch.cat([self.stylise(img[None], targets) for img in x])

    def stylise(self, x: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """Optimise one image (1 x 3 x H x W in [-1, 1]) towards ``x``'s content and the target Grams."""
        steps = self.hp.steps
        w_content, w_style = self.hp.content_weight, self.hp.style_weight
        layer_w = 1.0 / len(self.style_layers)
        with torch.inference_mode(False), torch.enable_grad():  # callers may run under inference mode
            x = x.clone(memory_format=torch.contiguous_format)  # L-BFGS flattens gradients with view()
            content = self.vgg(x)[self.content_layer].detach()
            init = x if self.hp.init == "content" else torch.rand_like(x) * 2 - 1
            img = init.detach().clone().requires_grad_(True)

            def objective() -> torch.Tensor:
                feats = self.vgg(img)
                loss = w_content * F.mse_loss(feats[self.content_layer], content)
                for k in self.style_layers:
                    loss = loss + w_style * layer_w * F.mse_loss(gram(feats[k])[0], targets[k])
                return loss

            if self.hp.optimizer == "lbfgs":
                opt = torch.optim.LBFGS([img], lr=1.0, max_iter=steps, tolerance_grad=-1, tolerance_change=-1)

                def closure():
                    opt.zero_grad()
                    loss = objective()
                    loss.backward()
                    return loss

                opt.step(closure)
            else:
                opt = torch.optim.Adam([img], lr=self.hp.lr)
                for _ in range(steps):
                    opt.zero_grad()
                    objective().backward()
                    opt.step()
        return img.detach().clamp(-1, 1)
