"""The import graph: layers point downward only, and no module cycle exists.

DESIGN.md's layers (``verilog_env`` <- ``benchmarks`` <- ``trainers``; ``perf`` and
``examples`` on top) and, inside ``verilog_env``, the order below: the judges' shared
pieces (``equiv``) under formal verification (``formal``), both under the front door
(``checking``), which is under everything that scores. Every ``import`` statement counts,
including those inside functions (a lazy import still makes the cycle or the upward
dependency). Read with ``ast``: nothing is imported to build the graph.
"""

from __future__ import annotations

import ast
import collections
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("verilog_env", "benchmarks", "trainers", "perf", "examples")

VERILOG_ENV_LAYERS = [
    {"hdl", "sim", "spaces", "problems", "extras", "cache"},
    {"workers"},
    {"equiv"},
    {"formal"},
    {"checking"},
    {"reward", "suites", "labels", "export"},
    {"feedback", "testing"},
    {"env", "service", "integrations"},
    {"server", "cli"},
    {""},  # the package itself (verilog_env/__init__.py)
]
TOP_LAYERS = {"verilog_env": 0, "benchmarks": 1, "trainers": 2, "perf": 3, "examples": 3}


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


MODULES = _modules()


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The project modules an import statement loads (for ``from P import a``: ``P.a`` when
    it is a module, else ``P`` itself)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".")
        if MODULES[module].name != "__init__.py":
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    out = []
    for alias in node.names:
        sub = f"{prefix}.{alias.name}"
        out.append(sub if sub in MODULES else prefix)
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = collections.defaultdict(set)
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _targets(module, node):
                    while target not in MODULES and "." in target:
                        target = target.rsplit(".", 1)[0]
                    if target in MODULES and target != module:
                        graph[module].add(target)
    return graph


def _rank(module: str) -> tuple[int, int]:
    parts = module.split(".")
    top = TOP_LAYERS[parts[0]]
    if parts[0] != "verilog_env":
        return (top, 0)
    inner = parts[1] if len(parts) > 1 else ""
    for rank, names in enumerate(VERILOG_ENV_LAYERS):
        if inner in names:
            return (top, rank)
    raise AssertionError(f"verilog_env.{inner} has no layer in tests/test_layers.py: give it one")


def test_every_import_points_down_or_sideways():
    upward = []
    for module, targets in _graph().items():
        for target in targets:
            ancestor = module.startswith(target + ".")  # a package's own __init__ runs first anyway
            if not ancestor and _rank(target) > _rank(module):
                upward.append(f"{module} -> {target}")
    assert not upward, "imports pointing up a layer:\n" + "\n".join(sorted(upward))


def test_equiv_does_not_import_formal_and_formal_uses_no_private_name_of_equiv():
    graph = _graph()
    assert not {t for m, ts in graph.items() if m.startswith("verilog_env.equiv") for t in ts
                if t.startswith("verilog_env.formal")}
    private = []
    for module, path in MODULES.items():
        if not module.startswith("verilog_env.formal"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and "equiv" in (node.module or ""):
                private += [f"{module}: {alias.name}" for alias in node.names if alias.name.startswith("_")]
    assert not private, private


def test_no_import_cycle():
    graph = _graph()
    # Edges to a module's own ancestor packages are not cycles: Python runs those first.
    edges = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(MODULES):
        if module not in index:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"


def test_the_graph_sees_lazy_imports():
    """The checks above would pass vacuously if function-level imports were missed."""
    graph = _graph()
    assert "verilog_env.checking" in graph["verilog_env.reward"]
    assert "verilog_env.formal.judge" in graph["verilog_env.checking"]
    assert "verilog_env.testing" in graph["verilog_env.cli"]  # imported inside cmd_suite_check
