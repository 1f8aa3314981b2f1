"""The resumable state of a synthesis run: one SQLite file, ``<output_dir>/state.sqlite``.

Everything expensive is stored under a content key the moment it exists, so a rerun of
the same configuration (after a crash, Ctrl-C, a server outage, or with more corpus)
asks nothing twice:

* ``llm``: every chat request that finished, by the SHA-256 of what was sent (model,
  messages, n, sampling, seed, extra body): its completions and the server's usage, or
  the error that ended it for good, with the run it happened in;
* ``kv``: everything else that is computed, by kind and content key: module analyses
  (``analysis``) and checker verdicts (``verdict``).

* ``runs``: each run's start, end and outcome (``complete``, ``interrupted``, ``failed``;
  none when the process was killed).

Rows are committed one by one (SQLite WAL), so whatever finished before an interruption
survives it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS llm (
    key TEXT PRIMARY KEY,
    stage TEXT NOT NULL,
    item TEXT NOT NULL,
    status TEXT NOT NULL,            -- ok | error
    completions TEXT,                -- JSON list of {text, finish_reason}
    usage TEXT,                      -- JSON {prompt_tokens, completion_tokens}
    error TEXT,
    run INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started REAL NOT NULL,
    finished REAL,
    outcome TEXT
);
"""


def content_key(*parts: Any) -> str:
    """SHA-256 of the JSON of ``parts`` (keys sorted): the identity of a computation."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class StateStore:
    """Thread-safe access to ``state.sqlite``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self.run_id = self._db.execute("INSERT INTO runs (started) VALUES (?)", (time.time(),)).lastrowid

    # --- runs

    def finish_run(self, outcome: str) -> None:
        with self._lock:
            self._db.execute("UPDATE runs SET finished = ?, outcome = ? WHERE id = ?", (time.time(), outcome, self.run_id))

    def runs(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT id, started, finished, outcome FROM runs ORDER BY id").fetchall()
        return [dict(zip(("id", "started", "finished", "outcome"), row)) for row in rows]

    # --- LLM requests

    def get_llm(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT llm.status, llm.completions, llm.usage, llm.error, llm.run, runs.outcome "
                "FROM llm LEFT JOIN runs ON runs.id = llm.run WHERE llm.key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        status, completions, usage, error, run, outcome = row
        return {
            "status": status,
            "completions": json.loads(completions) if completions else [],
            "usage": json.loads(usage) if usage else {},
            "error": error,
            "run": run,
            "run_outcome": outcome,
        }

    def put_llm(self, key: str, stage: str, item: str, status: str, completions: list[dict[str, Any]] | None = None,
                usage: dict[str, Any] | None = None, error: str | None = None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO llm (key, stage, item, status, completions, usage, error, run, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, stage, item, status, json.dumps(completions or []), json.dumps(usage or {}), error,
                 self.run_id, time.time()),
            )

    def llm_totals(self, stage: str) -> dict[str, int]:
        """All runs' finished requests of ``stage``: counts and token sums."""
        with self._lock:
            rows = self._db.execute("SELECT status, usage FROM llm WHERE stage = ?", (stage,)).fetchall()
        out = {"requests": 0, "errors": 0, "prompt_tokens": 0, "completion_tokens": 0}
        for status, usage in rows:
            out["requests"] += 1
            out["errors"] += status != "ok"
            u = json.loads(usage) if usage else {}
            out["prompt_tokens"] += int(u.get("prompt_tokens") or 0)
            out["completion_tokens"] += int(u.get("completion_tokens") or 0)
        return out

    # --- other computations

    def get(self, kind: str, key: str) -> Any | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM kv WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        return None if row is None else json.loads(row[0])

    def get_many(self, kind: str, keys: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, value in self._db.execute(
                    f"SELECT key, value FROM kv WHERE kind = ? AND key IN ({marks})", (kind, *chunk)
                ):
                    out[key] = json.loads(value)
        return out

    def put(self, kind: str, key: str, value: Any) -> None:
        self.put_many(kind, {key: value})

    def put_many(self, kind: str, items: dict[str, Any]) -> None:
        if not items:
            return
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO kv (kind, key, value) VALUES (?, ?, ?)",
                    [(kind, k, json.dumps(v)) for k, v in items.items()],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()
