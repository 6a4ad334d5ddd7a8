"""The one options loader: layers in order, types checked, nested dataclasses, one-line errors."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from cfkit.errors import InputError
from cfkit.options import given, load_options, parse_assignments, read_mapping


@dataclass(frozen=True)
class Inner:
    low: float = 0.5
    names: tuple[str, ...] = ("a",)


@dataclass
class Opts:
    size: int = 128
    rate: float = 1e-3
    device: str = "auto"
    ema: float | None = None
    flip: bool = True
    pairs: tuple[tuple[str, float], ...] = (("train", 0.9), ("val", 0.1))
    method: dict = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)


def test_layers_in_order_and_types(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("size: 256\nrate: 2\nmethod: {w: 10, keep: x}\ninner: {low: 1}\npairs: [[train, 1]]\n")
    opts = load_options(
        Opts, read_mapping(recipe), given(size=64, device=None), parse_assignments(["method.w=5", "ema=0.999"])
    )
    assert opts.size == 64 and opts.device == "auto"  # a flag left out (None) does not override
    assert opts.rate == 2.0 and isinstance(opts.rate, float)  # an integer where a float is expected
    assert opts.method == {"w": 5, "keep": "x"} and opts.ema == 0.999  # --set reaches nested keys
    assert opts.inner == Inner(low=1.0) and opts.pairs == (("train", 1.0),)
    assert load_options(Opts) == Opts()


@pytest.mark.parametrize(
    "layer, message",
    [
        ({"sizee": 3}, "unknown option(s) sizee (known: device, ema,"),
        ({"size": "big"}, "size must be an integer (got 'big')"),
        ({"size": True}, "size must be an integer (got True)"),
        ({"ema": "x"}, "ema must be a number or null (got 'x')"),
        ({"flip": "yes"}, "flip must be true or false"),
        ({"inner": {"loww": 1}}, "r.yaml.inner: unknown option(s) loww"),
        ({"pairs": [["train"]]}, "pairs must be a list"),
    ],
)
def test_bad_values_are_one_line_errors(layer, message):
    with pytest.raises(InputError) as e:
        load_options(Opts, layer, where="r.yaml")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_bad_files_and_assignments(tmp_path):
    with pytest.raises(InputError, match="options file not found"):
        read_mapping(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(InputError, match="is a mapping"):
        read_mapping(tmp_path / "list.yaml")
    with pytest.raises(InputError, match="KEY=VALUE"):
        parse_assignments(["novalue"])


def test_command_options_layers_in_order_each_checked_under_its_name(tmp_path):
    """The one helper behind every command: defaults < recipe < options file < flags < --set."""
    from pathlib import Path

    from cfkit.options import command_options, file_layer

    recipe = ("recipe.yaml", {"size": 256, "rate": 2, "device": "cpu", "ema": 0.5, "method": {"w": 1, "k": 2}})
    file = tmp_path / "opts.yaml"
    file.write_text("rate: 3\ndevice: cuda\nema: 0.6\nmethod: {w: 3}\n")
    opts = command_options(
        Opts, recipe, file_layer(file), flags={"device": Path("mps"), "ema": 0.7, "size": None}, sets=["ema=0.8"]
    )
    assert (opts.size, opts.rate, opts.device, opts.ema) == (256, 3.0, "mps", 0.8)  # a path is text, once
    assert opts.method == {"w": 3, "k": 2} and opts.flip is True  # nested keys merge; untouched: the default
    with pytest.raises(InputError, match=r"^recipe.yaml: unknown option\(s\) sizee"):
        command_options(Opts, ("recipe.yaml", {"sizee": 1}))
    with pytest.raises(InputError, match=rf"^{file}.inner: unknown option\(s\) loww"):
        file.write_text("inner: {loww: 1}\n")
        command_options(Opts, file_layer(file))
    with pytest.raises(InputError, match="^--set: size must be an integer"):
        command_options(Opts, recipe, sets=["size=big"])


def test_api_options_take_built_options_as_they_are():
    """A Python API given options built by its command uses them as they are (merged once, not again)."""
    from cfkit.options import api_options

    built = Opts(size=64)
    assert api_options(Opts, built, {"size": None}) is built
    assert api_options(Opts, built, {"rate": 2}) == Opts(size=64, rate=2.0)  # keyword fields over the options
    assert api_options(Opts, None, {}, ("recipe", {"size": 32})) == Opts(size=32)


@pytest.mark.parametrize(
    "args",
    [
        ("prepare", "folder", "--src", "{tmp}/missing", "--out", "{tmp}/out", "--size", "64"),
        ("eval", "--methods", "a={tmp}/a", "--source", "{tmp}/missing", "--out", "{tmp}/ev", "--seed", "3"),
        ("train", "cyclegan", "--data-a", "{tmp}/a", "--data-b", "{tmp}/b", "--out", "{tmp}/run", "--size", "32"),
    ],
)
def test_each_command_builds_its_options_once(run_cli, monkeypatch, tmp_path, args):
    """prepare merged its options twice (CLI, then the API), eval built its config twice and train read its
    recipe twice; each now builds them once (the command fails later, on the missing data)."""
    import cfkit.options

    built = []
    real = cfkit.options.build

    def counting(cls, data, where=""):
        built.append(cls.__name__)
        return real(cls, data, where)

    monkeypatch.setattr(cfkit.options, "build", counting)
    rc, _, err = run_cli(*(a.format(tmp=tmp_path) for a in args))
    assert rc != 0 and "not found" in err, err
    top = [n for n in built if n in ("PrepareOptions", "EvalConfig", "TrainOptions")]
    assert len(top) == 1, built
