"""Optional dependencies (setup.cfg's extras): import one, or say in one line which extra
installs it.

A command checks each optional package it needs with :func:`require_extra` before using
it: where it is imported, or first thing in the command where the code it shares with
other commands would name another extra (``synth run`` checks ``yaml`` and ``httpx``
itself, as ``synth``'s). The ``verilog-env`` command line prints a :class:`MissingExtra`
as ``verilog-env: <message>`` and exits with status 2, whichever command raised it.
matplotlib, which only adds plots, is not required: without it the plots are skipped.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(ImportError):
    """An optional dependency cannot be imported. The message is one line and ends with the
    command that installs the extra providing it (``install it with: pip install
    'verilog-env[data]'``). An ``ImportError``, so code that degrades without the package
    can still catch it as one."""


def require_extra(module: str, extra: str, purpose: str) -> ModuleType:
    """``module`` imported (a dotted name gives the submodule), else :class:`MissingExtra`.

    ``extra`` is the extra of setup.cfg that installs ``module`` for the command at hand
    (a package in several extras is named by the caller's own: ``yaml`` is ``synth`` for
    ``verilog-env synth``); ``purpose`` says what needs it (``"writing verl Parquet"``)."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        missing = error.name or ""
        # The package itself is absent (the usual case), or it is installed but fails to
        # import (one of its own dependencies is missing or broken): say which.
        if missing and (module == missing or module.startswith(missing + ".")):
            why = f"{missing}, which is not installed"
        else:
            why = f"{module}, which fails to import ({' '.join(str(error).split())})"
        raise MissingExtra(
            f"{purpose} needs {why}; install it with: pip install 'verilog-env[{extra}]'", name=module
        ) from None
