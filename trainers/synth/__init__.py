"""Round-trip data synthesis: Verilog corpus -> descriptions -> regenerated code ->
equivalence filter -> SFT and RL datasets (the CodeV-R1 recipe), resumable.

    verilog-env synth run --config examples/configs/synth_example.yaml

or from Python::

    from trainers.synth import load_synth_config, run_pipeline
    result = run_pipeline(load_synth_config("synth.yaml"))
    result.counts()      # {stage: (in, out)}

Modules: :mod:`.config` (the YAML config), :mod:`.intake` (corpus reading, module
splitting with pyslang, filters), :mod:`.dedup` (exact and MinHash near-duplicates),
:mod:`.prompts` (describe template, spec checks), :mod:`.llm` (cached, accounted
requests), :mod:`.verify` (the equivalence checker), :mod:`.decontam` (Rouge-L against
VerilogEval/RTLLM), :mod:`.pipeline` (the stages), :mod:`.state` (the resumable store),
:mod:`.report` (Markdown, JSON, PNG funnel), :mod:`.cli`.

This package never imports torch.
"""

from .config import SynthConfig, load_synth_config
from .llm import SynthInterrupted
from .pipeline import SynthResult, run_pipeline

__all__ = ["SynthConfig", "SynthInterrupted", "SynthResult", "load_synth_config", "run_pipeline"]
