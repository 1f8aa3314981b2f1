"""The round-trip synthesis pipeline, CodeV-R1 style, resumable.

    corpus files -> modules -> intake -> dedup -> self-check -> decontam (code)
        -> describe -> decontam (spec) -> regenerate -> verify -> difficulty -> datasets

Every stage counts what came in, what went on and why the rest was dropped (the funnel
in ``report.md``/``report.json``/``funnel.png``); every dropped unit is a line of
``drops.jsonl`` and every checked pair a line of ``verdicts.jsonl``. Requests, analyses
and verdicts live in ``state.sqlite`` under content keys (:mod:`.state`), so running the
same configuration again resumes where the last run stopped and asks nothing twice; the
datasets are rebuilt from the store each time, identically.

Decontamination of code comes before describing, so contaminated units cost no requests.
Only goldens whose check against themselves is ``equivalent`` reach the datasets: the
self-check stage drops the others early (before any request), and verification checks
each golden against itself again (a cached verdict when the self-check stage ran), so this
holds with ``intake.self_check: false`` too; either drop is ``self_check_<status>``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .config import SynthConfig
from .intake import CorpusStats, Unit
from .llm import LLMJob, LLMStage, StageUsage, SynthInterrupted
from .state import StateStore, content_key

STAGES = (
    "corpus",
    "intake",
    "dedup",
    "self_check",
    "decontam_code",
    "describe",
    "decontam_spec",
    "regenerate",
    "verify",
    "difficulty",
)


@dataclasses.dataclass
class StageCount:
    stage: str
    entered: int
    kept: int
    drops: dict[str, int] = dataclasses.field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "in": self.entered, "out": self.kept, "drops": dict(self.drops), "note": self.note}


@dataclasses.dataclass
class SynthResult:
    output_dir: str
    stages: list[StageCount]
    usage: dict[str, StageUsage]
    sft: int
    rl: int
    files: dict[str, str]
    verdicts: dict[str, int]
    seconds: float
    corpus: dict[str, int]
    samples: dict[str, int]

    def stage(self, name: str) -> StageCount:
        return next(s for s in self.stages if s.stage == name)

    def counts(self) -> dict[str, tuple[int, int]]:
        """``{stage: (in, out)}``."""
        return {s.stage: (s.entered, s.kept) for s in self.stages}

    def to_dict(self) -> dict[str, Any]:
        return {
            "output_dir": self.output_dir,
            "stages": [s.to_dict() for s in self.stages],
            "usage": {k: u.to_dict() for k, u in self.usage.items()},
            "sft": self.sft,
            "rl": self.rl,
            "files": self.files,
            "verdicts": self.verdicts,
            "samples": self.samples,
            "corpus": self.corpus,
            "seconds": round(self.seconds, 2),
        }


class _Tracker:
    """Units moving through stages; each drop is recorded once, with its stage."""

    def __init__(self) -> None:
        self.stages: list[StageCount] = []
        self.drops: list[dict[str, Any]] = []

    def stage(self, name: str, units: Sequence[Unit], keep: Callable[[Unit], tuple[str, str] | None],
              note: str = "") -> list[Unit]:
        kept, drops = [], Counter()
        for unit in units:
            verdict = keep(unit)
            if verdict is None:
                kept.append(unit)
                continue
            reason, detail = verdict
            drops[reason] += 1
            self.drops.append({"id": unit.id, "module": unit.module, "source": unit.source, "stage": name,
                               "reason": reason, "detail": detail})
        self.stages.append(StageCount(name, len(units), len(kept), dict(sorted(drops.items())), note))
        return kept


def _checker_drop(prefix: str, result: dict[str, Any]) -> tuple[str, str] | None:
    """``None`` for an equivalent checker result, else the drop: reason ``<prefix>_<status>``,
    detail the verdict's first line."""
    if result["status"] == "equivalent":
        return None
    return f"{prefix}_{result['status']}", result["reason"].splitlines()[0][:300] if result["reason"] else ""


def _system_prompt(config: SynthConfig) -> str:
    from verilog_env.problems import DEFAULT_SYSTEM_PROMPT, read_system_prompt

    out = config.output
    if out.system_prompt and out.system_prompt_file:
        raise ValueError("output: set system_prompt or system_prompt_file, not both")
    if out.system_prompt_file:
        return read_system_prompt(out.system_prompt_file)
    return out.system_prompt if out.system_prompt is not None else DEFAULT_SYSTEM_PROMPT


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)


