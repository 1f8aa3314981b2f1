"""Argument plumbing shared by the launchers: defaults that yield to the user's flags,
and running an OpenRLHF command-line module as ``__main__``."""

from __future__ import annotations

import runpy
import sys
from collections.abc import Sequence

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
