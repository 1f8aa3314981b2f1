#!/usr/bin/env bash
# Make sure bubblewrap (bwrap) is installed: the benchmark flows run iverilog/vvp in a
# read-only mount namespace where only the work directory is writable
# (verilog_env.sim.sandbox.run(..., confine=True)); apt-installs it when we can (root with
# apt-get). --optional: when it cannot be had, say so and exit 0 (simulations then run
# unconfined, under the candidate policy alone, with a warning; the confinement tests skip).
set -euo pipefail

optional=0
[ "${1:-}" = "--optional" ] && optional=1

if ! command -v bwrap >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "verilog-env: installing bubblewrap with apt-get" >&2
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap || true
fi

if ! command -v bwrap >/dev/null 2>&1; then
    echo "verilog-env: bwrap not found; install it (Debian/Ubuntu: sudo apt-get install bubblewrap) to confine benchmark simulations" >&2
    [ "$optional" -eq 1 ] && exit 0
    exit 1
fi
bwrap --version
