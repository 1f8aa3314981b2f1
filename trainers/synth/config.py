"""The synthesis pipeline's configuration: documented dataclasses loaded from YAML.

    verilog-env synth run --config examples/configs/synth_example.yaml --set describe.model=NAME

Top-level keys are the fields of :class:`SynthConfig`; the sections (``intake``,
``dedup``, ``decontam``, ``describe``, ``regenerate``, ``difficulty``, ``output``) are
the dataclasses below, ``check`` is the equivalence checker's
:class:`verilog_env.CheckSettings` (seed, cycles, timeout, method, ...: used by the
self-check and verify stages), and ``corpus`` is a list of :class:`CorpusSource`.
Every mistake (an unknown key anywhere, a value of the wrong type, a missing file) is a
:class:`~trainers.config.ConfigError` whose message is one line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from trainers.config import (
    config_from_dict,
    load_config,
    read_section,
)
from verilog_env import CheckSettings

DEFAULT_DECONTAM_SUITES = ("verilogeval-v2-spec-to-rtl", "rtllm-v1.1")


def saved_dataset(path: Path) -> bool:
    """Whether ``path`` is a folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    return path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists())


@dataclasses.dataclass
class CorpusSource:
    """One place Verilog comes from."""

    PATH_KEYS: ClassVar[dict[str, str]] = {"path": "name_or_path"}  # see trainers.config.resolve_paths

    path: str = ""
    """A directory (searched recursively), a ``.jsonl``/``.parquet`` file, or (``kind: hf``)
    a Hugging Face dataset name or a local dataset directory."""
    kind: str = "auto"
    """``dir``, ``jsonl``, ``parquet``, ``hf``, or ``auto`` (from the path)."""
    text_key: str = "text"
    """Column holding the Verilog text (jsonl, parquet, hf)."""
    id_key: str | None = None
    """Column naming each row (default: the row number); used in ``source`` fields."""
    split: str = "train"
    """Split of a Hugging Face dataset."""
    patterns: list[str] = dataclasses.field(default_factory=lambda: ["*.v", "*.sv"])
    """File name patterns searched for in a directory."""
    limit: int | None = None
    """Read at most this many files or rows from this source."""

    def __post_init__(self) -> None:
        if not self.path:
            raise ValueError("a corpus source needs a path")
        if self.kind not in ("auto", "dir", "jsonl", "parquet", "hf"):
            raise ValueError(f"corpus kind must be auto, dir, jsonl, parquet or hf, got {self.kind!r}")

    def resolved_kind(self) -> str:
        if self.kind != "auto":
            return self.kind
        p = Path(self.path).expanduser()
        if p.is_dir() and not saved_dataset(p):
            return "dir"
        if p.suffix == ".jsonl":
            return "jsonl"
        if p.suffix == ".parquet":
            return "parquet"
        return "hf"


@dataclasses.dataclass
class IntakeConfig:
    """Splitting files into self-contained modules and dropping what cannot be used."""

    split: str = "all"
    """``all``: every module becomes a unit (with the submodules it instantiates);
    ``tops``: only modules no other module of the same file instantiates."""
    max_file_bytes: int = 1_000_000
    """Files (rows) larger than this are skipped unread."""
    max_unit_chars: int = 20_000
    """A unit (module plus its submodules) longer than this is dropped as oversize."""
    min_tokens: int = 24
    """A unit with fewer code tokens (comments excluded) is dropped as trivial; so is one
    with no logic at all (no assignment, always block, instance or gate)."""
    self_check: bool = True
    """Check every unit against itself with the equivalence checker and drop those that
    do not come out equivalent (they cannot be simulated, or are not deterministic)."""
    workers: int = 0
    """Processes for parsing and analysis (0: one per core)."""
    timeout: float = 60.0
    """Seconds one file's split or one unit's analysis may take (then it is dropped)."""
    limit: int | None = None
    """Keep at most this many units after intake (for trying a configuration out)."""

    def __post_init__(self) -> None:
        if self.split not in ("all", "tops"):
            raise ValueError(f"intake.split must be all or tops, got {self.split!r}")


@dataclasses.dataclass
class DedupConfig:
    """Exact and near-duplicate removal (MinHash LSH over normalised code tokens)."""

    enabled: bool = True
    """Remove duplicates (false: keep every unit)."""
    threshold: float = 0.8
    """Estimated Jaccard similarity of token shingles at or above which a unit is a near
    duplicate of one kept before it."""
    shingle: int = 5
    """Tokens per shingle."""
    num_perm: int = 128
    """MinHash permutations."""
    seed: int = 1
    """Seed of the MinHash permutations."""

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("dedup.threshold must be in (0, 1]")


