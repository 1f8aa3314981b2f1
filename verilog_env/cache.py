"""Where verilog-env keeps its on-disk caches.

``$VERILOG_ENV_CACHE`` if set, else ``$XDG_CACHE_HOME/verilog-env``, else
``~/.cache/verilog-env``. Users delete a sub-folder to have its contents made again:
``reference-checks/`` (benchmark references checked against their own testbench) and
``verilator/`` (Verilator's runtime, built once per version and compiler).
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "VERILOG_ENV_CACHE"


def cache_dir(name: str) -> Path:
    """The cache folder ``name`` (not created)."""
    base = os.environ.get(CACHE_ENV)
    if not base:
        base = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "verilog-env")
    return Path(base) / name
