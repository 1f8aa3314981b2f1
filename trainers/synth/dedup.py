"""Exact and near-duplicate removal of code units.

Code is compared as a normalised token stream (:func:`code_tokens`): comments and
whitespace are gone, and the unit's own module names become ``<m0>``, ``<m1>``... in
order of declaration, so a copy that only renamed the module or reformatted the text is
an *exact* duplicate. *Near* duplicates are found with MinHash LSH (the ``datasketch``
library) over shingles of ``shingle`` consecutive tokens: a unit whose estimated Jaccard
similarity with a unit kept before it reaches ``threshold`` is dropped. Units are taken in
the order given (the corpus order), so the first copy is the one kept.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Sequence

from verilog_env.extras import require_extra

_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_STRING = re.compile(r'"(?:\\.|[^"\\\n])*"')
_TOKEN = re.compile(
    r"""
    \d*\s*'[sS]?[bBoOdDhH]\s*[0-9a-fA-FxXzZ?_]+   # based literal 8'hFF
    | [A-Za-z_][A-Za-z0-9_$]*                      # identifier / keyword
    | \\\S+                                        # escaped identifier
    | \$[A-Za-z0-9_$]+                             # system task
    | `[A-Za-z_][A-Za-z0-9_$]*                     # directive / macro
    | \d[\d_]*(?:\.\d+)?                           # number
    | "STR"                                        # string (replaced)
    | <<<|>>>|===|!==|<<=|>>=|<=|>=|==|!=|&&|\|\||<<|>>|~&|~\||~\^|\^~|\*\*|->|\+:|-:|::
    | \S                                           # any other punctuation
    """,
    re.VERBOSE,
)


def code_tokens(code: str, module_names: Sequence[str] = ()) -> list[str]:
    """Normalised tokens of Verilog text: no comments or whitespace, strings as ``"STR"``,
    based literals without spaces, and ``module_names`` replaced by ``<m0>``, ``<m1>``..."""
    text = _COMMENT.sub(" ", code)
    text = _STRING.sub(' "STR" ', text)
    rename = {name: f"<m{i}>" for i, name in enumerate(module_names)}
    out = []
    for token in _TOKEN.findall(text):
        token = token.replace(" ", "").replace("\t", "")
        out.append(rename.get(token, token))
    return out


def exact_key(tokens: Sequence[str]) -> str:
    return hashlib.sha1("\x1f".join(tokens).encode("utf-8")).hexdigest()


def shingles(tokens: Sequence[str], size: int) -> set[str]:
    if len(tokens) <= size:
        return {" ".join(tokens)}
    return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def minhash(tokens: Sequence[str], size: int = 5, num_perm: int = 128, seed: int = 1):
    MinHash = require_extra("datasketch", "synth", "near-duplicate removal").MinHash
    m = MinHash(num_perm=num_perm, seed=seed)
    m.update_batch([s.encode("utf-8") for s in sorted(shingles(tokens, size))])
    return m


def jaccard(a: Sequence[str], b: Sequence[str], size: int = 5) -> float:
    """The exact Jaccard similarity of two token streams' shingle sets (what MinHash estimates)."""
    sa, sb = shingles(a, size), shingles(b, size)
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0


@dataclasses.dataclass(frozen=True)
class DuplicateOf:
    """Why a unit was dropped: ``reason`` is exact_duplicate or near_duplicate of ``of``."""

    reason: str
    of: str
    similarity: float


def deduplicate(
    items: Sequence[tuple[str, Sequence[str]]],
    *,
    threshold: float = 0.8,
    shingle: int = 5,
    num_perm: int = 128,
    seed: int = 1,
    near: bool = True,
) -> dict[str, DuplicateOf]:
    """``items``: ``(id, tokens)`` in priority order. Returns the dropped ids, each with the
    kept id it duplicates; every id not returned is kept."""
    dropped: dict[str, DuplicateOf] = {}
    first_of: dict[str, str] = {}
    lsh = None
    if near:
        MinHashLSH = require_extra("datasketch", "synth", "near-duplicate removal").MinHashLSH
        # The index only proposes candidates (each is then compared with the threshold);
        # above 0.9 its banding would have too few bands, and a lower index threshold only
        # proposes more candidates.
        for index_threshold in (min(threshold, 0.9), 0.8, 0.7, 0.5, 0.3):
            try:
                lsh = MinHashLSH(threshold=min(threshold, index_threshold), num_perm=num_perm)
                break
            except ValueError:  # too few permutations for that many bands
                continue
        else:
            raise ValueError(f"dedup.num_perm {num_perm} is too small for MinHash LSH; use 64 or more")
    sketches = {}
    for item_id, tokens in items:
        key = exact_key(tokens)
        if key in first_of:
            dropped[item_id] = DuplicateOf("exact_duplicate", first_of[key], 1.0)
            continue
        first_of[key] = item_id
        if lsh is None:
            continue
        m = minhash(tokens, shingle, num_perm, seed)
        best: tuple[float, str] | None = None
        for other in lsh.query(m):
            similarity = m.jaccard(sketches[other])
            if similarity >= threshold and (best is None or (similarity, other) > best):
                best = (similarity, other)
        if best is not None:
            dropped[item_id] = DuplicateOf("near_duplicate", best[1], round(best[0], 4))
            continue
        lsh.insert(item_id, m)
        sketches[item_id] = m
    return dropped