@dataclasses.dataclass
class DecontamConfig:
    """Decontamination against benchmark suites (Rouge-L of code and of specs)."""

    PATH_KEYS: ClassVar[dict[str, str]] = {"data": "path", "extra": "paths"}

    suites: list[str] = dataclasses.field(default_factory=lambda: list(DEFAULT_DECONTAM_SUITES))
    """Evaluation suites (``verilog-env bench list``) whose problems must not leak in; [] turns it off."""
    data: str | None = None
    """Their data directory (default: each suite's own, i.e. $VERILOG_ENV_BENCHMARKS or ../shared/benchmarks)."""
    extra: list[str] = dataclasses.field(default_factory=list)
    """More problems to keep out: JSONL/Parquet files in the environment's suite format (spec, golden)."""
    threshold: float = 0.5
    """Drop a unit whose spec has Rouge-L F1 above this with any benchmark prompt (CodeV-R1: 0.5)."""
    code_threshold: float = 0.8
    """Drop a unit whose code has Rouge-L F1 above this with any benchmark reference code. Higher
    than for specs: Verilog's shared keyword skeleton makes unrelated modules score high (at 0.5,
    18 of the 56 starter problems, written for this project, would go); a copied benchmark module
    scores above 0.9."""
    code: bool = True
    """Compare code (before describing, so contaminated units cost no requests)."""
    spec: bool = True
    """Compare specs (after describing)."""


@dataclasses.dataclass
class LLMConfig:
    """An OpenAI-compatible chat endpoint (e.g. ``vllm serve``) and how to sample from it."""

    endpoint: str = ""
    """Base URL, e.g. http://localhost:8000 (with or without /v1)."""
    model: str = ""
    """Model name the server knows (the request's model field)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (keys never go in the config file)."""
    concurrency: int = 16
    """Requests in flight at once."""
    timeout: float = 600.0
    """Seconds one request may take."""
    max_retries: int = 3
    """Retries of a request that timed out or got 408/429/5xx (with exponential backoff)."""
    backoff: float = 1.0
    """Seconds before the first retry (doubled for each next one)."""
    temperature: float = 0.6
    """Sampling temperature."""
    top_p: float = 0.95
    """Nucleus sampling (1.0: off)."""
    max_tokens: int = 4096
    """Longest completion in tokens."""
    seed: int | None = None
    """Sampling seed sent with each request (None: unseeded)."""
    extra_body: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Extra JSON fields for every request (e.g. {top_k: -1})."""
    price_prompt: float = 0.0
    """Dollars per million prompt tokens (for the cost report)."""
    price_completion: float = 0.0
    """Dollars per million completion tokens."""

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")


@dataclasses.dataclass
class DescribeConfig(LLMConfig):
    """Step 2: an LLM writes a natural-language spec from the code."""

    PATH_KEYS: ClassVar[dict[str, str]] = {"template_file": "path"}

    temperature: float = 0.2
    max_tokens: int = 2048
    template: str | None = None
    """User-message template; placeholders {code}, {module}, {ports} (default: prompts.DESCRIBE_TEMPLATE)."""
    template_file: str | None = None
    """Read the template from this file instead."""
    system_prompt: str | None = None
    """System message for the describer (default: prompts.DESCRIBE_SYSTEM; "" for none)."""


@dataclasses.dataclass
class RegenerateConfig(LLMConfig):
    """Step 3: a reasoning LLM writes code from the spec, in the CodeV-R1 answer format."""

    max_tokens: int = 16384
    samples: int = 1
    """Completions per spec; the first equivalent one is kept."""
    think_prefilled: bool = False
    """The model's chat template opens <think> itself (the response starts inside it)."""


