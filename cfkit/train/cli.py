"""``cfkit train`` and ``cfkit translate``: thin layers over :mod:`cfkit.train`."""

from __future__ import annotations

from pathlib import Path

import typer

from cfkit.console import listed_help


def methods_help() -> list[str]:
    """One line per registered training method and the domains it trains on (for ``cfkit train --help``)."""
    from cfkit.train.method import METHODS

    return [
        f"{n:<20} {'one (--data)' if METHODS.get(n).one_domain else 'two (--data-a, --data-b)'}"
        for n in METHODS.names()
    ]


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``translate`` to the root app."""

    @app.command("train", cls=listed_help("Methods (domains)", methods_help))
    def train_cmd(
        method: str = typer.Argument(..., help="Method (see the list above; one module each in cfkit/methods/)."),
        data_a: Path | None = typer.Option(
            None, "--data-a", help="Domain A, the input (photos; cartoons for cpgan): dataset or folder."
        ),
        data_b: Path | None = typer.Option(
            None, "--data-b", help="Domain B, the target (cartoons; photos for cpgan): dataset or folder."
        ),
        data: Path | None = typer.Option(None, "--data", help="The one domain of a one-domain method."),
        recipe: Path | None = typer.Option(None, help="Recipe YAML (default: pipelines/train/METHOD.yaml)."),
        size: str | None = typer.Option(
            None, help="Image size in px (multiple of 16), or auto: the data's own size (default: recipe)."
        ),
        iters: int | None = typer.Option(None, help="Total iterations; phases keep their proportions."),
        epochs: float | None = typer.Option(None, help="Total epochs of domain A; phases keep their proportions."),
        batch: int | None = typer.Option(None, help="Batch size per process (default: recipe)."),
        width: float | None = typer.Option(None, help="Channel multiplier of the networks (default: 1.0)."),
        out: Path | None = typer.Option(None, help="Run folder (default: runs/METHOD)."),
        resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
        override: bool = typer.Option(
            False,
            "--override",
            help="With --resume: accept changed --data-a, --data-b, --iters, --epochs, split and the method's "
            "phase lengths (--set method.*_iters / *epochs), e.g. to lengthen a run's last phase.",
        ),
        seed: int | None = typer.Option(None, help="Random seed (default: 0)."),
        device: str | None = typer.Option(None, help="auto, cpu, cuda, cuda:N (default: auto)."),
        amp: str | None = typer.Option(None, help="auto (CUDA: bf16, else fp16), off, bf16 (also CPU), fp16."),
        accum: int | None = typer.Option(None, help="Gradient accumulation micro-batches (default: 1)."),
        compile_: bool = typer.Option(
            False,
            "--compile",
            help="torch.compile the trained networks (compiling takes 1-2 minutes, seconds with a warm cache). "
            "Measured on a CPU: 1.2-1.3x per fp32 step for cyclegan at width 0.25; no gain at width 1 or for "
            "the VGG-loss methods, and slower in bf16 (docs/train.md, Speed).",
        ),
        sets: list[str] = typer.Option([], "--set", help="Override any config key: --set method.w_content=5."),
        substitute: list[str] = typer.Option(
            [],
            "--substitute",
            help="Train with a stand-in for a paper network that is not installed, said on the console, "
            "weight recalibrated, recorded in run.json: --substitute vgg19=vgg16, --substitute lightcnn9=vgg16.",
        ),
    ) -> None:
        """Train a method from domain A to domain B, or on one domain (--data) (DDP under torchrun).

        Example: cfkit train cartoongan-mask --data-a data/celeba --data-b data/handpainted --size 128 --out runs/mask
        Example: cfkit train landmark-regressor --data data/anime --size 64 --out runs/lm-anime
        Example: cfkit train cartoongan --data-a data/ffhq --data-b data/anime --substitute vgg19=vgg16
        """
        from cfkit.console import info
        from cfkit.errors import InputError
        from cfkit.train import train

        if size not in (None, "auto"):
            if not size.isdigit():
                raise InputError(f"--size must be a number of pixels or auto (got {size!r})")
            size = int(size)
        if data and (data_a or data_b):
            raise InputError("give either --data (one-domain methods) or --data-a/--data-b, not both")
        standins = {}
        for item in substitute:
            paper, sep, standin = item.partition("=")
            if not sep or not paper or not standin:
                raise InputError(f"--substitute expects PAPER=STANDIN (e.g. vgg19=vgg16), got {item!r}")
            standins[paper] = standin
        run = train(
            method,
            data or data_a,
            data_b,
            recipe=recipe,
            set=sets,
            size=size,
            iters=iters,
            epochs=epochs,
            batch=batch,
            width=width,
            out=out,
            resume=resume or None,
            override=override or None,
            seed=seed,
            device=device,
            amp=amp,
            accum=accum,
            compile=compile_ or None,
            substitute=standins or None,
        )
        info(f"run folder: {run}")

    @app.command("translate")
    def translate_cmd(
        run: Path = typer.Argument(..., help="Run folder (latest checkpoint) or checkpoint .pt file."),
        input: Path = typer.Option(..., "--input", help="Images to translate: prepared dataset or image folder."),
        out: Path = typer.Option(
            ..., "--out", help="Output folder: OUT/<id>.png (new, empty, or an earlier translation: replaced)."
        ),
        mask_composite: bool = typer.Option(
            False, "--mask-composite", help="Keep the original background (method's U-Net, else input masks/)."
        ),
        batch: int = typer.Option(16, help="Images per forward pass."),
        best: bool = typer.Option(False, "--best", help="Use the run's best.pt instead of the latest checkpoint."),
        device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N."),
        weights: str = typer.Option("ema", help="ema (the moving average, where the run kept one) or raw."),
        reverse: bool = typer.Option(
            False, "--reverse", help="Translate domain B into A (cyclegan, landmark-cyclegan: G_B)."
        ),
    ) -> None:
        """Translate a folder of images (domain A of the run: cartoons for cpgan, else photos) into domain B,
        or with --reverse domain B into A.

        File names keep the input ids; OUT/translate.json records the direction used.

        Example: cfkit translate runs/mask --input data/selfies --out results/mask --mask-composite
        Example: cfkit translate runs/cyclegan --input data/anime --out results/cyclegan-photos --reverse
        """
        from cfkit.console import info
        from cfkit.train import translate

        written = translate(
            run,
            input,
            out,
            batch=batch,
            mask_composite=mask_composite,
            device=device,
            prefer_best=best,
            weights=weights,
            reverse=reverse,
        )
        info(f"{len(written)} images written to {out}")
