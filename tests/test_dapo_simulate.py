"""The sampling-cost simulator's baselines follow the rules they are named after."""

from __future__ import annotations

import numpy as np

from trainers.dapo.simulate import Scenario, Simulation, Totals, run_codev_r1, run_openrlhf


class Scripted:
    """A stand-in for :class:`Simulation` whose rounds survive as scripted (round sizes recorded)."""

    def __init__(self, steps: int, survivors: list[int]):
        self.steps, self.step, self.totals = steps, 0, Totals()
        self.survivors, self.sizes = list(survivors), []

    def generate(self, prompts: int) -> np.ndarray:
        self.sizes.append(prompts)
        kept = min(prompts, self.survivors.pop(0))
        return np.arange(prompts) < kept


def test_codev_r1_rounds_follow_its_two_ratios():
    """Step 1: 128 prompts (ratios 1), 64 survive -> part ratio 0.5 -> 128 more for the 64
    missing; 80 survive: the step completes, select_ratio = 144/256. Step 2 starts with the
    part ratio reset: 128 / 0.5625 = 227.6 -> 232 prompts (multiples of 8), 200 survive
    (select_ratio stays 0.5625). Step 3 starts with 232 again; nothing survives, which sends
    the part ratio to 0 (no floor): every later round of that step is the cap."""
    sim = Scripted(steps=3, survivors=[64, 80, 200, 0, 8, 128])
    run_codev_r1(sim, batch=128, max_rounds=8, cap=4096)
    assert sim.sizes == [128, 128, 232, 232, 4096, 4096]
    assert sim.totals.short_steps == 0


def test_openrlhf_replaces_each_filtered_group_once_and_trains_exactly_the_batch():
    """Every rejected group is replaced by one prompt as it returns: generated prompts are
    the accepted batch plus one per rejection, and no surplus is generated."""
    sim = Simulation(Scenario("steady", (1.5, 1.5), (1.5, 1.5)), steps=5, samples=16, capacity=2048,
                     rng=np.random.default_rng(0))
    run_openrlhf(sim, batch=64)
    assert sim.totals.short_steps == 0
    assert sim.totals.rounds - 5 == sim.totals.prompts - 5 * 64  # one dispatch per replacement
    assert 0 < sim.totals.busy < sim.totals.time
