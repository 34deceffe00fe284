"""Typed configs: YAML files loaded into nested dataclasses, validated on load.

Every unknown key and every ill-typed value is an error that names the file and the dotted
field path (``configs/pick_cube.yaml: agent.batch_size: expected int, got 'big'``).
Written by hand because the job is small and the error messages are the point.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or mapping is malformed; the message names the file and field."""


def _fail(where: str, path: str, msg: str) -> ConfigError:
    prefix = f"{where}: " if where else ""
    return ConfigError(f"{prefix}{path or '<root>'}: {msg}")


def _coerce(value: Any, tp: Any, where: str, path: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise _fail(where, path, f"expected one of {list(allowed)}, got {value!r}")
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where, path)
            except ConfigError as err:
                errors.append(str(err))
        raise _fail(where, path, f"{value!r} matches none of {tp}")
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise _fail(where, path, f"expected a mapping, got {type(value).__name__}")
        return from_dict(tp, value, where=where, path=path)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise _fail(where, path, f"expected a list, got {type(value).__name__} {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise _fail(where, path, f"expected {len(args)} items, got {len(value)}")
            items = [
                _coerce(v, a, where, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value))
            ]
        else:
            item_tp = args[0] if args else Any
            items = [_coerce(v, item_tp, where, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(where, path, f"expected a mapping, got {type(value).__name__}")
        kt, vt = get_args(tp) or (Any, Any)
        return {
            _coerce(k, kt, where, f"{path}.{k}"): _coerce(v, vt, where, f"{path}.{k}")
            for k, v in value.items()
        }
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(where, path, f"expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(where, path, f"expected int, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(where, path, f"expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(where, path, f"expected a string, got {value!r}")
        return value
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise _fail(where, path, f"expected {getattr(tp, '__name__', tp)}, got {value!r}")


def merge_defaults(defaults: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` laid over ``defaults``: nested mappings merge key by key, other values replace."""
    merged = dict(defaults)
    for key, value in data.items():
        base = merged.get(key)
        if isinstance(base, dict) and isinstance(value, dict):
            merged[key] = merge_defaults(base, value)
        else:
            merged[key] = value
    return merged


def from_dict(cls: type[T], data: dict[str, Any], *, where: str = "", path: str = "") -> T:
    """Build dataclass ``cls`` from a mapping; unknown keys and bad types raise ConfigError.

    A dataclass with a ``config_defaults(data) -> mapping`` classmethod gets that mapping laid
    under ``data`` first (e.g. a run config takes its env defaults from its task).
    """
    defaults = getattr(cls, "config_defaults", None)
    if callable(defaults):
        try:
            data = merge_defaults(defaults(data), data)
        except ValueError as err:
            if path:
                raise _fail(where, path, str(err)) from err
            raise ConfigError(f"{where}: {err}" if where else str(err)) from err
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        sub = f"{path}.{key}" if path else str(key)
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise _fail(where, sub, f"unknown key (known keys: {known})")
        kwargs[key] = _coerce(value, hints[key], where, sub)
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise _fail(where, path, str(err)) from err
    validate = getattr(obj, "validate", None)
    if callable(validate):
        try:
            validate()
        except ValueError as err:
            raise _fail(where, path, str(err)) from err
    return obj


def to_dict(obj: Any) -> Any:
    """Plain-data (YAML/JSON-ready) form of a config dataclass."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def apply_overrides(data: dict[str, Any], overrides: list[str], *, where: str = "") -> None:
    """Apply ``dotted.key=value`` overrides (values parsed as YAML scalars) in place."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected dotted.key=value")
        dotted, raw = item.split("=", 1)
        node = data
        parts = dotted.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{where}: override {dotted}: {part} is not a mapping")
            node = child
        try:
            node[parts[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ConfigError(f"override {item!r}: value is not valid YAML: {err}") from err


def load_yaml(cls: type[T], path: str | Path, *, overrides: list[str] | None = None) -> T:
    """Load and validate a YAML config file into dataclass ``cls`` (after dotted overrides)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    apply_overrides(data, overrides or [], where=str(path))
    return from_dict(cls, data, where=str(path))


def save_yaml(obj: Any, path: str | Path) -> None:
    """Write a config dataclass as YAML (the run directory's config copy)."""
    Path(path).write_text(yaml.safe_dump(to_dict(obj), sort_keys=False))


def config_hash(obj: Any) -> str:
    """Short stable hash of a config, carried with weights so a mismatch is detected."""
    blob = json.dumps(to_dict(obj), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


__all__ = [
    "ConfigError",
    "apply_overrides",
    "config_hash",
    "from_dict",
    "load_yaml",
    "merge_defaults",
    "save_yaml",
    "to_dict",
]
_ = typing  # keep typing importable for get_type_hints on postponed annotations
