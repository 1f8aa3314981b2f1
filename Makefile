# All targets set themselves up on a fresh Debian machine: see README "Quick start".
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup test demo bench clean distclean

setup: $(VENV)/.installed
	@bash scripts/ensure_iverilog.sh
	@bash scripts/ensure_yosys.sh --optional
	@bash scripts/ensure_bwrap.sh --optional

# Re-install only when the packaging metadata or the OpenRLHF pins change (the install is editable).
$(VENV)/.installed: pyproject.toml setup.cfg scripts/install_openrlhf_cpu.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[dev,data,serve,bench,train,synth,trl]'
	PYTHON=$(PY) bash scripts/install_openrlhf_cpu.sh
	touch $@

# pytest exit code 5 means "no tests collected": we always have tests, so that is a failure.
# setup installed OpenRLHF: its plugin tests must run, not skip.
test: setup
	@VERILOG_ENV_REQUIRE_OPENRLHF=1 $(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "verilog-env: no tests collected" >&2; exit 1; fi; exit $$rc

demo: setup
	$(VENV)/bin/verilog-env train demo

bench: setup
	$(PY) -m perf.verifier_speed

clean:
	rm -rf build dist *.egg-info .pytest_cache runs
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name '*.vvp' \) -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
