"""Commands whose optional packages (setup.cfg's extras) are missing say, in one line and
with exit status 2, which extra to install; and the extras' pins.

How the packages are made missing, honestly: the test venv has every extra installed, and
hiding a module inside the test process (``sys.modules[name] = None``, a patched
``__import__`` or ``find_spec``) would test the hiding, not the install a user has. So the
commands run in a real core-only install instead: a subprocess started with ``python -S``
(no site-packages at all) whose ``PYTHONPATH`` holds the checkout and one directory of
links to exactly the distributions ``pip install verilog-env`` brings (the package's
``install_requires`` and, recursively, theirs, read from the installed metadata). In it,
``pyarrow``, ``fastapi``, ``torch``, ``yaml``, ``httpx`` and the rest are truly not
importable (checked first), and each command goes through ``verilog_env.cli.main`` as the
``verilog-env`` script would.
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from verilog_env import cli
from verilog_env.extras import MissingExtra, require_extra

ROOT = Path(__file__).resolve().parent.parent
EXTRA_MODULES = ("pyarrow", "datasets", "fastapi", "uvicorn", "httpx", "matplotlib", "torch", "transformers",
                 "yaml", "datasketch", "rouge_score", "vllm", "trl", "openrlhf")


def _core_distributions() -> list[metadata.Distribution]:
    """verilog-env's required distributions, recursively, extras left out."""
    found: dict[str, metadata.Distribution] = {}
    todo = [Requirement(r) for r in metadata.requires("verilog-env") or []]
    while todo:
        requirement = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue  # an extra's requirement, or one for another platform
        name = canonicalize_name(requirement.name)
        if name not in found:
            found[name] = metadata.distribution(requirement.name)
            todo.extend(Requirement(r) for r in found[name].requires or [])
    return list(found.values())


