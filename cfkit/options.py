"""Typed options from layers: dataclass defaults < YAML file < keyword/CLI overrides < ``KEY=VALUE`` items.

    opts = command_options(TrainOptions, file_layer(recipe), flags={"size": 64, "iters": None}, sets=["ema=0.999"])
    opts.size  # 64, an int: every value is checked against the field's type, unknown keys are one-line errors

The one loader behind every command that takes options (``cfkit train`` recipes, ``cfkit eval``
protocols, ``cfkit prepare`` dataset recipes and ``--options FILE``, ``cfkit study create``); each
command keeps its options in one dataclass, the single source of defaults shared by the CLI and the
Python API, and each Python API merges its options once (:func:`api_options`).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from cfkit.errors import InputError

T = TypeVar("T")


def read_mapping(path: str | Path, what: str = "options file") -> dict[str, Any]:
    """A YAML file holding a mapping (``{}`` when empty); a missing or malformed file is a one-line error."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise InputError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: a {what} is a mapping of keys to values")
    return data


def comma_list(value: str | None) -> list[str] | None:
    """A flag's ``"a, b,c"`` -> ``["a", "b", "c"]``; None (not given) or empty -> None."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def parse_assignments(items: list[str] | None) -> dict[str, Any]:
    """``["method.w_content=10", "ema=0.999"]`` -> nested dict (values parsed as YAML scalars)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set expects KEY=VALUE, got {item!r}")
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(raw)
    return out


def given(values: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    """The overrides actually given: ``None`` means "not set" (a CLI flag left out)."""
    return {k: v for k, v in {**(values or {}), **kw}.items() if v is not None}


def merge(base: dict, over: dict) -> dict:
    """Deep merge: mappings merge key by key, anything else in ``over`` replaces."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


Layer = tuple[str, dict[str, Any] | None]
"""Options named by where they came from (a file, ``--set``...), for error messages."""


def file_layer(path: str | os.PathLike, what: str = "options file") -> Layer:
    """The layer of a YAML options file, named by its path."""
    return str(path), read_mapping(path, what)


def command_options(
    cls: type[T],
    *layers: Layer | None,
    flags: dict[str, Any] | None = None,
    sets: Sequence[str] | dict[str, Any] | None = None,
) -> T:
    """A command's options, merged once: ``cls`` defaults < ``layers`` (recipe, protocol, options file; lowest
    first) < ``flags`` given (None: left out) < ``sets`` (``--set KEY=VALUE`` items, or their parsed mapping).

    Each layer's keys and types are checked under its own name, so an error names the file or ``--set``.
    """
    parsed = sets if isinstance(sets, dict) else parse_assignments(list(sets or []))
    named = [*(layer for layer in layers if layer), ("options given", given(flags)), ("--set", parsed)]
    for where, data in named:
        check_layer(cls, data or {}, where)
    return load_options(cls, *(data for _, data in named))


def api_options(cls: type[T], options: T | None, fields: dict[str, Any], *layers: Layer | None) -> T:
    """The options of a Python API call: ``options`` as built (e.g. by its command) when no keyword field is
    given, else built once: ``cls`` defaults < ``layers`` < ``options`` < ``fields`` (None: left out)."""
    if options is not None and not given(fields):
        return options
    base = ("options", dataclasses.asdict(options)) if options is not None else None  # type: ignore[call-overload]
    return command_options(cls, *layers, base, flags=fields)


def check_layer(cls: type, data: dict[str, Any], where: str) -> None:
    """Refuse unknown keys and wrongly typed values of one layer (nested dataclasses included)."""
    _checked(cls, data, where, check_layer)


def load_options(cls: type[T], *layers: dict[str, Any] | None, where: str = "") -> T:
    """``cls`` built from its defaults and ``layers`` (later wins); types checked, unknown keys refused."""
    data: dict[str, Any] = {}
    for layer in layers:
        data = merge(data, layer or {})
    return build(cls, data, where)


def build(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """``cls(**data)`` with nested dataclasses built from mappings and every value checked."""
    return cls(**_checked(cls, data, where, build))


def _checked(cls: type, data: dict[str, Any], where: str, nested: Callable[[type, dict, str], Any]) -> dict[str, Any]:
    """``data``'s values checked against ``cls``'s fields (unknown keys refused); nested mappings go to ``nested``."""
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - fields)
    if unknown:
        prefix = f"{where}: " if where else ""
        raise InputError(f"{prefix}unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(fields))})")
    hints = _hints(cls)
    values = {}
    for name, value in data.items():
        tp = hints[name]
        if dataclasses.is_dataclass(tp) and isinstance(value, dict):
            values[name] = nested(tp, value, f"{where}.{name}" if where else name)
        else:
            values[name] = check(name, value, tp, where)
    return values


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def check(name: str, value: Any, tp: Any, where: str = "") -> Any:
    """``value`` as type ``tp`` (int -> float and list -> tuple where the field says so) or a one-line error."""
    ok, out = _coerce(value, tp)
    if not ok:
        prefix = f"{where}: " if where else ""
        raise InputError(f"{prefix}{name} must be {_describe(tp)} (got {value!r})")
    return out


def check_text(name: str, value: Any, tp: Any, where: str = "") -> Any:
    """:func:`check`, with text read as a YAML value where ``tp`` does not take text (``-o max_members=5``)."""
    import yaml

    if isinstance(value, str) and not _coerce(value, tp)[0]:
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            pass  # reported below as the wrong type
    return check(name, value, tp, where)


def _coerce(value: Any, tp: Any) -> tuple[bool, Any]:
    if tp is Any:
        return True, value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            ok, out = _coerce(value, arg)
            if ok:
                return True, out
        return False, value
    if tp is type(None):
        return value is None, value
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if tp is str:
        if isinstance(value, os.PathLike):  # a path where text is expected: converted here, once
            return True, os.fspath(value)
        return isinstance(value, str), value
    if origin is typing.Literal:
        return value in args, value
    if origin in (list, tuple) and isinstance(value, list | tuple):
        variadic = origin is list or args[1:] == (Ellipsis,)
        if not variadic and len(args) != len(value):
            return False, value
        item_types = [args[0] if args else Any] * len(value) if variadic else list(args)
        items = [_coerce(v, t) for v, t in zip(value, item_types, strict=True)]
        return all(ok for ok, _ in items), origin(v for _, v in items)
    if origin is dict:
        return isinstance(value, dict), value
    if dataclasses.is_dataclass(tp):
        return isinstance(value, tp), value
    return isinstance(value, origin or tp), value


def _describe(tp: Any) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null"}
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is typing.Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(tp)))
    if typing.get_origin(tp) in (list, tuple):
        return "a list"
    if typing.get_origin(tp) is dict:
        return "a mapping"
    return names.get(tp, getattr(tp, "__name__", str(tp)))
