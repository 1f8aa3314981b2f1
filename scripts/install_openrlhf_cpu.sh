#!/usr/bin/env bash
# Make OpenRLHF 0.11.2 importable on a CPU-only machine (CI, laptops), for the plugin tests
# (tests/test_openrlhf_plugins.py) and for reading the code paths they exercise.
#
# `pip install openrlhf` fails without CUDA: flash-attn must be compiled. OpenRLHF and vLLM
# are installed here without their dependencies, plus exactly what importing these needs:
#   openrlhf.trainer.ppo_utils.samples_generator, openrlhf.utils.agent,
#   openrlhf.trainer.ray.vllm_engine                                   (core set)
#   openrlhf.datasets, deepspeed, peft, torchdata                      (for the trainer modules)
# openrlhf.trainer.ppo_trainer(_async), openrlhf.utils.deepspeed, openrlhf.models and
# openrlhf.cli.train_ppo_ray also import flash-attn
# (CUDA kernels, never called on CPU): the tests put an import-only stand-in for it on the
# path of the processes that import those modules; nothing here installs one.
#
# Why a venv of its own: a vLLM without its (CUDA-only) dependencies is importable but
# broken, and other libraries that find it use it: TRL imports vLLM whenever it is
# installed and then fails (`No module named 'llguidance'`), and transformers imports the
# CPU-built DeepSpeed. So this partial install lives in $TARGET (.venv-openrlhf), a venv
# layered on the project's venv $BASE (.venv) by a .pth file: it sees every package of
# .venv (torch, transformers, verilog-env itself) and adds OpenRLHF, vLLM, DeepSpeed, Ray
# and their import needs on top. Only the plugin tests run in it (`make test` does);
# .venv stays what a user's install is, without vLLM. A partial vLLM/OpenRLHF/DeepSpeed
# found in $BASE (from an older checkout of this script) is removed from it.
# vllm 0.29.0 pins torch==2.13.0, the CPU build on this machine's disk; it must already be
# installed in $BASE (`make setup` installs it first), so nothing here downloads a CUDA
# build of torch. Only PyPI is used. On GPU nodes install the real thing instead, in one
# environment: pip install 'verilog-env[openrlhf]'.
#
# Usage: scripts/install_openrlhf_cpu.sh            (BASE=.venv TARGET=.venv-openrlhf)
#        BASE=/path/to/venv TARGET=/path/to/new-venv scripts/install_openrlhf_cpu.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BASE=${BASE:-.venv}
TARGET=${TARGET:-.venv-openrlhf}
if [ ! -x "$BASE/bin/python" ]; then
    echo "install_openrlhf_cpu: no venv at $BASE; run 'make setup' first (or set BASE=/path/to/venv)" >&2
    exit 2
fi
PYTHON=$TARGET/bin/python

# An older version of this script installed the partial vLLM/OpenRLHF/DeepSpeed into $BASE.
if "$BASE/bin/python" -c "import importlib.util as u, sys; sys.exit(not any(u.find_spec(m) for m in ('vllm', 'openrlhf', 'deepspeed')))" 2>/dev/null; then
    echo "install_openrlhf_cpu: removing the partial vLLM/OpenRLHF/DeepSpeed from $BASE (they now live in $TARGET)"
    "$BASE/bin/python" -m pip uninstall -y -q vllm openrlhf deepspeed >/dev/null 2>&1 || true
fi

if [ ! -x "$PYTHON" ]; then
    "$BASE/bin/python" -m venv "$TARGET"
fi
# Layer $TARGET on $BASE: addsitedir (not a plain path line) so that $BASE's own .pth files,
# among them the editable install of verilog-env, are processed too.
base_site=$("$BASE/bin/python" -c "import sysconfig; print(sysconfig.get_path('purelib'))")
target_site=$("$PYTHON" -c "import sysconfig; print(sysconfig.get_path('purelib'))")
printf 'import site; site.addsitedir(%s)\n' "'$base_site'" > "$target_site/verilog_env_base_venv.pth"

check() {
    "$PYTHON" - <<'EOF' 2>/dev/null
import importlib.metadata as md
assert md.version("openrlhf") == "0.11.2" and md.version("vllm") == "0.29.0"
import openrlhf.trainer.ppo_utils.samples_generator, openrlhf.utils.agent  # noqa: F401
import openrlhf.trainer.ray.vllm_engine, openrlhf.datasets, vllm.outputs   # noqa: F401
import deepspeed, peft, torchdata                                          # noqa: F401
EOF
}

if check; then
    echo "install_openrlhf_cpu: OpenRLHF 0.11.2 already importable with $PYTHON (layered on $BASE)"
    exit 0
fi

start=$(date +%s)
pip_install() {
    # pip reports the deliberately missing dependencies (flash-attn, ...) as resolver
    # conflicts; they are expected, so only a failing pip (non-zero exit) stops the script.
    local out rc=0
    out=$("$PYTHON" -m pip install --disable-pip-version-check --no-input -q "$@" 2>&1) || rc=$?
    printf '%s\n' "$out" | grep -v -E "^$|is ignored: it is neither|dependency resolver does not currently|^openrlhf 0\.11\.2 requires|^vllm 0\.29\.0 requires|^WARNING: Running pip as" >&2 || true
    return "$rc"
}

if ! "$PYTHON" -c "import torch, transformers" 2>/dev/null; then
    echo "install_openrlhf_cpu: torch and transformers must be installed in $BASE first (make setup)" >&2
    exit 2
fi

step() { echo "install_openrlhf_cpu: $1 ($(( $(date +%s) - start )) s so far)"; }

# 1. The packages themselves, without their (CUDA-only) dependency trees.
step "openrlhf and vllm, without dependencies"
pip_install --no-deps "openrlhf==0.11.2" "vllm==0.29.0"

# 2. What importing their modules needs (OpenRLHF pins ray[default]==2.55.0; plain ray is
#    enough to import and to run a local cluster), and what the trainer modules import
#    besides: PEFT, torchdata and DeepSpeed's own dependencies. One resolver pass.
step "what their modules import"
pip_install "ray==2.55.0" "aiohttp==3.14.5" "pylatexenc==2.11" "msgspec==0.22.0" "cbor2==6.3.0" \
    "pyzmq==27.3.0" "openai==3.57.0" "openai-harmony==0.0.8" "pybase64==1.5.1" "cachetools==8.0.2" \
    "uvloop==0.23.0" "py-cpuinfo==9.0.0" prometheus_client cloudpickle pillow sympy datasets \
    "peft==0.21.2" "torchdata==0.11.0" "hjson==3.1.0" "einops==0.8.2" "ninja==1.13.2" "msgpack==1.2.4" \
    psutil "pydantic>=2"

# 3. DeepSpeed is an sdist: built here without its CUDA ops, against the installed torch.
step "deepspeed (built without CUDA ops)"
DS_BUILD_OPS=0 pip_install --no-deps --no-build-isolation "deepspeed==0.19.6"

if ! check; then
    echo "install_openrlhf_cpu: OpenRLHF still does not import; the failing import:" >&2
    "$PYTHON" -c "import openrlhf.trainer.ppo_utils.samples_generator, openrlhf.utils.agent, openrlhf.trainer.ray.vllm_engine, openrlhf.datasets, vllm.outputs, deepspeed, peft, torchdata" >&2 || true
    exit 1
fi
echo "install_openrlhf_cpu: OpenRLHF 0.11.2 importable with $PYTHON ($(( $(date +%s) - start )) s)"
