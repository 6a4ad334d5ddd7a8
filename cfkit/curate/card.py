"""``card.md``: counts, rejections by reason, statistics (incl. the eye-alignment figure)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def eye_alignment(kept: pd.DataFrame, tolerance: float) -> tuple[float | None, int, int]:
    """(share of measured faces whose eye centres lie within ``tolerance`` px, n within, n measured)."""
    if "eye_error" not in kept:
        return None, 0, 0
    err = kept["eye_error"].astype(float).dropna()
    if not len(err):
        return None, 0, 0
    n_ok = int((err <= tolerance).sum())
    return n_ok / len(err), n_ok, len(err)


def landmark_coverage(kept: pd.DataFrame) -> dict[str, int]:
    """Faces per ``lm_source`` (5-point landmarks), ``"none"`` for faces without them."""
    if "lm_source" not in kept:
        return {"none": len(kept)} if len(kept) else {}
    src = kept["lm_source"].fillna("none").replace("", "none")
    return {str(k): int(v) for k, v in src.value_counts().sort_index().items()}


def _stat(s: pd.Series) -> str:
    s = s.astype(float).dropna()
    if not len(s):
        return "n/a"
    return f"median {np.median(s):.3g} (p5 {np.percentile(s, 5):.3g}, p95 {np.percentile(s, 95):.3g})"


def render(rows: pd.DataFrame, kept: pd.DataFrame, info: dict) -> str:
    rej = rows[rows["status"] != "kept"]
    lines = [f"# Dataset card: {info['source']}", ""]
    lines += [f"- {k}: {v}" for k, v in info.items() if k not in ("notes",)]
    lines += ["", "## Counts", "", "| | count |", "|---|---|"]
    lines.append(f"| input files | {rows['origin'].nunique()} |")
    lines.append(f"| faces kept | {len(kept)} |")
    for split, n in kept["split"].value_counts().sort_index().items() if len(kept) else []:
        lines.append(f"| split {split} | {n} |")
    if len(kept) and "detector" in kept:
        for det, n in kept["detector"].value_counts().sort_index().items():
            lines.append(f"| via {det} | {n} |")
    cover = landmark_coverage(kept)
    for src, n in cover.items():
        lines.append(f"| landmarks {'from ' + src if src != 'none' else 'missing'} | {n} |")
    lines += ["", "## Rejections by reason", "", "| reason | count | example |", "|---|---|---|"]
    for reason, grp in sorted(rej.groupby("reason"), key=lambda kv: -len(kv[1])):
        ex = str(grp["origin"].iloc[0])
        detail = str(grp["detail"].iloc[0]) if "detail" in grp and grp["detail"].iloc[0] else ""
        lines.append(f"| {reason} | {len(grp)} | `{ex[-60:]}`{' (' + detail[:60] + ')' if detail else ''} |")
    if not len(rej):
        lines.append("| (none) | 0 | |")
    lines += ["", "## Statistics", ""]
    share, n_ok, n = eye_alignment(kept, info["eye_tolerance_px"])
    if share is not None:
        lines.append(
            f"- eye alignment: {share * 100:.1f}% of faces ({n_ok}/{n}) have both eye centres within "
            f"{info['eye_tolerance_px']:g} px of the {info['template']} template's eye positions (dlib 68-point "
            f"landmarks measured on the output images); eye error {_stat(kept['eye_error'])} px"
        )
    else:
        lines.append("- eye alignment: not measured (no 68-point landmarks for this source)")
    if len(kept):
        n_lm = len(kept) - cover.get("none", 0)
        parts = ", ".join(f"{k} {v}" for k, v in cover.items() if k != "none") or "none"
        lines.append(
            f"- 5-point landmarks (lm5): {n_lm}/{len(kept)} faces ({n_lm / len(kept) * 100:.1f}%); by source: {parts}"
        )
    for col, label in (
        ("det_score", "detection score"),
        ("face_px", "face size (source px)"),
        ("blur", "sharpness (Laplacian variance)"),
        ("yaw", "yaw proxy"),
        ("pitch", "pitch proxy"),
    ):
        if col in kept and len(kept):
            lines.append(f"- {label}: {_stat(kept[col])}")
    notes = sorted({str(n) for n in kept.get("detector_note", pd.Series(dtype=str)) if n})
    notes += info.get("notes", [])
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"
