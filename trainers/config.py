"""Trainer configs: documented dataclasses that load from (and save to) YAML.

    cfg = load_config(DAPOConfig, "examples/configs/dapo_tiny.yaml", overrides=["lr=1e-5", "check.method=both"])
    save_config(cfg, "runs/x/config.yaml")

A field whose type is itself a dataclass (``DAPOConfig.check``:
:class:`verilog_env.CheckSettings`, ``DAPOConfig.reward``: :class:`verilog_env.RewardConfig`)
is a YAML section, a nested mapping; dotted override keys reach into it
(``check.seed=random``). A section class with a ``from_dict`` classmethod is read by it
(``CheckSettings.from_dict`` parses ``seed: random`` and checks its keys), any other one
field by field like the top level.

Every mistake is a :class:`ConfigError` whose message fits on one line and names the
fix: a missing file, YAML that does not parse, an unknown key (with the valid ones, also
inside a section), a value of the wrong type.

**Paths.** A config class names its path fields in a ``PATH_KEYS`` class variable (see
:func:`resolve_paths`). :func:`load_config` makes every one absolute: a relative path
written in the config file is relative to the file's folder, so a config means the same
thing from any working directory; a relative path given as an override (``--set``), or a
default, is relative to the current directory, as a path typed in a shell is.
:func:`save_config` writes them absolute, so a saved config loads the same from anywhere.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import types
import typing
from collections.abc import Callable, Iterable, Mapping
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
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return read_section(value, annotation, where)
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


def read_section(value: Any, cls: type, where: str) -> Any:
    """A nested config section: an instance as is, a mapping (or an empty ``None``) read
    by ``cls.from_dict`` when it has one, else field by field."""
    if isinstance(value, cls):
        return value
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping of {cls.__name__} keys, got {type(value).__name__} {value!r}")
    reader = getattr(cls, "from_dict", None)
    if reader is None:
        return config_from_dict(cls, value, source=where)
    try:
        return reader(value)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}: {' '.join(str(error).split())}") from None


def config_from_dict(cls: type[C], data: Mapping[str, Any], *, source: str = "config") -> C:
    """Build ``cls`` from a mapping; unknown keys and wrong types are :class:`ConfigError`."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping of keys to values, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        moved = getattr(cls, "MOVED_KEYS", {})
        hint = "".join(f" ({key} is now {moved[key]})" for key in unknown if key in moved)
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(map(repr, unknown))} for {cls.__name__}{hint}; "
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


def set_nested(data: dict[str, Any], dotted: str, value: Any) -> None:
    """``data[a][b] = value`` for ``dotted`` = ``"a.b"`` (sections made as needed)."""
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        elif dataclasses.is_dataclass(child) and not isinstance(child, type):
            child = node[key] = plain(child)
        if not isinstance(child, dict):
            raise ConfigError(f"override {dotted}: {key} is not a section")
        node = child
    node[keys[-1]] = value


def load_config(cls: type[C], path: str | Path | None = None, overrides: Iterable[str] = ()) -> C:
    """Load ``cls`` from a YAML file (or only from ``overrides`` when ``path`` is None);
    dotted override keys reach into sections (``check.method=both``). Path fields come back
    absolute: those written in the file against the file's folder, overrides and defaults
    against the current directory (see the module docstring)."""
    data = read_yaml_mapping(path) if path is not None else {}
    written = copy.deepcopy(data)
    parsed = parse_overrides(overrides)
    for key, value in parsed.items():
        set_nested(data, key, value)
    config = config_from_dict(cls, data, source=str(path) if path is not None else "overrides")
    folder = Path(path).absolute().parent if path is not None else None

    def base(key: str) -> Path:
        parts = key.split(".")
        if any(".".join(parts[:n]) in parsed for n in range(1, len(parts) + 1)):
            return Path.cwd()
        return folder if folder is not None and _written(written, parts) else Path.cwd()

    return resolve_paths(config, base)


def _written(data: Any, parts: list[str]) -> bool:
    """Whether the file's mapping ``data`` holds the dotted key ``parts`` (a list on the way,
    such as synth's ``corpus``, holds everything below it)."""
    for part in parts:
        if isinstance(data, list):
            return True
        if not isinstance(data, Mapping) or part not in data:
            return False
        data = data[part]
    return True


def looks_like_path(name: str) -> bool:
    """Whether ``name`` is meant as a local path rather than a hub id (``owner/name`` or
    ``name``) or a registered suite name: absolute, ``./``/``../``/``~`` relative, more than
    one ``/``, a Windows separator, or a file suffix."""
    if name.startswith(("/", "./", "../", "~", ".\\")) or "\\" in name or name.count("/") > 1:
        return True
    return Path(name).suffix.lower() in {".v", ".sv", ".json", ".jsonl", ".parquet", ".arrow", ".txt", ".csv"}


