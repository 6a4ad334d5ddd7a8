"""``.ci/run`` fails when the services the study tests need cannot start, and makes their absence fatal."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from services import REQUIRE, service_missing

REPO = Path(__file__).resolve().parents[1]

FAKE_PYTHON = """#!/usr/bin/env bash
# stands in for python3: `-m venv .venv` makes a venv whose pip does nothing and whose python records the run
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin"
  printf '#!/usr/bin/env bash\\nexit 0\\n' > "$3/bin/pip"
  printf '#!/usr/bin/env bash\\necho "pytest $* require=$%s url=$CFKIT_TEST_POSTGRES_URL" >> "%s"\\n' > "$3/bin/python"
  chmod +x "$3/bin/pip" "$3/bin/python"
fi
"""


def run_ci(tmp_path: Path, services_script: str) -> tuple[int, str, str]:
    """Run a copy of ``.ci/run`` with a stub ``scripts/ci_services.sh`` and a stub python3."""
    repo, bin_dir, log = tmp_path / "repo", tmp_path / "bin", tmp_path / "ran.log"
    (repo / ".ci").mkdir(parents=True)
    (repo / "scripts").mkdir()
    shutil.copy(REPO / ".ci" / "run", repo / ".ci" / "run")
    (repo / "scripts" / "ci_services.sh").write_text(services_script)
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(FAKE_PYTHON % (REQUIRE, log))
    (bin_dir / "python3").chmod(stat.S_IRWXU)
    env = {k: v for k, v in os.environ.items() if k not in (REQUIRE, "CFKIT_TEST_POSTGRES_URL")}
    env["PATH"] = f"{bin_dir}:/usr/bin:/bin"
    proc = subprocess.run(["bash", str(repo / ".ci" / "run")], capture_output=True, text=True, env=env, timeout=60)
    return proc.returncode, proc.stderr, log.read_text() if log.exists() else ""


@pytest.mark.parametrize(
    "script",
    [
        "echo 'ci_services: apt-get failed' >&2; exit 1\n",  # the services could not start
        "exit 0\n",  # "succeeded" without a database URL
    ],
)
def test_ci_fails_when_services_cannot_start(tmp_path, script):
    rc, err, ran = run_ci(tmp_path, script)
    assert rc != 0 and "ci:" in err
    assert ran == ""  # the test suite never ran (it would have skipped the study tests and passed)


def test_ci_runs_pytest_with_services_required(tmp_path):
    rc, err, ran = run_ci(tmp_path, "echo 'export CFKIT_TEST_POSTGRES_URL=postgresql://u:p@127.0.0.1:5/db'\n")
    assert rc == 0, err
    assert ran.strip() == "pytest -m pytest require=1 url=postgresql://u:p@127.0.0.1:5/db"


def test_missing_service_skips_locally_and_fails_in_ci(monkeypatch):
    monkeypatch.delenv(REQUIRE, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no db"):
        service_missing("no db")
    monkeypatch.setenv(REQUIRE, "1")
    with pytest.raises(pytest.fail.Exception, match="no db"):
        service_missing("no db")


def test_summary_lists_skips_with_reasons():
    """pytest's -ra (in pyproject addopts) prints every skip and its reason in the final summary."""
    import tomllib

    addopts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"]
    assert "-ra" in addopts.split()
