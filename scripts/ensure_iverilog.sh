#!/usr/bin/env bash
# Make sure Icarus Verilog (iverilog + vvp) is installed; apt-installs it when we can.
set -euo pipefail

have_iverilog() { command -v iverilog >/dev/null 2>&1 && command -v vvp >/dev/null 2>&1; }

if ! have_iverilog && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "verilog-env: installing Icarus Verilog with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog
fi

if ! have_iverilog; then
    echo "verilog-env: Icarus Verilog not found; install it (Debian/Ubuntu: sudo apt-get install iverilog; macOS: brew install icarus-verilog) and re-run" >&2
    exit 1
fi

iverilog -V 2>/dev/null | head -n 1 || true
