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
