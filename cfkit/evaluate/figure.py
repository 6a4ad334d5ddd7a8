"""The comparison figure of an evaluation folder: rows of source ids, columns source | each method (| target).

Rows are the ids the user names, or picked from ``per_image.csv`` by one per-image metric: where the
methods disagree most (largest spread of the metric across methods) or each method's worst cases in turn.
Written as ``figure.png`` and ``figure.pdf`` beside ``metrics.json`` (``cfkit eval --figure``,
``cfkit figure EVAL_DIR``).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from cfkit.errors import InputError
from cfkit.evaluate.inputs import COPY_INPUT, dataset_images, index_folder
from cfkit.evaluate.results import read_metrics
from cfkit.fsutil import atomic_write_bytes, record_outputs, recorded_outputs

PICKS = ("disagree", "worst")
DEFAULT_METRICS = ("lpips", "lpips_target", "identity", "landmark_nme")
"""Tried in order when no metric is named; else the first per-image metric with values."""


def read_per_image(eval_dir: Path) -> dict[str, dict[str, dict[str, float]]]:
    """``metric -> method -> id -> value`` from ``per_image.csv`` (the copy-the-input rows left out)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    with (eval_dir / "per_image.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            method, key = row.pop("method"), row.pop("id")
            if method == COPY_INPUT:
                continue
            for metric, v in row.items():
                if v not in ("", None) and math.isfinite(float(v)):
                    out.setdefault(metric, {}).setdefault(method, {})[key] = float(v)
    return out


def pick_ids(values: dict[str, dict[str, float]], methods: list[str], pick: str, rows: int, higher_is_better: bool):
    """``rows`` ids from ``method -> id -> value`` of one metric: largest spread across methods, or each
    method's worst cases in turn (ids every method measured)."""
    common = sorted(set.intersection(*(set(values.get(m, {})) for m in methods)))
    if pick == "disagree":
        spread = {k: max(values[m][k] for m in methods) - min(values[m][k] for m in methods) for k in common}
        return sorted(common, key=lambda k: (-spread[k], k))[:rows]
    ranked = {
        m: sorted(common, key=lambda k: (values[m][k] if higher_is_better else -values[m][k], k)) for m in methods
    }
    chosen: list[str] = []
    for depth in range(len(common)):
        for m in methods:
            if len(chosen) < rows and ranked[m][depth] not in chosen:
                chosen.append(ranked[m][depth])
    return chosen[:rows]


def method_order(doc: dict) -> list[str]:
    """Method names in the order given to ``cfkit eval`` (``metrics.json`` stores its keys sorted)."""
    given = [spec.partition("=")[0].strip() for spec in doc["config"]["methods"]]
    return [m for m in given if m in doc["methods"]]


def choose_rows(doc: dict, per_image: dict, ids: list[str] | None, pick: str, metric: str | None, rows: int):
    """``(ids, metric or None)``: the user's ids, or ``rows`` picked by ``metric``."""
    methods = method_order(doc)
    if ids:
        return ids, metric
    if pick not in PICKS:
        raise InputError(f"unknown --pick '{pick}' (choose from {', '.join(PICKS)})")
    if metric is None:
        usable = [k for k in (*DEFAULT_METRICS, *per_image) if len(per_image.get(k, {})) == len(methods)]
        metric = usable[0] if usable else None
    elif metric not in per_image:
        have = ", ".join(sorted(per_image)) or "none"
        raise InputError(f"no per-image values of '{metric}' in this evaluation (per-image metrics: {have})")
    if metric is None:
        return [], None
    higher = doc["metric_info"].get(metric, {}).get("higher_is_better", False)
    return pick_ids(per_image[metric], methods, pick, rows, higher), metric


def _folder(path: str, what: str) -> dict[str, Path]:
    try:
        return index_folder(dataset_images(path))
    except (InputError, OSError) as e:
        raise InputError(f"figure: {what} folder {path}: {e} (run from the folder cfkit eval ran in)") from None


def render(columns: list[tuple[str, dict[str, Path]]], ids: list[str], captions: dict):
    """The matplotlib figure: one row per id, one column per (title, id -> file); ``captions[(title, id)]``
    is printed under an image (the metric value)."""
    import matplotlib.pyplot as plt

    from cfkit.imageio import ImageDecodeError, load_rgb

    size = 1.9
    fig, axes = plt.subplots(
        len(ids), len(columns), figsize=(size * len(columns) + 0.6, size * len(ids) + 0.5), squeeze=False
    )
    for r, key in enumerate(ids):
        for c, (title, files) in enumerate(columns):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            try:
                if key not in files:
                    raise ImageDecodeError("no image with this id")
                ax.imshow(load_rgb(files[key]))
            except ImageDecodeError:
                ax.text(0.5, 0.5, "missing", ha="center", va="center", fontsize=9, color="0.5")
            if r == 0:
                ax.set_title(title, fontsize=11)
            if c == 0:
                ax.set_ylabel(key if len(key) <= 18 else key[:16] + "…", fontsize=9)
            if (cap := captions.get((title, key))) is not None:
                ax.set_xlabel(cap, fontsize=9)
    fig.tight_layout(pad=0.3, w_pad=0.2, h_pad=0.4)
    return fig


def write_figure(
    eval_dir: str | Path,
    ids: list[str] | None = None,
    pick: str = "disagree",
    metric: str | None = None,
    rows: int = 6,
    name: str = "figure",
    force: bool = False,
) -> list[Path]:
    """Write ``EVAL_DIR/<name>.png`` and ``.pdf``; return their paths.

    ``ids`` are the rows in order; otherwise ``rows`` ids picked by ``metric`` (default: LPIPS to the
    input, else the first per-image metric) with ``pick`` = ``disagree`` or ``worst``. An existing file of
    that name is replaced only where the eval folder's record says cfkit wrote it (or with ``force``); the
    files are added to that record.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    eval_dir = Path(eval_dir)
    doc = read_metrics(eval_dir)
    try:
        per_image = read_per_image(eval_dir)
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"{eval_dir} is not a cfkit eval folder ({type(e).__name__}: {e})") from None
    if rows < 1:
        raise InputError(f"--rows must be >= 1 (got {rows})")
    names = [f"{name}.{ext}" for ext in ("png", "pdf")]
    own = recorded_outputs(eval_dir, "eval")
    if not force and (theirs := [n for n in names if (eval_dir / n).exists() and n not in own]):
        raise InputError(
            f"{eval_dir / theirs[0]} exists and cfkit has no record of writing it; pass --force to replace it, "
            "or choose another --name"
        )
    source = _folder(doc["source"]["folder"], "source")
    chosen, metric = choose_rows(doc, per_image, ids, pick, metric, rows)
    if not chosen:
        chosen = sorted(source)[:rows]
    if unknown := [k for k in chosen if k not in source]:
        raise InputError(f"figure: id(s) not among the sources: {', '.join(unknown[:5])}")
    columns = [
        ("source", source),
        *((m, _folder(doc["methods"][m]["folder"], f"method '{m}'")) for m in method_order(doc)),
    ]
    if doc.get("targets"):
        columns.append(("target", _folder(doc["targets"]["folder"], "targets")))
    captions = {}
    if metric:
        label = doc["metric_info"].get(metric, {}).get("label", metric)
        captions = {(m, k): f"{label} {v:.3f}" for m, vals in per_image[metric].items() for k, v in vals.items()}
    fig = render(columns, chosen, captions)
    for n in names:
        buf = io.BytesIO()
        fig.savefig(buf, format=n.rsplit(".", 1)[1], dpi=150, bbox_inches="tight")
        atomic_write_bytes(eval_dir / n, buf.getvalue())
    plt.close(fig)
    record_outputs(eval_dir, "eval", names)
    return [eval_dir / n for n in names]
