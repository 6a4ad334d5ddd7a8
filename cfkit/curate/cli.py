"""Commands of cfkit.curate: ``prepare``, ``align``, ``mask`` (thin layer over :mod:`cfkit.curate`)."""

from __future__ import annotations

from pathlib import Path

import typer

from cfkit.console import listed_help
from cfkit.curate.defaults import PREPARE_DEFAULTS
from cfkit.errors import InputError


def sources_help() -> list[str]:
    """One line per registered dataset source: name, profile, what it is (for ``cfkit prepare --help``)."""
    from cfkit.curate.sources import SOURCES

    rows = [(n, SOURCES.get(n)) for n in SOURCES.names()]
    return [f"{n:<12} {s.profile.name:<8} {s.help}" for n, s in rows]


def parse_key_values(items: list[str]) -> dict[str, str]:
    """``["variant=thumbs", "style=Hayao"]`` -> dict; a malformed item is a one-line error."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--option expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


def prepare_cmd(
    source: str = typer.Argument(..., help="Dataset source (see the list above)."),
    src: str = typer.Option(None, "--src", help="Local folder, archive, URL-list file or URL (default: official)."),
    size: int = typer.Option(None, "--size", help=f"Output face size in pixels (default {PREPARE_DEFAULTS.size})."),
    out: Path = typer.Option(None, "--out", help="Output folder (default data/SOURCE)."),
    mask: bool = typer.Option(None, "--mask/--no-mask", help="Also write masks/<id>.png (default: no)."),
    mask_method: str = typer.Option(None, "--mask-method", help="Mask method: landmarks (default) | unet."),
    checkpoint: str = typer.Option(None, "--checkpoint", help="U-Net checkpoint for --mask-method unet."),
    limit: int = typer.Option(None, "--limit", help="Use at most N input images."),
    template: str = typer.Option(None, "--template", help="Alignment: ffhq | arcface (default: ffhq)."),
    policy: str = typer.Option(None, "--policy", help="Several/no faces: largest (default) | all | skip."),
    shard: str = typer.Option(None, "--shard", help="Process only shard i of n (i/n); join with --merge."),
    merge: bool = typer.Option(False, "--merge", help="Join the shard results in --out into one manifest."),
    merge_from: list[Path] = typer.Option(None, "--merge-from", help="With --merge: other folders' shards too."),
    seed: int = typer.Option(
        None,
        "--seed",
        help=f"Seed of the deterministic train/val/test split (default {PREPARE_DEFAULTS.seed}; --merge: the shards').",
    ),
    kind: str = typer.Option(None, "--profile", help="photo | cartoon (default: per source; folder: photo)."),
    landmarks: Path = typer.Option(
        None, "--landmarks", help="landmark-regressor run: landmarks for the cartoons animeface misses."
    ),
    workers: int = typer.Option(None, "--workers", help="Worker processes (default: CPU count)."),
    option: list[str] = typer.Option(
        None,
        "--option",
        "-o",
        help="Source option KEY=VALUE, repeatable (ffhq: variant=thumbs; anime: style=Hayao; downloads: "
        "timeout=60; archives: max_members=N); typed, unknown keys refused.",
    ),
    allow_host: list[str] = typer.Option(
        None, "--allow-host", help="Host of --src URLs that may be loopback/private/link-local (repeatable)."
    ),
    options_file: Path = typer.Option(
        None, "--options", help="YAML of prepare options (size, policy, quality: {min_blur: ...}, splits, ...)."
    ),
    sets: list[str] = typer.Option(None, "--set", help="Prepare option KEY=VALUE, repeatable (quality.min_blur=10)."),
) -> None:
    """Curate a dataset: detect, align, filter, dedupe, split; write images/, manifest.parquet, card.md.

    Example: cfkit prepare folder --src ~/selfies --size 128 --mask
    Example: cfkit prepare folder --src ~/drawings --profile cartoon --landmarks runs/lm-anime
    """
    from cfkit.curate import PrepareOptions, prepare
    from cfkit.curate import merge as merge_shards
    from cfkit.curate.sources.recipes import prepare_layer
    from cfkit.options import command_options, file_layer

    out = out or Path("data") / source
    if merge:
        merge_shards(out, merge_from or [], seed=seed)
        return
    flags = {
        "size": size,
        "template": template,
        "policy": policy,
        "mask": mask,
        "mask_method": mask_method,
        "seed": seed,
    }
    file = file_layer(options_file) if options_file else None
    options = command_options(PrepareOptions, prepare_layer(source), file, flags=flags, sets=sets)
    source_options = parse_key_values(option or [])
    if allow_host:
        source_options["allow_hosts"] = allow_host
    prepare(
        source,
        src,
        out,
        options=options,
        checkpoint=checkpoint,
        limit=limit,
        shard=shard,
        workers=workers,
        kind=kind,
        landmarks=landmarks,
        source_options=source_options,
    )
    typer.echo(str(out))


def align_cmd(
    src: Path = typer.Argument(..., help="Image file or folder."),
    out: Path = typer.Option(..., "--out", help="Output folder for aligned PNGs."),
    size: int = typer.Option(PREPARE_DEFAULTS.size, "--size", help="Output face size in pixels."),
    template: str = typer.Option("ffhq", "--template", help="ffhq | arcface."),
    policy: str = typer.Option(PREPARE_DEFAULTS.policy, "--policy", help="Several/no faces: largest | all | skip."),
    workers: int = typer.Option(None, "--workers", help="Worker processes (default: CPU count)."),
) -> None:
    """Detect and align the faces of every image in SRC (no filtering or splits).

    Example: cfkit align photos/ --out aligned/ --size 256 --template arcface
    """
    from cfkit.curate import align_folder

    typer.echo(str(align_folder(src, out, size=size, template=template, policy=policy, workers=workers)))


def mask_cmd(
    dataset: Path = typer.Argument(..., help="A folder made by cfkit prepare."),
    method: str = typer.Option("landmarks", "--method", help="landmarks | unet."),
    checkpoint: str = typer.Option(None, "--checkpoint", help="Trained U-Net checkpoint (for --method unet)."),
) -> None:
    """Write masks/<id>.png (face region) for every image of a prepared dataset.

    Example: cfkit mask data/idphoto --method landmarks
    """
    from cfkit.curate import make_masks

    make_masks(dataset, method=method, checkpoint=checkpoint)


def register(app: typer.Typer) -> None:
    """Add prepare/align/mask to the root app (``scrape`` registers itself from ``scrape_cli``)."""
    app.command("prepare", cls=listed_help("Sources (name, profile)", sources_help))(prepare_cmd)
    app.command("align")(align_cmd)
    app.command("mask")(mask_cmd)