def resolve_path(value: str, base: Path, kind: str = "path") -> str:
    """``value`` as an absolute path: ``~`` expanded, a relative path joined to ``base``.
    Left as is: an absolute path, a URL, an empty string, and (``kind="name_or_path"``) a
    value that names something rather than a file: one that does not
    :func:`looks_like_path` and does not exist under ``base`` (a hub id like
    ``Qwen/Qwen2.5-Coder-1.5B-Instruct``, a suite name like ``starter``)."""
    if not value or "://" in value:
        return value
    p = Path(value).expanduser()
    if p.is_absolute():
        return str(p)
    if kind == "name_or_path" and not looks_like_path(value) and not (base / p).exists():
        return value
    return str((base / p).resolve())


def resolve_paths(config: C, base: Path | Callable[[str], Path], prefix: str = "") -> C:
    """``config`` with its path fields absolute (a copy; ``config`` itself when none changes).

    A class lists its path fields in ``PATH_KEYS: ClassVar[dict[str, str]]``, each with its
    kind: ``path``; ``name_or_path`` (see :func:`resolve_path`); ``paths`` (a list of
    paths); ``options`` (a mapping whose ``path`` entry is a path: a suite's loader
    options). Sections (dataclass fields) and lists of dataclasses are walked too.
    ``base`` is the folder relative paths start from, or a function of the dotted key
    (``output.system_prompt_file``) giving it."""
    kinds = getattr(type(config), "PATH_KEYS", {})
    changes = {}
    for f in dataclasses.fields(config):
        key = prefix + f.name
        here = base(key) if callable(base) else base
        value = getattr(config, f.name)
        kind = kinds.get(f.name)
        if kind in ("path", "name_or_path") and isinstance(value, str):
            new = resolve_path(value, here, kind)
        elif kind == "paths" and isinstance(value, list):
            new = [resolve_path(v, here) if isinstance(v, str) else v for v in value]
        elif kind == "options" and isinstance(value, Mapping) and isinstance(value.get("path"), str):
            new = {**value, "path": resolve_path(value["path"], here)}
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            new = resolve_paths(value, base, key + ".")
        elif isinstance(value, list):
            new = [resolve_paths(v, base, key + ".") if dataclasses.is_dataclass(v) and not isinstance(v, type)
                   else v for v in value]
        else:
            continue
        if new != value:
            changes[f.name] = new
    return dataclasses.replace(config, **changes) if changes else config


def config_to_dict(config: Any) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def plain(value: Any) -> Any:
    """``value`` as YAML-safe data: sections (dataclasses) as mappings, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


def save_config(config: Any, path: str | Path) -> Path:
    """Write ``config`` as YAML, sections nested, relative paths made absolute against the
    current directory (where they were used), so :func:`load_config` reads the same config
    back from wherever the file is."""
    yaml = _yaml()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(yaml.safe_dump(plain(resolve_paths(config, Path.cwd())), sort_keys=False), encoding="utf-8")
    return p


def field_docs(cls: type) -> dict[str, str]:
    """Each field's documentation: the string literal under it in the class body (a
    base class's for inherited fields), else the ``name: text`` paragraph of the class
    docstring (how :class:`verilog_env.CheckSettings` documents its fields)."""
    import ast
    import inspect
    import re

    docs: dict[str, str] = {}
    try:
        body = ast.parse(inspect.getsource(cls)).body[0].body
        for node, nxt in itertools.pairwise(body):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)):
                docs[node.target.id] = " ".join(str(nxt.value.value).split())
    except (OSError, TypeError, SyntaxError):
        pass
    names = {f.name for f in dataclasses.fields(cls)}
    text = inspect.getdoc(cls) or ""
    for match in re.finditer(r"^(\w+): (.+?)(?=^\w+: |^\*\*|^\s*$|\Z)", text, re.MULTILINE | re.DOTALL):
        if match.group(1) in names:
            docs.setdefault(match.group(1), " ".join(match.group(2).split()))
    for base in cls.__mro__[1:]:
        if dataclasses.is_dataclass(base):
            for name, doc in field_docs(base).items():
                docs.setdefault(name, doc)
    return docs


def describe_fields(cls: type) -> list[tuple[str, str, Any, str]]:
    """(name, type, default, doc) of a config dataclass's fields (see :func:`field_docs`);
    a section's default shows as ``"{...}"``."""
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)

    def type_name(t: Any) -> str:
        return t.__name__ if isinstance(t, type) else str(t).replace("typing.", "")

    def default(f: dataclasses.Field) -> Any:
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            return None
        return "{...}" if dataclasses.is_dataclass(value) else value

    return [(f.name, type_name(hints[f.name]), default(f), docs.get(f.name, "")) for f in dataclasses.fields(cls)]


def print_keys(cls: type, prefix: str = "") -> None:
    """Print every key of config class ``cls`` as YAML-like lines ``key: default  # type. doc``,
    a section's keys indented under it."""
    import json

    hints = typing.get_type_hints(cls)
    for name, kind, default, doc in describe_fields(cls):
        section = hints[name]
        if isinstance(section, type) and dataclasses.is_dataclass(section):
            print(f"{prefix}{name}:  # {doc}".rstrip())
            print_keys(section, prefix + "  ")
            continue
        print(f"{prefix}{name}: {json.dumps(default)}  # {kind}. {doc}".rstrip())
