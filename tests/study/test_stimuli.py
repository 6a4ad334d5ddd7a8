"""Served stimuli: one size per trial whatever each method's resolution; image problems re-checked and clearable."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from cfkit.imageio import save_png
from cfkit.resources import resource_dir
from cfkit.study import stimuli
from cfkit.study import volunteer as v
from cfkit.study.db import open_db
from cfkit.study.design import create_study


def _mixed_sizes(root):
    """Sources at 128 px; method ``hires`` at 384 px (real detail), ``lowres`` at 128 px, ``wide`` 192x128."""
    src, out = root / "source", {m: root / "results" / m for m in ("hires", "lowres", "wide")}
    from skimage import data

    photo = data.astronaut()
    for n in range(3):
        im = Image.fromarray(photo[50 * n : 50 * n + 200, 150 : 150 + 200])
        save_png(src / f"f{n}.png", np.asarray(im.resize((128, 128), Image.LANCZOS)))
        save_png(out["hires"] / f"f{n}.png", np.asarray(im.resize((384, 384), Image.LANCZOS)))
        save_png(out["lowres"] / f"f{n}.png", np.asarray(im.resize((128, 128), Image.LANCZOS)))
        save_png(out["wide"] / f"f{n}.png", np.asarray(im.resize((192, 128), Image.LANCZOS)))
    return src, out


def _study(tmp_path, src, out, **kw):
    db = tmp_path / "st.db"
    create_study(
        db=db,
        out=tmp_path / "st",
        methods={k: str(p) for k, p in out.items()},
        source=src,
        name="st",
        attention_duplicates=0,
        attention_broken=0,
        **kw,
    )
    return open_db(db)


def _decoded(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)


def test_every_stimulus_of_a_trial_is_served_at_one_size(tmp_path):
    """384 px and 128 px outputs of the same face are served alike: same dimensions, same resampling."""
    src, out = _mixed_sizes(tmp_path / "run")
    db = _study(tmp_path, src, out, n_sources=3)
    code = v.start_participant(db, "st")
    t = v.current_trial(db, "st", code)
    pngs = stimuli.trial_pngs(db, (t.source, *t.outputs))
    sizes = {Image.open(io.BytesIO(p)).size for p in pngs}
    assert sizes == {(stimuli.STIMULUS_SIDE, stimuli.STIMULUS_SIDE)}  # before: 128, 384 and 192x128 as stored
    with db.read() as s:
        from sqlalchemy import select

        from cfkit.study.schema import Image as Im
        from cfkit.study.schema import StudyMethod

        method = dict(
            s.execute(select(Im.token, StudyMethod.name).join(StudyMethod, StudyMethod.id == Im.method_id)).all()
        )
    by_method = {method[tok]: _decoded(p) for tok, p in zip(t.outputs, pngs[1:], strict=True)}
    # the 384 px output goes through the trial's 128 px working resolution: no sharper than the 128 px one
    assert np.abs(by_method["hires"] - by_method["lowres"]).mean() < 2.0
    native = Image.open(out["hires"] / "f0.png").resize((128, 128), Image.LANCZOS).resize((384, 384), Image.LANCZOS)
    assert np.abs(_decoded(open(out["hires"] / "f0.png", "rb").read()) - np.asarray(native, float)).mean() > 2.0
    wide = by_method["wide"]
    assert (wide[:32] == 255).all() and (wide[-32:] == 255).all()  # letterboxed, not stretched
    for p in pngs:
        assert b"tEXt" not in p and b"hires" not in p and str(tmp_path).encode() not in p


def test_a_file_moved_away_and_back_is_usable_again(folders, tmp_path, monkeypatch):
    src, out = folders
    db = _study(tmp_path, src, out, n_sources=1, ratings_per_item=5)
    t = v.current_trial(db, "st", v.start_participant(db, "st"))
    away = tmp_path / "away.png"
    with db.read() as s:
        from sqlalchemy import select

        from cfkit.study.schema import Image as Im

        path = s.scalar(select(Im.path).where(Im.token == t.outputs[0]))
    shutil.move(path, away)
    with pytest.raises(stimuli.BrokenStimulus):
        stimuli.trial_pngs(db, (t.source, *t.outputs))
    assert len(stimuli.stimulus_problems(db, "st")) == 1
    monkeypatch.setattr(stimuli, "RECHECK_S", 0)
    with pytest.raises(v.StudyFull):  # still missing: the re-check keeps it out (the only item)
        v.start_participant(db, "st")
    shutil.move(away, path)
    code = v.start_participant(db, "st")  # the re-check sees it back (before: excluded for good)
    assert stimuli.stimulus_problems(db, "st") == []
    t2 = v.current_trial(db, "st", code)
    assert t2 is not None and t.outputs[0] in t2.outputs


def test_admin_page_rechecks_and_clears_image_problems(folders, tmp_path, monkeypatch):
    src, out = folders
    db = _study(tmp_path, src, out, n_sources=2, ratings_per_item=5)
    monkeypatch.setenv("CFKIT_STUDY_DB", str(db.url.removeprefix("sqlite:///")))
    monkeypatch.setenv("CFKIT_STUDY", "st")
    monkeypatch.setenv("CFKIT_ADMIN_TOKEN", "tok")
    t = v.current_trial(db, "st", v.start_participant(db, "st"))
    with db.read() as s:
        from sqlalchemy import select

        from cfkit.study.schema import Image as Im

        path = s.scalar(select(Im.path).where(Im.token == t.outputs[0]))
    shutil.move(path, tmp_path / "away.png")
    with pytest.raises(stimuli.BrokenStimulus):
        stimuli.trial_pngs(db, (t.source, *t.outputs))
    at = AppTest.from_file(str(resource_dir("dashboard") / "study" / "admin.py"), default_timeout=60)
    at.session_state["admin_token"] = "tok"
    at.run()

    def button(label):
        return next(b for b in at.button if b.label.startswith(label))

    button("Re-check").click().run()
    assert any("0 image(s) readable again" in i.value for i in at.info) and len(stimuli.stimulus_problems(db, "st"))
    shutil.move(tmp_path / "away.png", path)
    button("Re-check").click().run()
    assert any("1 image(s) readable again" in i.value for i in at.info)
    assert stimuli.stimulus_problems(db, "st") == [] and not any(b.label.startswith("Re-check") for b in at.button)
    stimuli.report_broken(db, t.outputs[0], "a problem that a re-check would not find")
    at.run()
    button("Clear all").click().run()
    assert stimuli.stimulus_problems(db, "st") == [] and not at.exception
