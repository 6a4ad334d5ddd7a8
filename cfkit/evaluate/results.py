"""Reading a finished evaluation folder: the one reader of ``metrics.json`` for other tools."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cfkit.errors import InputError

COLUMNS = ["method", "metric", "value", "ci_low", "ci_high", "n", "higher_is_better"]


@dataclass
class EvalRecord:
    """What ``cfkit eval`` recorded: folders compared and one row per (method, metric) with a value."""

    folder: Path
    source: Path | None
    methods: dict[str, Path]
    metrics: pd.DataFrame  # COLUMNS; unavailable metrics are left out


def read_metrics(eval_dir: str | Path) -> dict:
    """``EVAL/metrics.json`` as ``cfkit eval`` wrote it; a missing or unreadable file is a one-line error."""
    folder = Path(eval_dir).expanduser()
    try:
        data = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{folder} is not a cfkit eval folder (no metrics.json; give a `cfkit eval --out` folder)"
        ) from None
    except (OSError, ValueError) as e:
        raise InputError(f"{folder} is not a cfkit eval folder (metrics.json: {type(e).__name__}: {e})") from None
    if not isinstance(data, dict):
        raise InputError(f"{folder} is not a cfkit eval folder (metrics.json holds no mapping)")
    return data


def load_eval(eval_dir: str | Path) -> EvalRecord:
    """Parse ``EVAL/metrics.json``; a missing or malformed file is a one-line error."""
    folder = Path(eval_dir).expanduser()
    f = folder / "metrics.json"
    data = read_metrics(folder)
    try:
        source = data["source"].get("folder")
        methods = {name: Path(m["folder"]) for name, m in data["methods"].items()}
        info = data.get("metric_info", {})
        rows = [
            (
                method,
                metric,
                float(r["value"]),
                *(r.get("ci") or (None, None)),
                r.get("n"),
                info.get(metric, {}).get("higher_is_better"),
            )
            for method, per_metric in data["metrics"].items()
            for metric, r in per_metric.items()
            if isinstance(r.get("value"), (int, float))
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise InputError(f"{f} is not a cfkit eval result ({type(e).__name__}: {e})") from None
    return EvalRecord(folder, Path(source) if source else None, methods, pd.DataFrame(rows, columns=COLUMNS))