@dataclasses.dataclass
class DifficultyConfig(LLMConfig):
    """Step 5 (optional): drop problems a base model already solves in k tries."""

    enabled: bool = False
    """Run this step (it needs its own endpoint and model)."""
    k: int = 5
    """Samples per problem (one request with n=k)."""
    temperature: float = 1.0
    max_tokens: int = 4096
    apply_to: str = "rl"
    """``rl``: solved problems leave the RL dataset only (as in CodeV-R1); ``both``: SFT too."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.k < 1:
            raise ValueError("difficulty.k must be >= 1")
        if self.apply_to not in ("rl", "both"):
            raise ValueError(f"difficulty.apply_to must be rl or both, got {self.apply_to!r}")


@dataclasses.dataclass
class OutputConfig:
    """What gets written to output_dir."""

    PATH_KEYS: ClassVar[dict[str, str]] = {"system_prompt_file": "path"}

    formats: list[str] = dataclasses.field(default_factory=lambda: ["jsonl", "parquet"])
    """Dataset file formats: jsonl and/or parquet."""
    system_prompt: str | None = None
    """System prompt of the regeneration requests, the SFT conversations and the difficulty
    prompts (default: verilog_env's DEFAULT_SYSTEM_PROMPT). The bundled SFT trainer renders
    its own (its config's system_prompt): set the same one there."""
    system_prompt_file: str | None = None
    """Read it from a file, e.g. the CodeV-R1 prompt saved from its model card (README:
    'Reproducing the CodeV-R1 model card')."""
    rl_exports: list[str] = dataclasses.field(default_factory=lambda: ["openrlhf"])
    """Also write the RL set as prompt datasets for these libraries (openrlhf, trl, verl),
    with self-contained golden labels (verilog_env.export)."""
    plot: bool = True
    """Write funnel.png (needs matplotlib)."""

    def __post_init__(self) -> None:
        bad = [f for f in self.formats if f not in ("jsonl", "parquet")]
        if bad or not self.formats:
            raise ValueError(f"output.formats must be a non-empty list of jsonl/parquet, got {self.formats!r}")
        bad = [f for f in self.rl_exports if f not in ("openrlhf", "trl", "verl")]
        if bad:
            raise ValueError(f"output.rl_exports: unknown format(s) {bad}; choose from openrlhf, trl, verl")


SECTIONS: dict[str, type] = {
    "intake": IntakeConfig,
    "dedup": DedupConfig,
    "decontam": DecontamConfig,
    "describe": DescribeConfig,
    "regenerate": RegenerateConfig,
    "check": CheckSettings,
    "difficulty": DifficultyConfig,
    "output": OutputConfig,
}


@dataclasses.dataclass
class SynthConfig:
    """The whole round-trip synthesis run (see README of trainers/synth and the example config)."""

    MOVED_KEYS: ClassVar[dict[str, str]] = {"verify": "check"}  # not a field: hints for configs written before issue 14
    PATH_KEYS: ClassVar[dict[str, str]] = {"output_dir": "path"}  # and the sections' (trainers.config.resolve_paths)

    output_dir: str = "runs/synth"
    """Where datasets, report, verdicts and the resumable state (state.sqlite) go."""
    corpus: list[Any] = dataclasses.field(default_factory=list)
    """Sources of Verilog: a list of CorpusSource mappings (a bare string is a path)."""
    intake: Any = dataclasses.field(default_factory=IntakeConfig)
    """Step 1: splitting the corpus into units (:class:`IntakeConfig`)."""
    dedup: Any = dataclasses.field(default_factory=DedupConfig)
    """Near-duplicate removal (:class:`DedupConfig`)."""
    decontam: Any = dataclasses.field(default_factory=DecontamConfig)
    """Benchmark decontamination (:class:`DecontamConfig`)."""
    describe: Any = dataclasses.field(default_factory=DescribeConfig)
    """Step 2: the describing LLM (:class:`DescribeConfig`)."""
    regenerate: Any = dataclasses.field(default_factory=RegenerateConfig)
    """Step 3: the regenerating reasoning LLM (:class:`RegenerateConfig`)."""
    check: Any = dataclasses.field(default_factory=CheckSettings)
    """Step 4 (and the self-check): the equivalence checker's settings, a
    :class:`verilog_env.CheckSettings` (``seed``, ``cycles``, ``timeout``, ``method``:
    ``sim`` / ``formal`` / ``both``, ``formal_budget``, ``formal_fallback``,
    ``batch_size``, ``isolate``)."""
    difficulty: Any = dataclasses.field(default_factory=DifficultyConfig)
    """Step 5 (optional): the difficulty filter (:class:`DifficultyConfig`)."""
    output: Any = dataclasses.field(default_factory=OutputConfig)
    """What is written (:class:`OutputConfig`)."""
    max_consecutive_failures: int = 8
    """Stop the run when this many requests in a row fail for good (the server is down or
    refusing); what finished is kept, and rerunning resumes. A request that failed (say,
    timed out after its retries) drops its unit; it is asked again by the next run only if
    its own run did not complete."""
    retry_failed: bool = False
    """On a rerun, ask again also the requests that failed in runs that completed."""
    progress: bool = True
    """Progress bars on stderr."""

    def __post_init__(self) -> None:
        for name, cls in SECTIONS.items():
            setattr(self, name, read_section(getattr(self, name), cls, name))
        sources = []
        for i, item in enumerate(self.corpus or []):
            if isinstance(item, CorpusSource):
                sources.append(item)
            elif isinstance(item, str):
                sources.append(config_from_dict(CorpusSource, {"path": item}, source=f"corpus[{i}]"))
            elif isinstance(item, Mapping):
                sources.append(config_from_dict(CorpusSource, item, source=f"corpus[{i}]"))
            else:
                raise ValueError(f"corpus[{i}]: expected a path or a mapping, got {type(item).__name__}")  # noqa: TRY004
        self.corpus = sources
        if self.max_consecutive_failures < 1:
            raise ValueError("max_consecutive_failures must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_synth_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> SynthConfig:
    """Load a :class:`SynthConfig` from YAML, then apply ``KEY=VALUE`` overrides (dotted keys
    reach into sections: ``describe.model=NAME``). A relative path written in the file is
    relative to the file's folder; one given as an override, or a default, to the current
    directory (:func:`trainers.config.load_config`)."""
    return load_config(SynthConfig, path, overrides)
