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

from robot_rl.config_bounds import bound_for

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


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML's "last wins" hides typos)."""


def _construct_unique_mapping(
    loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False
) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: SafeLoader names it below
            continue
        line = key_node.start_mark.line + 1
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {first})", key_node.start_mark
            )
        seen[key] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_unique_mapping,  # type: ignore[arg-type]
)


def parse_yaml(text: str) -> Any:
    """YAML text as plain data, refusing duplicate keys (yaml.YAMLError names key and line)."""
    return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no objects


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
    for key, value in kwargs.items():  # the values the file gave (defaults are in range)
        _check_bound(cls.__name__, key, value, where, f"{path}.{key}" if path else str(key))
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


def _check_bound(class_name: str, name: str, value: Any, where: str, path: str) -> None:
    """Raise ConfigError when a number in ``value`` breaks the field's rule (config_bounds)."""
    if isinstance(value, bool) or value is None or dataclasses.is_dataclass(value):
        return
    if isinstance(value, (int, float)):
        problem = bound_for(class_name, name).error(value)
        if problem is not None:
            raise _fail(where, path, problem)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_bound(class_name, name, item, where, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_bound(class_name, name, item, where, f"{path}.{key}")


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
            node[parts[-1]] = parse_yaml(raw)
        except yaml.YAMLError as err:
            raise ConfigError(
                f"override {item!r}: value is not valid YAML: {_one_line(err)}"
            ) from err


def load_yaml(cls: type[T], path: str | Path, *, overrides: list[str] | None = None) -> T:
    """Load and validate a YAML config file into dataclass ``cls`` (after dotted overrides)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {err.start}: {err.object[err.start : err.start + 1]!r})"
        ) from err
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the file: {err.strerror or err}") from err
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {_one_line(err)}") from err
    if data is None:
        raise ConfigError(
            f"{path}: the file is empty (or null); a config needs at least one key "
            "(e.g. 'name: my_run')"
        )
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    apply_overrides(data, overrides or [], where=str(path))
    return from_dict(cls, data, where=str(path))


def _one_line(err: yaml.YAMLError) -> str:
    """A YAML error as one line: the problem and where (line, column)."""
    problem = getattr(err, "problem", None)
    mark = getattr(err, "problem_mark", None)
    if problem and mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return " ".join(str(err).split())


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
    "parse_yaml",
    "save_yaml",
    "to_dict",
]
_ = typing  # keep typing importable for get_type_hints on postponed annotations
