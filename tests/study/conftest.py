"""Study test fixtures: method folders derived from real photos, databases (SQLite; PostgreSQL when available)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps
from services import service_missing

from cfkit.imageio import list_images, load_rgb, save_png

# derived "outputs": each method is a visibly different transform of the source photo
METHODS = {
    "blurry": lambda im: im.filter(ImageFilter.GaussianBlur(3)),
    "poster": lambda im: ImageOps.posterize(im, 2),
    "sharp": lambda im: im.filter(ImageFilter.UnsharpMask(2, 150)),
}


def make_folders(photos: list[np.ndarray], root: Path, methods=METHODS, ids=None) -> tuple[Path, dict[str, Path]]:
    """``root/source/<id>.png`` + ``root/results/<method>/<id>.png`` for every photo."""
    src = root / "source"
    out = {m: root / "results" / m for m in methods}
    for n, rgb in enumerate(photos):
        sid = ids[n] if ids else f"face{n:03d}"
        im = Image.fromarray(rgb).convert("RGB").resize((128, 128))
        save_png(src / f"{sid}.png", np.asarray(im))
        for m, fn in methods.items():
            save_png(out[m] / f"{sid}.png", np.asarray(fn(im)))
    return src, out


def _write_eval(folder: Path, source: Path, methods: dict[str, Path], values: dict[str, dict[str, float]]) -> Path:
    """A metrics.json in the format ``cfkit eval`` writes (FID-like metrics: lower is better)."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    metrics = {m: {k: {"value": v, "ci": [v - 1, v + 1], "n": 4} for k, v in per.items()} for m, per in values.items()}
    names = {k for per in values.values() for k in per}
    doc = {
        "source": {"folder": str(source)},
        "methods": {m: {"folder": str(p)} for m, p in methods.items()},
        "metrics": metrics,
        "metric_info": {k: {"higher_is_better": False} for k in names},
    }
    (folder / "metrics.json").write_text(json.dumps(doc))
    return folder


@pytest.fixture
def write_eval():
    """``write_eval(folder, source, methods, {method: {metric: value}})`` -> an eval folder."""
    return _write_eval


def skimage_photos(n: int) -> list[np.ndarray]:
    """``n`` 200 px crops of skimage's astronaut photo (real pixels, no download)."""
    from skimage import data

    a = data.astronaut()
    offs = [(y, x) for y in range(0, 300, 50) for x in range(100, 312, 53)]
    return [a[y : y + 200, x : x + 200] for y, x in offs[:n]]


@pytest.fixture
def folders(tmp_path) -> tuple[Path, dict[str, Path]]:
    return make_folders(skimage_photos(8), tmp_path / "run")


@pytest.fixture
def real_folders(shared_data, tmp_path) -> tuple[Path, dict[str, Path]]:
    """16 FFHQ thumbnails with derived method outputs, and a manifest.parquet (id, gender) beside the sources."""
    import pandas as pd

    folder = shared_data / "photos" / "ffhq_thumbs128"
    files = list_images(folder)[:16]
    src, out = make_folders([load_rgb(f) for f in files], tmp_path / "real", ids=[f.stem for f in files])
    labels = pd.read_csv(folder / "processed_image_data_set_sample.csv", dtype={"image id": str})
    labels = labels.set_index("image id").reindex([f.stem for f in files])
    gender = labels["gender"].map({0.0: "female", 1.0: "male"}).fillna("unknown")
    pd.DataFrame({"id": [f.stem for f in files], "gender": gender.to_numpy()}).to_parquet(src / "manifest.parquet")
    return src, out


@pytest.fixture(autouse=True)
def _fresh_session_limit():
    """Each test starts with no new-session history (the limit is per process, and tests start many)."""
    from cfkit.study.ratelimit import NEW_SESSIONS

    NEW_SESSIONS.clear()
    yield
    NEW_SESSIONS.clear()


_PG: dict[str, str | None] = {}


def postgres_url() -> str | None:
    """CFKIT_TEST_POSTGRES_URL, else (root, PostgreSQL installed) a local cluster started by scripts/ci_services.sh."""
    if os.environ.get("CFKIT_TEST_POSTGRES_URL"):
        return os.environ["CFKIT_TEST_POSTGRES_URL"]
    if "url" not in _PG:
        import shutil
        import subprocess

        _PG["url"], script = None, Path(__file__).resolve().parents[2] / "scripts" / "ci_services.sh"
        if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("pg_ctlcluster"):
            r = subprocess.run(
                ["bash", str(script)],
                capture_output=True,
                text=True,
                timeout=120,
                env={**os.environ, "CFKIT_CI_NO_APT": "1"},
            )
            line = r.stdout.strip().splitlines()[-1] if r.returncode == 0 and r.stdout.strip() else ""
            _PG["url"] = line.split("=", 1)[1] if line.startswith("export CFKIT_TEST_POSTGRES_URL=") else None
    return _PG["url"]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh database: a SQLite file, and (where CFKIT_TEST_POSTGRES_URL works) a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield str(tmp_path / "study.db")
        return
    url = postgres_url()
    if not url:
        service_missing(
            'PostgreSQL could not be started here: run `eval "$(bash scripts/ci_services.sh)"` as root '
            "(installs and starts it, sets CFKIT_TEST_POSTGRES_URL)"
        )
    import sqlalchemy as sa

    from cfkit.study.db import to_url

    try:
        admin = sa.create_engine(to_url(url), isolation_level="AUTOCOMMIT")
        name = f"cfkit_t_{uuid.uuid4().hex[:10]}"
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as e:
        # configured but down: a broken CI service, not a reason to skip
        pytest.fail(f"PostgreSQL at CFKIT_TEST_POSTGRES_URL cannot be reached: {str(e).splitlines()[0]}")
    base = url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    from cfkit.study.db import _CACHE

    for key in [k for k in _CACHE if k.endswith("/" + name)]:
        _CACHE.pop(key).dispose()
    with admin.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()
