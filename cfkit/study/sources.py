"""Where a study's images come from: an evaluation folder or ``name=DIR`` method folders + a source folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cfkit.errors import InputError
from cfkit.evaluate.results import load_eval
from cfkit.imageio import list_images


@dataclass
class StudyInputs:
    """Source images by id (file stem) and, per method, its output for each id."""

    source_dir: Path
    sources: dict[str, Path]
    outputs: dict[str, dict[str, Path]]  # method -> id -> path
    strata: dict[str, str] = field(default_factory=dict)  # id -> stratum label

    @property
    def methods(self) -> list[str]:
        return list(self.outputs)

    def outputs_dir(self, method: str) -> Path:
        paths = list(self.outputs[method].values())
        return paths[0].parent if paths else Path()

    def complete_ids(self) -> list[str]:
        """Ids that have a source image and an output from every method."""
        return sorted(i for i in self.sources if all(i in out for out in self.outputs.values()))


def parse_methods(spec: str | dict[str, str | Path] | None) -> dict[str, Path]:
    """``"a=DIR,b=DIR"`` (or a dict) -> {name: folder}; a bare ``DIR`` is named after the folder."""
    if not spec:
        return {}
    items = (
        spec.items()
        if isinstance(spec, dict)
        else [p.split("=", 1) if "=" in p else (None, p) for p in spec.split(",") if p.strip()]
    )
    out: dict[str, Path] = {}
    for name, folder in items:
        folder = Path(str(folder).strip()).expanduser()
        name = (name or folder.name).strip()
        if not name:
            raise InputError(f"method folder '{folder}' needs a name: use name=DIR")
        if name in out:
            raise InputError(f"method '{name}' given twice")
        out[name] = folder
    return out


def _by_stem(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for p in list_images(folder):
        found.setdefault(p.stem, p)
    return found


def _strata(source_dir: Path, column: str | None) -> dict[str, str]:
    if not column:
        return {}
    for cand in (source_dir / "manifest.parquet", source_dir.parent / "manifest.parquet"):
        if cand.is_file():
            import pandas as pd

            df = pd.read_parquet(cand)
            if column not in df.columns:
                raise InputError(
                    f"manifest {cand} has no column '{column}' (columns: {', '.join(map(str, df.columns))})"
                )
            ids = df["id"] if "id" in df.columns else df.index
            return {str(Path(str(i)).stem): str(v) for i, v in zip(ids, df[column], strict=True)}
    raise InputError(f"--stratify-by {column}: no manifest.parquet in {source_dir} or its parent")


def gather(
    from_eval: str | Path | None = None,
    methods: str | dict | None = None,
    source: str | Path | None = None,
    stratify_by: str | None = None,
) -> StudyInputs:
    """Resolve sources and method outputs; explicit ``methods``/``source`` override what an eval recorded."""
    rec_source, rec_methods = (None, {})
    if from_eval:
        eval_dir = Path(from_eval).expanduser()
        if not eval_dir.is_dir():
            raise InputError(f"evaluation folder not found: {eval_dir}")
        rec = load_eval(eval_dir)
        rec_source, rec_methods = rec.source, rec.methods
    method_dirs = parse_methods(methods) or rec_methods
    source_dir = Path(source).expanduser() if source else rec_source
    if source_dir is None:
        raise InputError("no source folder: pass --source DIR (the evaluation did not record one)")
    if len(method_dirs) < 1:
        raise InputError("no method folders: pass --methods name=DIR,... (the evaluation did not record any)")
    if (source_dir / "images").is_dir():
        source_dir = source_dir / "images"
    sources = _by_stem(source_dir)
    outputs = {}
    for name, folder in method_dirs.items():
        if (folder / "images").is_dir() and not any(folder.glob("*.png")):
            folder = folder / "images"
        outputs[name] = _by_stem(folder)
    inputs = StudyInputs(source_dir, sources, outputs, _strata(source_dir, stratify_by))
    if not inputs.complete_ids():
        raise InputError(
            f"no source id in {source_dir} has an output from every method ({', '.join(method_dirs)}); "
            "outputs must be named <source id>.<ext>"
        )
    return inputs
