"""The CLI contract: every command teaches with an example; failures are one line, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer.main

from cfkit.cli import app


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        path = (*prefix, name)
        yield path, cmd
        if hasattr(cmd, "commands"):  # a group (typer may vendor its own click)
            yield from _commands(cmd, path)


ALL = list(_commands(typer.main.get_command(app)))


def test_contract_commands_exist():
    names = {" ".join(p) for p, _ in ALL}
    assert {"models", "models list", "models fetch", "models verify"} <= names


@pytest.mark.parametrize("path", [" ".join(p) for p, _ in ALL])
def test_every_command_help_has_an_example(run_cli, path):
    rc, out, err = run_cli(*path.split(), "--help")
    assert rc == 0
    assert "Example" in out or "example" in out, f"`cfkit {path} --help` shows no example"


def test_unknown_command_is_one_line_usage_error(run_cli):
    rc, out, err = run_cli("frobnicate")
    assert rc == 2 and "No such command" in err and "Traceback" not in err


def test_version_and_console_script():
    out = subprocess.run([sys.executable, "-m", "cfkit", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("cfkit ")


def test_prepare_source_options_reach_the_source(run_cli, tmp_path):
    rc, _, err = run_cli("prepare", "folder", "--src", tmp_path, "--option", "novalue", "--out", tmp_path / "o")
    assert rc == 2 and "--option expects KEY=VALUE" in err
    rc, _, err = run_cli("prepare", "ffhq", "--option", "variant=nope", "--out", tmp_path / "o2")
    assert rc == 2 and "nope" in err and "Traceback" not in err


def test_help_lists_come_from_the_registries(run_cli, monkeypatch):
    """A method, metric or dataset source registered by a new module shows up in its command's help."""
    from cfkit.curate.profiles import PHOTO
    from cfkit.curate.sources import SOURCES, Source
    from cfkit.evaluate.metrics import METRICS
    from cfkit.train.method import METHODS

    for registry in (METHODS, METRICS, SOURCES):
        registry.names()  # discover the real modules first
    monkeypatch.setitem(METHODS._entries, "zz-method", type("ZzMethod", (), {"one_domain": True}))
    monkeypatch.setitem(METRICS._entries, "zz_metric", type("ZzMetric", (), {"label": "ZZ", "higher_is_better": 1}))
    monkeypatch.setitem(SOURCES._entries, "zzsource", type("Zz", (Source,), {"profile": PHOTO, "help": "zz faces"}))
    for command, line in [
        ("train", f"{'zz-method':<20} one (--data)"),
        ("eval", "zz_metric            ZZ (higher is better)"),
        ("prepare", "zzsource     photo    zz faces"),
    ]:
        rc, out, _ = run_cli(command, "--help")
        assert rc == 0 and line in out, command
    rc, out, _ = run_cli("eval", "--list-metrics")
    assert "zz_metric" in out
