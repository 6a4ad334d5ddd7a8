"""``cfkit study export`` writes only where it may: never over the study database or a file it was not told to
replace."""

from __future__ import annotations

import pandas as pd

from cfkit.study.design import create_study


def _study(folders, tmp_path, db) -> None:
    src, out = folders
    create_study(db=db, out=tmp_path / "study", methods={k: str(p) for k, p in out.items()}, source=src, name="s")


def test_export_never_writes_over_the_database(folders, tmp_path, run_cli):
    db = tmp_path / "study" / "study.db"
    _study(folders, tmp_path, db)
    before = db.read_bytes()
    rc, _, err = run_cli("study", "export", "--study", "s", "--db", db, "--out", tmp_path / "r.csv", "--yaml", db)
    assert rc != 0 and "--yaml must name a .yaml or .yml file" in err and "Traceback" not in err
    assert db.read_bytes() == before and not (tmp_path / "r.csv").exists()


def test_export_never_writes_over_a_database_with_an_export_suffix(folders, tmp_path, run_cli):
    db = tmp_path / "ratings.yaml"  # a database whose file name passes the suffix check
    _study(folders, tmp_path, db)
    before = db.read_bytes()
    args = ("study", "export", "--study", "s", "--db", db, "--out", tmp_path / "r.csv", "--yaml", db, "--force")
    rc, _, err = run_cli(*args)
    assert rc != 0 and f"--yaml {db} is the study database itself" in err and db.read_bytes() == before


def test_export_keeps_existing_files_unless_forced(folders, tmp_path, run_cli):
    db = tmp_path / "study.db"
    _study(folders, tmp_path, db)
    out, defn = tmp_path / "r.csv", tmp_path / "def.yaml"
    defn.write_text("the user's own notes\n")
    base = ("study", "export", "--study", "s", "--db", db, "--out", out, "--yaml", defn)
    rc, _, err = run_cli(*base)
    assert rc != 0 and f"--yaml {defn} exists; pass --force" in err and not out.exists()  # nothing half-exported
    assert defn.read_text() == "the user's own notes\n"
    out.write_text("the user's own table\n")
    rc, _, err = run_cli(*base)
    assert rc != 0 and f"--out {out} exists" in err and out.read_text() == "the user's own table\n"
    rc, _, err = run_cli(*base, "--force")
    assert rc == 0, err
    assert "criterion" in pd.read_csv(out).columns and "name: s" in defn.read_text()
    rc, _, err = run_cli(*base)  # unchanged ratings: the same bytes again, nothing to lose
    assert rc == 0, err
