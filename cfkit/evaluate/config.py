"""The one set of evaluation defaults, shared by ``cfkit eval`` and :func:`cfkit.evaluate.run_eval`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from cfkit.options import Layer, read_mapping


def _default_metrics() -> list[str]:
    from cfkit.evaluate.metrics import default_metrics

    return default_metrics()


@dataclass
class EvalConfig:
    """Everything an evaluation depends on; written into ``metrics.json``."""

    methods: list[str] = field(default_factory=list)
    """``name`` (-> ``results/<name>/``) or ``name=DIR``."""
    source: str = ""
    reference: str = ""
    """Folder of real target-domain images, or a pytorch-fid ``.npz`` (mu, sigma[, features])."""
    targets: str = ""
    """Folder of the known correct translation of each source id (paired evaluation: ``l1_target``,
    ``lpips_target``, ``identity_target`` and their "copy the input" baseline), e.g. a known-answer task's
    ``targets/``."""
    out: str = "eval/out"
    metrics: list[str] = field(default_factory=_default_metrics)
    """Default: every registered metric with ``default = True``."""
    max_images: int | None = None
    """Evaluate only the first N matched ids (sorted), e.g. a protocol's sample size."""
    fid_dims: int = 2048
    """pytorch-fid feature block: 64, 192, 768 or 2048 (pool3, the standard)."""
    fid_exact: bool = False
    """pytorch-fid bit for bit: its unmodified network and scipy ``sqrtm``. Otherwise BatchNorm folded into
    the convolutions, channels_last, and the Frechet trace from symmetric eigenvalues (~1e-6 relative)."""
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    identity_backend: str = "auto"
    identity_assume_aligned: bool = False
    """Identity of aligned crops whose face the detector misses (dlib's needs ~80 px faces): embedded from the
    central face box instead of counted as a failure."""
    lpips_net: str = "alex"
    landmarks_source: str = "dlib"
    landmarks_output: str = "dlib"
    """Landmark source chains of the method inputs and outputs (``landmark_nme``): ``dlib`` (photos),
    ``animeface`` (cartoons), a ``landmark-regressor`` run folder, or several joined by ``+`` (tried in order)."""
    landmarks_assume_aligned: bool = False
    """dlib: measure aligned crops whose face the detector misses inside the central face box."""
    bootstrap: int = 1000
    fid_bootstrap: int = 100
    """FID resamples (each an n x n_ref SVD, not a 2048-d sqrtm)."""
    set_bootstrap: int = 200
    """Resamples of the FID/KID difference between two methods (the same image resamples for both)."""
    figure: bool = False
    """Also write ``figure.png``/``figure.pdf`` (:mod:`cfkit.evaluate.figure`, default row choice)."""
    seed: int = 0
    batch_size: int = 50
    workers: int | None = None
    """Decode worker processes; default min(4, CPUs)."""
    device: str = "auto"
    grid_rows: int = 8
    cache: bool = True
    results_root: str = "results"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def protocol_layer(protocol: str | Path | None) -> Layer | None:
    """The options of an evaluation protocol (a YAML file, or a bundled ``eval/NAME.yaml`` by name): keys are
    :class:`EvalConfig` fields, a layer under the command's flags and ``--set`` (:func:`cfkit.options.command_options`).

    Relative ``source``/``reference`` paths are relative to the working directory (``data/...``).
    """
    if protocol is None:
        return None
    path = Path(protocol)
    if not path.is_file() and not path.suffix:  # a bundled protocol by name: eval/NAME.yaml
        from cfkit.resources import resource_dir

        path = resource_dir("eval") / f"{path}.yaml"
    raw = {k.replace("-", "_"): v for k, v in read_mapping(path, "protocol").items()}
    return str(path), {k: v for k, v in raw.items() if k not in ("name", "description")}
