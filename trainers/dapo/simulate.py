"""Cost simulator: how many samples and generation rounds each DAPO sampling strategy needs.

    python -m trainers.dapo.simulate [--steps 150] [--batch 128] [--samples 16]
                                     [--pass-rates FILE.jsonl] [--out reports/dapo_sampling.json]

Every prompt has a pass rate ``p``; its group of ``samples`` rollouts survives the
dynamic-sampling filter unless all succeed or all fail, i.e. with probability
``1 - p^n - (1-p)^n``. Pass rates come from a *scenario*: a Beta distribution whose
parameters drift linearly over training (the policy improves), or a JSONL file of real
per-prompt pass rates (``{"step": s, "pass_rates": [...]}`` per line; the nearest step's
rates are resampled).

Strategies, each filling ``batch`` surviving groups per step:

* ``dapo``: fixed rounds of ``gen_batch`` prompts until the batch is full; surplus dropped.
* ``openrlhf``: OpenRLHF 0.11.2's ``_generate_vllm`` with dynamic filtering, event by
  event: ``batch`` prompts are dispatched, and each group the filter rejects is replaced
  by one new prompt the moment it returns (``ray.wait(num_returns=1)``), until ``batch``
  groups are accepted. Its ``rounds_per_step`` counts dispatches (the first one plus one
  per replacement); there is no surplus.
* ``codev_r1``: CodeV-R1's rule as its verl fork runs it (``ray_trainer.py``,
  ``dapo_accelerate``): a round is the smallest multiple of the dataloader's 8-prompt
  parts reaching ``remaining / min(select_ratio, select_ratio_part)``, where
  ``select_ratio_part`` is the lowest kept/sampled ratio of the current step's rounds (1
  at each step's start) and ``select_ratio`` the lowest kept/sampled ratio of a completed
  step (1 before the first); no floor; surplus dropped (:func:`run_codev_r1`).
* ``ours``: adaptive rounds sized by a Beta lower-bound estimate; surplus kept for the
  next step, at most ``max_surplus_age`` steps old
  (:class:`~trainers.dapo.sampler.AdaptiveSampler`).

Every generated prompt counts, whether it is trained on, filtered out, dropped as surplus
or dropped as stale surplus.

Latency model for the idle tail: engines hold ``capacity`` sequences at once; each
sequence decodes for a lognormal time (median 1, sigma 0.6). A synchronous round of S
sequences lasts max(total work / capacity, longest sequence); OpenRLHF's event loop is
simulated sequence by sequence (a replacement's sequences start as capacity frees). The
idle tail is the share of engine time not spent decoding, summed over the run.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import heapq
import json
import math
from pathlib import Path

import numpy as np

from .sampler import AdaptiveSampler, BetaLowerBound


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    start: tuple[float, float]  # Beta(a, b) of pass rates at step 0
    end: tuple[float, float]  # ... at the last step

    def pass_rates(self, step: int, steps: int, rng: np.random.Generator, size: int) -> np.ndarray:
        t = step / max(1, steps - 1)
        a = self.start[0] + t * (self.end[0] - self.start[0])
        b = self.start[1] + t * (self.end[1] - self.start[1])
        return rng.beta(a, b, size=size)


SCENARIOS = (
    Scenario("improving", (0.6, 1.2), (1.2, 0.6)),  # hard start, most prompts solved at the end
    Scenario("hard", (0.3, 2.0), (0.5, 1.5)),  # most groups all-fail: few survive
    Scenario("bimodal", (0.25, 0.25), (0.3, 0.2)),  # prompts either solved or not
    Scenario("steady", (1.5, 1.5), (1.5, 1.5)),  # no drift
)


class EmpiricalRates:
    """Per-step pass rates read from JSONL: resample the nearest recorded step."""

    def __init__(self, path: Path):
        self.name = path.stem
        self.steps: list[int] = []
        self.rates: list[np.ndarray] = []
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if "pass_rates" not in row:
                raise ValueError(f"{path}:{n}: expected a 'pass_rates' list")
            self.steps.append(int(row.get("step", len(self.steps))))
            self.rates.append(np.clip(np.asarray(row["pass_rates"], dtype=float), 0, 1))
        if not self.rates:
            raise ValueError(f"{path}: no pass rates")
        self._recorded_span = max(self.steps) or 1

    def pass_rates(self, step: int, steps: int, rng: np.random.Generator, size: int) -> np.ndarray:
        target = step / max(1, steps - 1) * self._recorded_span
        i = int(np.argmin([abs(s - target) for s in self.steps]))
        return rng.choice(self.rates[i], size=size)


@dataclasses.dataclass
class Totals:
    prompts: int = 0
    rounds: int = 0
    busy: float = 0.0
    time: float = 0.0
    short_steps: int = 0


class Simulation:
    """Draws prompt groups for one strategy and accumulates its costs."""

    def __init__(self, scenario, steps: int, samples: int, capacity: int, rng: np.random.Generator):
        self.scenario, self.steps, self.samples, self.capacity, self.rng = scenario, steps, samples, capacity, rng
        self.step = 0
        self.totals = Totals()

    def draw(self, prompts: int) -> tuple[np.ndarray, np.ndarray]:
        """``prompts`` new groups: their survival flags and their sequences' decode times
        (``prompts x samples``). Every drawn prompt counts as generated."""
        p = self.scenario.pass_rates(self.step, self.steps, self.rng, prompts)
        successes = self.rng.binomial(self.samples, p)
        latencies = self.rng.lognormal(0.0, 0.6, size=(prompts, self.samples))
        self.totals.prompts += prompts
        return (successes > 0) & (successes < self.samples), latencies

    def generate(self, prompts: int) -> np.ndarray:
        """One synchronous generation round: survival flags of ``prompts`` groups, with its time cost."""
        survived, latencies = self.draw(prompts)
        busy = latencies.sum() / self.capacity
        self.totals.rounds += 1
        self.totals.busy += busy
        self.totals.time += max(busy, latencies.max())
        return survived


def run_dapo(sim: Simulation, batch: int, gen_batch: int, max_rounds: int) -> None:
    for sim.step in range(sim.steps):
        kept = rounds = 0
        while kept < batch and rounds < max_rounds:
            kept += int(sim.generate(gen_batch).sum())
            rounds += 1
        sim.totals.short_steps += kept < batch


def run_openrlhf(sim: Simulation, batch: int, max_dispatches: int = 1 << 16) -> None:
    """OpenRLHF's dynamic filtering, event by event (see the module docstring)."""
    for sim.step in range(sim.steps):
        clock = busy = 0.0
        waiting: collections.deque[tuple[int, float]] = collections.deque()  # (group, decode time)
        running: list[tuple[float, int]] = []  # (end time, group)
        survives: list[bool] = []
        left: list[int] = []

        def dispatch(prompts: int) -> None:
            flags, latencies = sim.draw(prompts)
            for flag, times in zip(flags, latencies):
                group = len(survives)
                survives.append(bool(flag))
                left.append(len(times))
                waiting.extend((group, float(t)) for t in times)

        dispatch(batch)
        dispatches, accepted = 1, 0
        while True:
            while waiting and len(running) < sim.capacity:  # continuous batching
                group, seconds = waiting.popleft()
                heapq.heappush(running, (clock + seconds, group))
                busy += seconds
            if not running:
                break
            clock, group = heapq.heappop(running)
            left[group] -= 1
            if left[group] == 0:
                if survives[group]:
                    accepted += 1
                elif dispatches < max_dispatches:
                    dispatch(1)
                    dispatches += 1
        sim.totals.rounds += dispatches
        sim.totals.busy += busy / sim.capacity
        sim.totals.time += clock
        sim.totals.short_steps += accepted < batch


