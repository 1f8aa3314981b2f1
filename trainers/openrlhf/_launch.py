"""Argument plumbing shared by the launchers: defaults that yield to the user's flags,
the checker's settings (``--check.*`` flags -> one :class:`verilog_env.CheckSettings` ->
``VERILOG_REWARD_*`` environment variables for the reward file and agent), and running
an OpenRLHF command-line module as ``__main__``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import os
import runpy
import sys
from collections.abc import Iterator, Mapping, Sequence

from verilog_env import CheckSettings

Default = tuple[str, tuple[str, ...]]
"""A flag and its values (empty for a switch)."""


def has_flag(argv: Sequence[str], flag: str) -> bool:
    return any(arg == flag or arg.startswith(flag + "=") for arg in argv)


def with_defaults(argv: Sequence[str], defaults: Sequence[Default]) -> list[str]:
    """``defaults`` (those whose flag ``argv`` does not give) followed by ``argv``."""
    out: list[str] = []
    for flag, values in defaults:
        if not has_flag(argv, flag):
            out += [flag, *values]
    return out + list(argv)


def run_module(module: str, argv: Sequence[str]) -> None:
    """Run ``python -m module argv...`` in this process (OpenRLHF's CLIs keep their
    whole main in an ``if __name__ == "__main__"`` block)."""
    saved = sys.argv
    sys.argv = [module, *argv]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        sys.argv = saved


CHECK_FIELDS = tuple(f.name for f in dataclasses.fields(CheckSettings))


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    """``--check.config FILE`` and one ``--check.<field>`` per :class:`~verilog_env.CheckSettings`
    field (values as text, parsed by :meth:`CheckSettings.updated`)."""
    group = parser.add_argument_group(
        "checker (verilog_env.CheckSettings; reaches the reward file and agent as VERILOG_REWARD_* variables)")
    group.add_argument("--check.config", dest="check_config", metavar="FILE",
                       help="YAML/JSON mapping of check settings, or a config with a check: section "
                       "(e.g. the bundled trainer's); --check.<field> flags override it")
    for name in CHECK_FIELDS:
        group.add_argument(f"--check.{name}", dest=f"check_{name}", metavar=name.upper(),
                           help=f"CheckSettings.{name} (default: $" + CheckSettings.env_name(name) + " or the default)")


def check_settings(ns: argparse.Namespace, env: Mapping[str, str], prog: str) -> CheckSettings:
    """The checker's settings a launch uses: the ``VERILOG_REWARD_*`` variables already in
    ``env``, then ``--check.config``, then the ``--check.<field>`` flags (later wins). A
    mistake exits with one line naming it."""
    try:
        settings = CheckSettings.from_env(env)
        if ns.check_config:
            from trainers.config import read_yaml_mapping

            data = read_yaml_mapping(ns.check_config)
            if isinstance(data.get("check"), Mapping):
                data = dict(data["check"])
            settings = settings.updated(data, label=False)
        flags = {name: getattr(ns, f"check_{name}") for name in CHECK_FIELDS}
        return settings.updated({k: v for k, v in flags.items() if v is not None})
    except ValueError as error:  # ConfigError too
        raise SystemExit(f"{prog}: check settings: {' '.join(str(error).split())}") from None


@contextlib.contextmanager
def exported(variables: Mapping[str, str]) -> Iterator[None]:
    """``variables`` in ``os.environ`` (Ray workers of a cluster this process starts
    inherit them) and in the ``env_vars`` of every ``ray.init(runtime_env=...)`` made
    meanwhile (OpenRLHF's own call: so they reach the reward file and agent in every
    worker, also on a cluster joined with ``ray job submit``); both restored after."""
    try:
        import ray
    except ImportError:
        ray = None
    original = getattr(ray, "init", None)
    if ray is not None:
        @functools.wraps(original)
        def init(*args, **kwargs):
            runtime_env = dict(kwargs.get("runtime_env") or {})
            runtime_env["env_vars"] = {**(runtime_env.get("env_vars") or {}), **variables}
            # Under `ray job submit --runtime-env-json`, Ray refuses a driver env var the job
            # also sets unless told to let the driver's win: ours started from the job's
            # (they are in os.environ) and OpenRLHF copies its own keys from os.environ too.
            with _environment({OVERRIDE_JOB_ENV: "1"}):
                return original(*args, **{**kwargs, "runtime_env": runtime_env})

        ray.init = init
    try:
        with _environment(variables):
            yield
    finally:
        if ray is not None:
            ray.init = original


OVERRIDE_JOB_ENV = "RAY_OVERRIDE_JOB_RUNTIME_ENV"


@contextlib.contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    """``variables`` in ``os.environ`` for the duration, the previous values restored after."""
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