def _write_parquet(path: Path, rows: Sequence[dict[str, Any]], schema_hint: dict[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(list(rows)) if rows else pa.Table.from_pylist([schema_hint]).slice(0, 0)
    tmp = path.with_suffix(path.suffix + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)


def assistant_answer(reasoning: str, code: str) -> str:
    """The CodeV-R1 answer format (as :func:`trainers.sft.assistant_response` renders it)."""
    return f"<think>\n{reasoning.strip()}\n</think>\n<answer>\n```verilog\n{code.strip()}\n```\n</answer>"


def run_pipeline(config: SynthConfig, *, progress: bool | None = None,
                 generator_factory: Callable[[Any], Any] | None = None, dry_run: bool = False) -> SynthResult:
    """Run (or resume) the pipeline; returns the counts. Raises :class:`SynthInterrupted`
    when it had to stop (rerun to resume) and ``ValueError`` for configuration problems.
    ``dry_run``: stop before the first request (intake, dedup and code decontamination only)."""
    progress = config.progress if progress is None else progress
    out = Path(config.output_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    try:
        import yaml

        (out / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
    except ImportError:
        (out / "config.json").write_text(json.dumps(config.to_dict(), indent=1), encoding="utf-8")
    store = StateStore(out / "state.sqlite")
    outcome = "failed"
    try:
        result = _Run(config, store, out, progress, generator_factory).run(dry_run)
        outcome = "complete"
        return result
    except (SynthInterrupted, KeyboardInterrupt):
        outcome = "interrupted"
        raise
    finally:
        store.finish_run(outcome)
        store.close()


class _Run:
    def __init__(self, config: SynthConfig, store: StateStore, out: Path, progress: bool,
                 generator_factory: Callable[[Any], Any] | None):
        self.config = config
        self.store = store
        self.out = out
        self.progress = progress
        self.generator_factory = generator_factory
        self.track = _Tracker()
        self.usage: dict[str, StageUsage] = {}
        self.verdict_rows: list[dict[str, Any]] = []
        self.sample_counts: Counter = Counter()
        self.started = time.perf_counter()

    # --- helpers

    def _llm(self, name: str, llm_config) -> LLMStage:
        stage = LLMStage(name, llm_config, self.store, max_consecutive_failures=self.config.max_consecutive_failures,
                         retry_failed=self.config.retry_failed, progress=self.progress,
                         generator_factory=self.generator_factory)
        self.usage[name] = stage.usage
        return stage

    def _check(self, pairs):
        from .verify import check_pairs

        return check_pairs(pairs, self.store, self.config.check, progress=self.progress)

    # --- stages

    def run(self, dry_run: bool) -> SynthResult:
        cfg = self.config
        if not cfg.corpus:
            raise ValueError("corpus: no sources configured (a list of paths or {path, kind, text_key} entries)")
        system_prompt = _system_prompt(cfg)
        units, corpus = self.intake()
        units = self.dedup(units)
        units = self.self_check(units)
        index = self.contamination_index()
        units = self.decontam(units, index, "code")
        if dry_run:
            return self.finish([], [], corpus, dry_run=True)
        specs: dict[str, str] = {}
        units = self.describe(units, specs)
        units = self.decontam(units, index, "spec", specs)
        samples: dict[str, list[dict[str, Any]]] = {}
        units = self.regenerate(units, specs, samples, system_prompt)
        chosen: dict[str, dict[str, Any]] = {}
        units = self.verify(units, samples, chosen)
        sft_units, rl_units = self.difficulty(units, specs, system_prompt)
        sft_rows = [self.sft_row(u, specs[u.id], chosen[u.id], system_prompt) for u in sft_units]
        rl_rows = [self.rl_row(u, specs[u.id]) for u in rl_units]
        return self.finish(sft_rows, rl_rows, corpus, system_prompt=system_prompt)

    def intake(self) -> tuple[list[Unit], dict[str, int]]:
        from .intake import (
            analyze_unit,
            apply_analysis,
            build_units,
            describe_failure,
            parallel_map,
            read_corpus,
            split_modules,
        )

        cfg = self.config.intake
        stats = CorpusStats()
        records = list(read_corpus(self.config.corpus, cfg.max_file_bytes, stats))
        results = parallel_map(split_modules, [(r.text, r.source) for r in records], workers=cfg.workers,
                               timeout=cfg.timeout, desc="synth split", progress=self.progress)
        results = [r if isinstance(r, dict) else {"error": describe_failure(r)} for r in results]
        units, file_counts = build_units(list(zip(records, results)), cfg.split)
        # ids are content hashes: an exact copy of a unit gets a numbered id (dedup drops it)
        seen: Counter = Counter()
        for unit in units:
            seen[unit.id] += 1
            if seen[unit.id] > 1:
                unit.id = f"{unit.id}~{seen[unit.id]}"
        corpus = {
            "files_found": stats.files + stats.skipped_oversize + stats.skipped_unreadable,
            "files_read": stats.files,
            "modules": len(units),
        }
        self.track.stages.append(StageCount(
            "corpus", corpus["files_found"], stats.files - file_counts["files_unparsable"] - file_counts["files_without_modules"],
            {k: v for k, v in {"oversize_file": stats.skipped_oversize, "unreadable": stats.skipped_unreadable,
                               "unparsable": file_counts["files_unparsable"],
                               "no_modules": file_counts["files_without_modules"]}.items() if v},
            note=f"files; {len(units)} modules found in them",
        ))
        for unit in units:
            if unit.drop is None and len(unit.code) > cfg.max_unit_chars:
                unit.drop, unit.detail = "oversize", f"{len(unit.code)} characters (> max_unit_chars {cfg.max_unit_chars})"
        todo = [u for u in units if u.drop is None]
        keys = [content_key("analysis", u.code, u.module) for u in todo]
        known = self.store.get_many("analysis", keys)
        missing = [(k, u) for k, u in zip(keys, todo) if k not in known]
        if missing:
            fresh = parallel_map(analyze_unit, [(u.code, u.module) for _, u in missing], workers=cfg.workers,
                                 timeout=cfg.timeout, desc="synth analyze", progress=self.progress)
            store = {k: r for (k, _), r in zip(missing, fresh) if isinstance(r, dict)}
            self.store.put_many("analysis", store)
            known.update({k: r for (k, _), r in zip(missing, fresh)})
        for key, unit in zip(keys, todo):
            apply_analysis(unit, known[key], cfg)
        kept = self.track.stage("intake", units, lambda u: (u.drop, u.detail) if u.drop else None,
                                note="modules (each with the submodules it instantiates)")
        if cfg.limit is not None and len(kept) > cfg.limit:
            kept = kept[: cfg.limit]
        return kept, corpus

    def dedup(self, units: list[Unit]) -> list[Unit]:
        from .dedup import deduplicate

        cfg = self.config.dedup
        if not cfg.enabled:
            return self.track.stage("dedup", units, lambda u: None, note="disabled")
        dropped = deduplicate([(u.id, u.tokens) for u in units], threshold=cfg.threshold, shingle=cfg.shingle,
                              num_perm=cfg.num_perm, seed=cfg.seed)
        by_id = {u.id: u for u in units}

        def keep(unit: Unit):
            dup = dropped.get(unit.id)
            if dup is None:
                return None
            return dup.reason, f"of {by_id[dup.of].source} (similarity {dup.similarity})"

        return self.track.stage("dedup", units, keep)

    def self_check(self, units: list[Unit]) -> list[Unit]:
        from .verify import Pair

        if not self.config.intake.self_check:
            return self.track.stage("self_check", units, lambda u: None, note="disabled")
        results = self._check([Pair(u.code, u.code, u.module) for u in units])
        by_id = {u.id: r for u, r in zip(units, results)}

        def keep(unit: Unit):
            return _checker_drop("self_check", by_id[unit.id])

        return self.track.stage("self_check", units, keep, note="each unit checked against itself")

    def contamination_index(self):
        from .decontam import ContaminationIndex, load_benchmarks

        cfg = self.config.decontam
        if not (cfg.suites or cfg.extra) or not (cfg.code or cfg.spec):
            return None
        return ContaminationIndex(load_benchmarks(cfg.suites, cfg.data, cfg.extra))

    def decontam(self, units: list[Unit], index, kind: str, specs: dict[str, str] | None = None) -> list[Unit]:
        from .decontam import best_matches

        cfg = self.config.decontam
        name = f"decontam_{kind}"
        threshold = cfg.code_threshold if kind == "code" else cfg.threshold
        if index is None or not getattr(cfg, kind):
            return self.track.stage(name, units, lambda u: None, note="disabled")
        texts = [u.code if kind == "code" else specs[u.id] for u in units]
        scores = best_matches(index, texts, kind, workers=self.config.intake.workers, progress=self.progress,
                              desc=f"synth {name}")
        by_id = {u.id: s for u, s in zip(units, scores)}

        def keep(unit: Unit):
            score = by_id[unit.id]
            if isinstance(score, BaseException):
                return "decontam_error", str(score)[:300]
            value, ref = score
            if value > threshold:
                return f"contaminated_{kind}", f"Rouge-L {value:.3f} with {ref}"
            return None

        note = f"Rouge-L > {threshold} with {len(index)} benchmark problems"
        return self.track.stage(name, units, keep, note=note)

    def describe(self, units: list[Unit], specs: dict[str, str]) -> list[Unit]:
        from .prompts import clean_spec, describe_messages, load_template, spec_problem

        cfg = self.config.describe
        template = load_template(cfg.template, cfg.template_file)
        jobs = [LLMJob(u.id, describe_messages(cfg.system_prompt, template, code=u.code, module=u.module, ports=u.ports))
                for u in units]
        outcomes = self._llm("describe", cfg).run(jobs)

        def keep(unit: Unit):
            outcome = outcomes[unit.id]
            if not outcome.ok:
                return "describe_failed", outcome.error or ""
            completion = outcome.completions[0]
            if completion.get("finish_reason") == "length":
                return "describe_truncated", "the description hit max_tokens"
            spec = clean_spec(completion.get("text") or "")
            problem = spec_problem(spec, unit.module, unit.port_names())
            if problem is not None:
                return problem
            specs[unit.id] = spec
            return None

        return self.track.stage("describe", units, keep)

    def regenerate(self, units: list[Unit], specs: dict[str, str], samples: dict[str, list[dict[str, Any]]],
                   system_prompt: str) -> list[Unit]:
        from verilog_env.problems import Problem
        from verilog_env.reward import parse_response

        cfg = self.config.regenerate
        jobs = [LLMJob(u.id, Problem(u.id, specs[u.id], u.code, top=u.module).messages(system_prompt), n=cfg.samples)
                for u in units]
        outcomes = self._llm("regenerate", cfg).run(jobs)

        def keep(unit: Unit):
            outcome = outcomes[unit.id]
            if not outcome.ok:
                self.sample_counts["request_failed"] += cfg.samples
                return "regenerate_failed", outcome.error or ""
            usable, problems = [], Counter()
            for index, completion in enumerate(outcome.completions):
                text = completion.get("text") or ""
                parsed = parse_response(text, think_prefilled=cfg.think_prefilled)
                if completion.get("finish_reason") == "length":
                    problems["regenerate_truncated"] += 1
                elif parsed.code is None or not parsed.format_ok:
                    problems["regenerate_malformed"] += 1
                else:
                    usable.append({"index": index, "code": parsed.code, "reasoning": parsed.think or ""})
            self.sample_counts.update(problems)
            self.sample_counts["usable"] += len(usable)
            if not usable:
                reason = problems.most_common(1)[0][0]
                return reason, f"{len(outcome.completions)} sample(s), none with well-formed code"
            samples[unit.id] = usable
            return None

        return self.track.stage("regenerate", units, keep)

    def verify(self, units: list[Unit], samples: dict[str, list[dict[str, Any]]],
               chosen: dict[str, dict[str, Any]]) -> list[Unit]:
        from .verify import Pair

        # Each golden against itself too: only a golden whose self-check is equivalent can
        # judge, so only such goldens reach the datasets, whether or not the self_check
        # stage ran (its verdicts are cached: then this costs nothing).
        pairs, owners = [Pair(u.code, u.code, u.module) for u in units], []
        for unit in units:
            for sample in samples[unit.id]:
                pairs.append(Pair(unit.code, sample["code"], unit.module))
                owners.append((unit, sample))
        results = self._check(pairs)
        itself = {u.id: r for u, r in zip(units, results)}
        first: dict[str, dict[str, Any]] = {}  # each unit's first sample's verdict
        for (unit, sample), result in zip(owners, results[len(units):]):
            row = {"id": unit.id, "module": unit.module, "sample": sample["index"], "status": result["status"],
                   "equivalent": result["status"] == "equivalent", "reason": result["reason"]}
            self.verdict_rows.append(row)
            first.setdefault(unit.id, row)
            if row["equivalent"] and unit.id not in chosen:
                chosen[unit.id] = sample

        def keep(unit: Unit):
            cannot_judge = _checker_drop("self_check", itself[unit.id])
            if cannot_judge is not None or unit.id in chosen:
                return cannot_judge
            return _checker_drop("verify", first[unit.id])

        return self.track.stage("verify", units, keep, note="regenerated code equivalent to the original")

    def difficulty(self, units: list[Unit], specs: dict[str, str], system_prompt: str) -> tuple[list[Unit], list[Unit]]:
        from benchmarks.generation import extract_code
        from verilog_env.problems import Problem

        from .verify import Pair

        cfg = self.config.difficulty
        if not cfg.enabled:
            kept = self.track.stage("difficulty", units, lambda u: None, note="disabled")
            return kept, kept
        jobs = [LLMJob(u.id, Problem(u.id, specs[u.id], u.code, top=u.module).messages(system_prompt), n=cfg.k)
                for u in units]
        outcomes = self._llm("difficulty", cfg).run(jobs)
        pairs, owners = [], []
        unknown = 0
        for unit in units:
            outcome = outcomes[unit.id]
            if not outcome.ok:
                unknown += 1
                continue
            for completion in outcome.completions:
                code = extract_code(completion.get("text")).code
                if code:
                    pairs.append(Pair(unit.code, code, unit.module))
                    owners.append(unit.id)
        results = self._check(pairs)
        solved = Counter(uid for uid, r in zip(owners, results) if r["status"] == "equivalent")

        def keep(unit: Unit):
            if solved[unit.id]:
                return "solved_by_base", f"{solved[unit.id]} of {cfg.k} base-model samples equivalent"
            return None

        scope = "RL and SFT" if cfg.apply_to == "both" else "RL dataset only"
        note = f"{scope}; base model {cfg.model}, k={cfg.k}" + (f"; {unknown} unknown (request failed), kept" if unknown else "")
        kept = self.track.stage("difficulty", units, keep, note=note)
        return (kept if cfg.apply_to == "both" else units), kept

    # --- outputs

    def sft_row(self, unit: Unit, spec: str, sample: dict[str, Any], system_prompt: str) -> dict[str, Any]:
        answer = assistant_answer(sample["reasoning"], sample["code"])
        messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
            {"role": "user", "content": spec},
            {"role": "assistant", "content": answer},
        ]
        return {"id": unit.id, "messages": messages, "spec": spec, "reasoning": sample["reasoning"],
                "code": sample["code"], "golden": unit.code, "top": unit.module, "tags": unit.tags,
                "source": unit.source}

    def rl_row(self, unit: Unit, spec: str) -> dict[str, Any]:
        return {"id": unit.id, "spec": spec, "golden": unit.code, "top": unit.module, "tags": unit.tags,
                "source": unit.source}

    def finish(self, sft_rows, rl_rows, corpus, *, system_prompt: str | None = None, dry_run: bool = False) -> SynthResult:
        from .report import write_report

        files: dict[str, str] = {}
        formats = self.config.output.formats
        if not dry_run:
            for name, rows, hint in (
                ("sft", sft_rows, {"id": "", "messages": [{"role": "", "content": ""}], "spec": "", "reasoning": "",
                                   "code": "", "golden": "", "top": "", "tags": [""], "source": ""}),
                ("rl", rl_rows, {"id": "", "spec": "", "golden": "", "top": "", "tags": [""], "source": ""}),
            ):
                if "jsonl" in formats:
                    path = self.out / f"{name}.jsonl"
                    _write_jsonl(path, rows)
                    files[f"{name}_jsonl"] = str(path)
                if "parquet" in formats:
                    path = self.out / f"{name}.parquet"
                    _write_parquet(path, rows, hint)
                    files[f"{name}_parquet"] = str(path)
            files.update(self.exports(rl_rows, system_prompt))
        _write_jsonl(self.out / "verdicts.jsonl", self.verdict_rows)
        _write_jsonl(self.out / "drops.jsonl", self.track.drops)
        files["verdicts"] = str(self.out / "verdicts.jsonl")
        files["drops"] = str(self.out / "drops.jsonl")
        result = SynthResult(
            output_dir=str(self.out),
            stages=self.track.stages,
            usage=self.usage,
            sft=len(sft_rows),
            rl=len(rl_rows),
            files=files,
            verdicts=dict(sorted(Counter(r["status"] for r in self.verdict_rows).items())),
            seconds=time.perf_counter() - self.started,
            corpus=corpus,
            samples=dict(sorted(self.sample_counts.items())),
        )
        files.update(write_report(result, self.config, self.out, runs=self.store.runs(), dry_run=dry_run))
        return result

    def exports(self, rl_rows: list[dict[str, Any]], system_prompt: str | None) -> dict[str, str]:
        from verilog_env.export import export_suite
        from verilog_env.problems import Problem
        from verilog_env.suites import Suite

        files = {}
        if not rl_rows:
            return files
        suite = Suite("synth", [Problem(r["id"], r["spec"], r["golden"], top=r["top"], tags=tuple(r["tags"]),
                                        source=r["source"]) for r in rl_rows])
        for fmt in self.config.output.rl_exports:
            path = self.out / (f"rl_{fmt}.parquet" if fmt == "verl" else f"rl_{fmt}.jsonl")
            export_suite(suite, path, fmt, label="golden", system_prompt=system_prompt)
            files[f"rl_{fmt}"] = str(path)
        return files
