"""README.md's code blocks, for the tests that run them as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_block(after: str, language: str = "python") -> str:
    """The first ```language block of README.md after the first line containing ``after``."""
    text = README.read_text()
    start = text.index(after)
    # the closing fence starts a line (a fence inside a line, as in a JSON string, does not close)
    return re.search(rf"```{language}\n(.*?)^[ \t]*```", text[start:], re.DOTALL | re.MULTILINE).group(1)
