"""Trainer configs: flat, documented dataclasses that load from (and save to) YAML.

    cfg = load_config(DAPOConfig, "examples/configs/dapo_tiny.yaml", overrides=["lr=1e-5"])
    save_config(cfg, "runs/x/config.yaml")

Every mistake is a :class:`ConfigError` whose message fits on one line and names the
fix: a missing file, YAML that does not parse, an unknown key (with the valid ones), a
value of the wrong type.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

C = TypeVar("C")


class ConfigError(ValueError):
    """A config could not be loaded; the message is one line saying what to fix."""


def _yaml():
    try:
        import yaml
    except ImportError:
        raise ConfigError("reading YAML configs needs pyyaml: pip install 'verilog-env[train]'") from None
    return yaml


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check ``value`` against a field's type annotation (int -> float is allowed)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif annotation is str:
        if isinstance(value, str):
            return value
    elif origin in (dict, Mapping) or annotation is dict:
        if isinstance(value, Mapping):
            return dict(value)
    elif origin in (list, tuple) or annotation in (list, tuple):
        if isinstance(value, (list, tuple)):
            return list(value) if (origin or annotation) is list else tuple(value)
    else:
        return value
    name = getattr(annotation, "__name__", str(annotation))
    raise ConfigError(f"{where}: expected {name}, got {type(value).__name__} {value!r}")


def config_from_dict(cls: type[C], data: Mapping[str, Any], *, source: str = "config") -> C:
    """Build ``cls`` from a mapping; unknown keys and wrong types are :class:`ConfigError`."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping of keys to values, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(map(repr, unknown))} for {cls.__name__}; "
            f"valid keys: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    values = {key: _coerce(value, hints[key], f"{source}: key {key!r}") for key, value in data.items()}
    try:
        return cls(**values)
    except TypeError as error:  # a required field is missing
        missing = [n for n, f in fields.items() if n not in values and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        raise ConfigError(f"{source}: missing required key(s) {', '.join(map(repr, missing)) or error}") from None
    except ValueError as error:  # the dataclass's own validation
        raise ConfigError(f"{source}: {error}") from None


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """``["lr=1e-5", "steps=10"]`` -> ``{"lr": 1e-05, "steps": 10}`` (values parsed as YAML)."""
    yaml = _yaml()
    out = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r}: expected KEY=VALUE")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        # YAML reads 1e-5 as a string (no dot): accept it as the float it means.
        if isinstance(value, str):
            try:
                value = float(value) if any(c in value.lower() for c in ".e") else value
            except ValueError:
                pass
        out[key.strip()] = value
    return out


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file; every problem is a one-line :class:`ConfigError`."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    yaml = _yaml()
    try:
        loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{p}: not valid YAML{where}: {getattr(error, 'problem', error)}") from None
    if loaded is not None and not isinstance(loaded, Mapping):
        raise ConfigError(f"{p}: expected a mapping of keys to values at the top level")
    return dict(loaded or {})


def load_config(cls: type[C], path: str | Path | None = None, overrides: Iterable[str] = ()) -> C:
    """Load ``cls`` from a YAML file (or only from ``overrides`` when ``path`` is None)."""
    data = read_yaml_mapping(path) if path is not None else {}
    data.update(parse_overrides(overrides))
    return config_from_dict(cls, data, source=str(path) if path is not None else "overrides")


def config_to_dict(config: Any) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def save_config(config: Any, path: str | Path) -> Path:
    """Write ``config`` as YAML (loadable again with :func:`load_config`)."""
    yaml = _yaml()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    data = {k: (list(v) if isinstance(v, tuple) else v) for k, v in config_to_dict(config).items()}
    p.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return p
