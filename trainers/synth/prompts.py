"""Prompts of the describe and regenerate steps, and the checks on what comes back.

The describe template is configurable (``describe.template`` or ``describe.template_file``);
these placeholders are replaced (other braces are left alone):

* ``{code}``: the unit's Verilog (the module and its submodules);
* ``{module}``: the top module's name;
* ``{ports}``: one line per port, e.g. ``- input [7:0] a`` (from the checker's analysis).

A spec is usable only if it names the module and every port (as whole words), does not
contain the code itself (no ``endmodule``), and was not cut off. The regenerate request
is the problem's prompt as the environment shows it (system prompt + spec), so the SFT
and RL datasets see exactly what the regenerating model saw.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DESCRIBE_SYSTEM = (
    "You are an expert digital hardware engineer who writes precise design specifications."
)

DESCRIBE_TEMPLATE = """Here is a Verilog design:

```verilog
{code}
```

Write the natural-language specification a hardware engineer would need to implement this design from scratch, as a self-contained task statement. Do not include any Verilog code.

- Say that the module must be named `{module}`.
- List every port with its exact name, direction, width and meaning:
{ports}
- Describe the behaviour completely: what each output computes, the clock edge and reset behaviour (synchronous or asynchronous, active level, reset values), state machines and their transitions, and any parameters.

Answer with the specification only."""


def port_lines(ports: Sequence[dict[str, Any]]) -> str:
    lines = []
    for p in ports:
        width = f"[{p['width'] - 1}:0] " if p["width"] > 1 else ""
        signed = "signed " if p.get("signed") else ""
        lines.append(f"  - {p['direction']} {signed}{width}{p['name']}")
    return "\n".join(lines)


def load_template(template: str | None, template_file: str | None) -> str:
    if template and template_file:
        raise ValueError("describe: set template or template_file, not both")
    if template_file:
        path = Path(template_file).expanduser()
        if not path.is_file():
            raise ValueError(f"describe.template_file not found: {path}")
        return path.read_text(encoding="utf-8")
    return template or DESCRIBE_TEMPLATE


def render(template: str, *, code: str, module: str, ports: Sequence[dict[str, Any]]) -> str:
    values = {"{code}": code.strip(), "{module}": module, "{ports}": port_lines(ports)}
    pattern = re.compile("|".join(re.escape(k) for k in values))
    return pattern.sub(lambda m: values[m.group(0)], template)


def describe_messages(system: str | None, template: str, *, code: str, module: str,
                      ports: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    system = DESCRIBE_SYSTEM if system is None else system
    user = {"role": "user", "content": render(template, code=code, module=module, ports=ports)}
    return ([{"role": "system", "content": system}] if system else []) + [user]


_THINK_END = "</think>"


def clean_spec(text: str) -> str:
    """The spec in a describer's answer: after its reasoning (if any), trimmed."""
    if _THINK_END in text:
        text = text.rsplit(_THINK_END, 1)[1]
    return text.strip()


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_$]){re.escape(name)}(?![A-Za-z0-9_$])", text) is not None


def spec_problem(spec: str, module: str, port_names: Sequence[str]) -> tuple[str, str] | None:
    """``(reason, detail)`` when the spec is unusable, else None."""
    if not spec:
        return "spec_empty", "the description is empty"
    missing = [n for n in [module, *port_names] if not _mentions(spec, n)]
    if missing:
        return "spec_missing_names", "does not name " + ", ".join(missing)
    if re.search(r"\bendmodule\b", spec):
        return "spec_contains_code", "the description contains Verilog code"
    return None