def run_codev_r1(sim: Simulation, batch: int, max_rounds: int, part: int = 8, cap: int = 4096) -> None:
    """CodeV-R1's rule (see the module docstring). A ratio of 0 (a round where nothing
    survived) asks for an unbounded round: their loop would then read the rest of the
    epoch; here the round is ``cap`` prompts."""
    select_ratio = 1.0
    for sim.step in range(sim.steps):
        part_ratio, kept, sampled, rounds = 1.0, 0, 0, 0
        while kept < batch and rounds < max_rounds:
            remaining = batch - kept
            ratio = min(select_ratio, part_ratio)
            size = cap if ratio <= 0 else min(cap, part * math.ceil(remaining / ratio / part))
            survived = int(sim.generate(size).sum())
            rounds += 1
            sampled += size
            part_ratio = min(part_ratio, survived / size)
            if survived >= remaining:  # the step is complete: its kept/sampled ratio counts
                select_ratio = min(select_ratio, (kept + survived) / sampled)
            kept += survived
        sim.totals.short_steps += kept < batch


def run_adaptive(sim: Simulation, sampler: AdaptiveSampler) -> None:
    for sim.step in range(sim.steps):
        _, metrics = sampler.next_batch(lambda n: list(sim.generate(n)), keep=bool)
        sim.totals.short_steps += metrics.short