@pytest.fixture(scope="module")
def core_env(tmp_path_factory) -> dict[str, str]:
    """The environment of a ``python -S`` subprocess that sees the checkout and the core
    distributions only (module docstring)."""
    site = tmp_path_factory.mktemp("core-site")
    for dist in _core_distributions():
        for top in {Path(str(f)).parts[0] for f in dist.files or []} - {"..", "__pycache__"}:
            source = Path(dist.locate_file(top))
            if source.exists() and not (site / top).exists():
                (site / top).symlink_to(source.resolve())
    # verilog-env's own metadata (its entry points register the train/bench/synth commands)
    own = metadata.distribution("verilog-env")
    info = site / f"verilog_env-{own.version}.dist-info"
    info.mkdir()
    for name in ("METADATA", "entry_points.txt"):
        (info / name).write_text(own.read_text(name) or "", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests"), str(site)])
    probe = (
        "import importlib.util as u, json, verilog_env; "
        f"print(json.dumps([verilog_env.__file__, [m for m in {EXTRA_MODULES!r} if u.find_spec(m)]]))"
    )
    out = subprocess.run([sys.executable, "-S", "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    where, present = json.loads(out.stdout)
    assert Path(where).resolve().is_relative_to(ROOT) and present == [], (where, present)
    # Every command registers there (plugins import their extras only when they run).
    out = subprocess.run([sys.executable, "-S", "-m", "verilog_env.cli", "--help"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert {"serve", "export", "suite", "train", "bench", "synth"} <= set(re.search(r"\{([a-z,-]+)\}", out.stdout)[1].split(","))
    return env


def run_cli(env: dict[str, str], args: list[str], cwd: Path, **extra_env: str) -> subprocess.CompletedProcess:
    code = "import sys; from verilog_env.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-S", "-c", code, *args], env={**env, **extra_env}, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def missing_line(purpose: str, module: str, extra: str) -> str:
    return f"verilog-env: {purpose} needs {module}, which is not installed; install it with: pip install 'verilog-env[{extra}]'"


CONFIGS = ROOT / "examples" / "configs"
COMMANDS = {
    # id: (arguments, purpose, missing module, extra)
    "export-verl": (["export", "starter", "--format", "verl", "--out", "out.parquet"],
                    "writing verl Parquet", "pyarrow", "data"),
    "export-from-parquet": (["export", "suite.parquet", "--out", "out.jsonl"], "reading a Parquet suite", "pyarrow", "data"),
    "suite-check-parquet": (["suite", "check", "suite.parquet"], "reading a Parquet suite", "pyarrow", "data"),
    "serve": (["serve", "--port", "0"], "the reward service", "uvicorn", "serve"),
    "train-sft": (["train", "sft", "--config", str(CONFIGS / "sft_codev_r1.yaml")], "train sft", "torch", "train"),
    "train-dapo": (["train", "dapo", "--config", str(CONFIGS / "dapo_tiny.yaml")], "train dapo", "torch", "train"),
    "train-demo": (["train", "demo", "--quick"], "train demo", "torch", "train"),
    "train-config": (["train", "config", "dapo"], "train config dapo", "torch", "train"),
    "synth-run": (["synth", "run", "--config", str(CONFIGS / "synth_example.yaml")], "synth run", "yaml", "synth"),
    "bench-openai": (["bench", "run", "--import", "fake_openai_server", "--suite", "tiny", "--data", ".",
                      "--endpoint", "http://127.0.0.1:9"], "the openai back end", "httpx", "bench"),
    "bench-vllm": (["bench", "run", "--import", "fake_openai_server", "--suite", "tiny", "--data", ".",
                    "--backend", "vllm", "--model", "m"], "the vllm back end (a CUDA machine)", "vllm", "bench-vllm"),
    "bench-hf": (["bench", "run", "--import", "fake_openai_server", "--suite", "tiny", "--data", ".",
                  "--backend", "hf", "--model", "m"], "the hf back end", "torch", "train"),
}


@pytest.mark.parametrize("name", COMMANDS)
def test_a_command_without_its_extra_names_it_in_one_line(core_env, tmp_path, name):
    args, purpose, module, extra = COMMANDS[name]
    # The loader stops at the missing reader before it reads a byte: any file will do.
    (tmp_path / "suite.parquet").write_bytes(b"PAR1")
    out = run_cli(core_env, args, tmp_path, VERILOG_ENV_TEST_TINY_SUITE="1")
    assert (out.returncode, out.stderr.splitlines()) == (2, [missing_line(purpose, module, extra)]), out.stderr
    assert not (tmp_path / "out.parquet").exists() and not (tmp_path / "out.jsonl").exists()


def test_a_report_without_matplotlib_says_which_extra_and_goes_on(core_env, tmp_path):
    code = ("from benchmarks import report; "
            "print(report.plot([{'suite': 's', 'headline': {'pass@1': 0.5}, 'per_problem': {}}], 'p.png'))")
    out = subprocess.run([sys.executable, "-S", "-c", code], env=core_env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("skipped: the plot passk.png needs matplotlib, which is not installed; "
                                  "install it with: pip install 'verilog-env[bench]'")
    assert not (tmp_path / "p.png").exists()


# ----------------------------------------------------------------- the helper itself


def test_require_extra_on_a_module_that_does_not_exist():
    with pytest.raises(MissingExtra) as caught:
        require_extra("verilog_env_no_such_module.sub", "data", "reading it")
    assert str(caught.value) == ("reading it needs verilog_env_no_such_module, which is not installed; "
                                 "install it with: pip install 'verilog-env[data]'")
    assert isinstance(caught.value, ImportError)  # code that degrades without it may catch ImportError


def test_require_extra_on_an_installed_module_whose_own_dependency_is_missing(tmp_path, monkeypatch):
    (tmp_path / "verilog_env_half_installed.py").write_text("import verilog_env_absent_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingExtra) as caught:
        require_extra("verilog_env_half_installed", "serve", "the reward service")
    assert str(caught.value) == (
        "the reward service needs verilog_env_half_installed, which fails to import (No module named "
        "'verilog_env_absent_dependency'); install it with: pip install 'verilog-env[serve]'"
    )


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_the_cli_prints_a_missing_extra_in_one_line_with_status_2(capsys, tmp_path):
    """In this process too, through verilog_env.cli.main, where vLLM truly is not installed
    (the test venv keeps it out: only .venv-openrlhf has it)."""
    import fake_openai_server

    from benchmarks import registry

    fake_openai_server.register_tiny_suite()
    try:
        code = cli.main(["bench", "run", "--suite", "tiny", "--data", str(tmp_path), "--backend", "vllm", "--model", "m"])
    finally:
        registry._SUITES.pop("tiny", None)  # registered for this test only
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [missing_line("the vllm back end (a CUDA machine)", "vllm", "bench-vllm")]


# ----------------------------------------------------------------- the train extra's pins

VLLM_TORCH = "2.13.0"  # the torch vLLM 0.29.0 (the openrlhf extra) pins; CI's CPU wheel
OPENRLHF_TRANSFORMERS = "5.15.0"  # the transformers OpenRLHF 0.11.2 pins


def _extra(name: str) -> dict[str, Requirement]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg", encoding="utf-8")
    lines = parser["options.extras_require"][name].strip().splitlines()
    return {canonicalize_name(r.name): r for r in map(Requirement, filter(None, map(str.strip, lines)))}


def test_the_train_extra_takes_ranges_that_hold_the_openrlhf_pins():
    """A user's GPU node may have its own torch build, and the openrlhf extra pins torch
    (through vLLM) and transformers: the train extra must take ranges holding those pins,
    not pins of its own."""
    train = _extra("train")
    for name, pinned in (("torch", VLLM_TORCH), ("transformers", OPENRLHF_TRANSFORMERS)):
        spec = train[name].specifier
        assert spec.contains(pinned), (name, str(spec))
        assert not any(s.operator in ("==", "===") for s in spec), (name, str(spec))
        assert {">=", "<"} <= {s.operator for s in spec}, (name, str(spec))  # a floor and a ceiling


def test_make_setup_installs_exactly_the_torch_ci_has_with_the_extras():
    """Left to the range, pip would take the newest torch, a CUDA build of gigabytes: the
    Makefile's one install command pins the version whose CPU wheel CI has, in the same
    resolver pass as the extras (so a re-install after a setup.cfg change keeps it)."""
    installs = [line for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
                if re.search(r"\bpip install\b", line) and "-e " in line]
    assert len(installs) == 1, installs
    assert re.search(r"\.\[[^]]*\btrain\b", installs[0]), installs[0]
    assert re.findall(r"'torch([=<>!~]=?[^']*)'", installs[0]) == [f"=={VLLM_TORCH}"], installs[0]
