"""Template: how to add a translation method (copy this file, rename, fill in).

1. Copy to ``cfkit/methods/<name>.py`` and change the ``@METHODS.register("template")`` name.
   Every module in ``cfkit/methods/`` is imported on the first registry lookup, so nothing else
   needs editing for ``cfkit train <name>`` to work.
2. Declare the hyper-parameters as a frozen dataclass (one typed field per key, with its default)
   and set ``hparams`` to it: the trainer builds ``self.hp`` from the recipe's ``method:`` section
   and ``--set method.KEY=VALUE``, checks each value's type and refuses keys the dataclass lacks.
   Read them as attributes (``self.hp.lr``).
3. Write ``pipelines/train/<name>.yaml``: top-level trainer keys (``size``, ``batch``, ``seed``,
   ``ema``...) and the ``method:`` section. Cite the paper (section/table) for every number; CLI
   flags and ``--set key=value`` override it.
4. Put networks in ``cfkit/nets/<name>.py`` with a ``width`` multiplier so tests can run the
   full architecture at small size on CPU.
5. Add ``tests/train/test_<name>.py``: a few steps on real images at 64 px, finite losses,
   parameters change, checkpoint reloads, ``translate`` writes images (see test_cartoongan.py).

This template is a least-squares GAN (Mao et al. ICCV 2017) with an l1 identity term, on tiny
networks written inline: it runs, and ``tests/train/test_trainer_core.py`` trains it to prove the
contract, but it is not a method to use.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cfkit.train.method import METHODS, Batch, Method, OptimSpec, Phase


def _tiny_net(out_ch: int, width: float, stride: int) -> nn.Sequential:
    ch = max(8, int(32 * width))
    return nn.Sequential(
        nn.Conv2d(3, ch, 3, stride, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(ch, ch, 3, 1, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(ch, out_ch, 3, 1, 1),
    )


@dataclass(frozen=True)
class TemplateHparams:
    """The ``method:`` section: one typed field per key, defaults as the recipe would cite them."""

    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    optimizer: str = "adam"  # OptimSpec kinds: adam, adamw, sgd
    epochs: float = 1.0
    w_identity: float = 1.0  # weight of the l1 identity term in G's loss


@METHODS.register("template")
class TemplateMethod(Method):
    """G: A -> B; D: real B vs G(A). Loss terms are returned *already weighted*."""

    name = "template"
    ema_nets = ("G",)  # EMA of G is kept only if the recipe sets ``ema: 0.999``
    monitor = "g_identity"  # running mean of this logged term selects best.pt
    hparams = TemplateHparams  # self.hp is a TemplateHparams built from the recipe and --set
    hp: TemplateHparams

    def build_networks(self) -> dict[str, nn.Module]:
        g = _tiny_net(3, self.width, 1)
        return {"G": nn.Sequential(g, nn.Tanh()), "D": _tiny_net(1, self.width, 2)}

    def build_optimizers(self) -> dict[str, OptimSpec]:
        lr, betas, kind = self.hp.lr, self.hp.betas, self.hp.optimizer
        return {"d": OptimSpec(("D",), lr, betas, kind=kind), "g": OptimSpec(("G",), lr, betas, kind=kind)}

    def phases(self) -> list[Phase]:
        # One phase here; multi-phase methods list several (e.g. CartoonGAN's content-only init).
        return [Phase("adversarial", self.hp.epochs, steps=("d", "g"))]

    def losses(self, phase: str, opt: str, batch: Batch) -> dict[str, torch.Tensor]:
        a, b = batch["a"], batch["b"]
        if opt == "d":
            with torch.no_grad():  # G is not updated by this optimizer
                fake = self.nets["G"](a)
            pred = self.nets["D"](torch.cat([b, fake]))  # one D call: DDP- and speed-friendly
            real, fake_pred = pred.split([len(b), len(fake)])
            return {"real": ((real - 1) ** 2).mean(), "fake": (fake_pred**2).mean()}
        fake = self.nets["G"](a)
        w_id = self.hp.w_identity
        return {"adv": ((self.nets["D"](fake) - 1) ** 2).mean(), "identity": w_id * (fake - a).abs().mean()}

    def translate(self, x: torch.Tensor) -> torch.Tensor:
        return self.net("G")(x)