def simulate(scenario, *, steps: int, batch: int, samples: int, gen_batch: int, capacity: int, seed: int, max_rounds: int = 64) -> dict[str, dict[str, float]]:
    """Run every strategy on ``scenario`` with the same seed; metrics per strategy."""
    runs = {
        "dapo": lambda sim: run_dapo(sim, batch, gen_batch, max_rounds),
        "openrlhf": lambda sim: run_openrlhf(sim, batch),
        "codev_r1": lambda sim: run_codev_r1(sim, batch, max_rounds),
        "ours": lambda sim: run_adaptive(sim, AdaptiveSampler(batch, BetaLowerBound(), keep_surplus=True, max_rounds=max_rounds, floor=0.05)),
    }
    out = {}
    for name, run in runs.items():
        sim = Simulation(scenario, steps, samples, capacity, np.random.default_rng(seed))
        run(sim)
        t = sim.totals
        out[name] = {
            "samples_per_trained_sample": t.prompts / (steps * batch),
            "rounds_per_step": t.rounds / steps,
            "idle_tail": 1.0 - t.busy / t.time if t.time else 0.0,
            "generation_time": t.time,
            "short_steps": t.short_steps,
        }
    return out


def _plot(report: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    scenarios = list(report["scenarios"])
    strategies = list(next(iter(report["scenarios"].values())))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    metrics = [("samples_per_trained_sample", "generated / trained samples"), ("rounds_per_step", "generation rounds per step"), ("idle_tail", "idle tail (share of time)")]
    width = 0.8 / len(strategies)
    for ax, (key, title) in zip(axes, metrics):
        for i, strategy in enumerate(strategies):
            values = [report["scenarios"][s][strategy][key] for s in scenarios]
            ax.bar(np.arange(len(scenarios)) + i * width, values, width, label=strategy)
        ax.set_xticks(np.arange(len(scenarios)) + width * (len(strategies) - 1) / 2, scenarios)
        ax.set_title(title)
    axes[1].axhline(1.1, color="grey", linestyle="--", linewidth=1)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compare DAPO sampling strategies by simulated cost.")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch", type=int, default=128, help="prompt groups per training step (CodeV-R1: 128)")
    parser.add_argument("--samples", type=int, default=16, help="rollouts per prompt (CodeV-R1: 16)")
    parser.add_argument("--gen-batch", type=int, default=0, help="plain DAPO's generation batch (default: 3 x batch)")
    parser.add_argument("--capacity", type=int, default=2048, help="sequences the engines decode at once")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--pass-rates", type=Path, help="JSONL of real per-prompt pass rates (adds a scenario)")
    parser.add_argument("--out", type=Path, default=Path("reports/dapo_sampling.json"))
    args = parser.parse_args(argv)

    scenarios = list(SCENARIOS)
    if args.pass_rates:
        scenarios.append(EmpiricalRates(args.pass_rates))
    gen_batch = args.gen_batch or 3 * args.batch
    report = {
        "settings": {**{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "gen_batch": gen_batch},
        "scenarios": {},
    }
    for scenario in scenarios:
        per_seed = [
            simulate(scenario, steps=args.steps, batch=args.batch, samples=args.samples, gen_batch=gen_batch, capacity=args.capacity, seed=seed)
            for seed in range(args.seeds)
        ]
        report["scenarios"][scenario.name] = {
            strategy: {key: float(np.mean([run[strategy][key] for run in per_seed])) for key in per_seed[0][strategy]}
            for strategy in per_seed[0]
        }
    checks = {
        name: {
            "ours_rounds_per_step<=1.1": r["ours"]["rounds_per_step"] <= 1.1,
            "ours_samples<=codev_r1": r["ours"]["samples_per_trained_sample"] <= r["codev_r1"]["samples_per_trained_sample"],
        }
        for name, r in report["scenarios"].items()
    }
    report["targets_met"] = checks
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    png = args.out.with_suffix(".png")
    plotted = _plot(report, png)
    for name, r in report["scenarios"].items():
        print(f"{name}:")
        for strategy, m in r.items():
            print(f"  {strategy:9s} samples/trained {m['samples_per_trained_sample']:.2f}  rounds/step {m['rounds_per_step']:.2f}  idle tail {m['idle_tail']:.2f}")
    print(f"wrote {args.out}" + (f" and {png}" if plotted else " (no plot: matplotlib missing)"))
    return 0 if all(all(c.values()) for c in checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
