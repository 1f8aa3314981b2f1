"""``VerilogSpecEnv``: a Gymnasium environment where the action is an LLM's answer.

``reset()`` picks a problem and returns the prompt (chat messages: system prompt and
spec). ``step(response)`` extracts the Verilog from the response, checks it against the
problem's golden reference and returns the reward (see :mod:`verilog_env.reward`).

Single-turn (default): every episode is one step. Multi-turn (``max_turns > 1``): the
policy answers again, given the conversation so far plus feedback on its failure
(:mod:`verilog_env.feedback`). A correct answer, or any answer at the turn limit,
terminates the episode (:class:`VerilogSpecEnv` gives the rule). After a step,
``info`` carries ``problem_id``, ``turn``, ``seed`` (the stimulus seed of the check),
``reward``, ``correct``, ``status`` and ``reason`` (one line), ``format_ok``, ``parsed``
(:class:`~verilog_env.reward.ParsedResponse`), ``verdict``
(:class:`~verilog_env.equiv.Verdict`, with counterexample and timings; ``None`` when the
response had no checkable code) and ``feedback`` (the text a next turn would get).

Registered as ``verilog_env/VerilogSpec-v0``::

    env = gymnasium.make("verilog_env/VerilogSpec-v0", suite="starter", max_turns=3)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import gymnasium as gym

from .equiv.settings import CheckSettings
from .feedback import feedback_message
from .problems import DEFAULT_SYSTEM_PROMPT, Problem
from .reward import RewardConfig, Score, score_many
from .spaces import AnyText, Conversation
from .suites import DEFAULT_SUITE, Suite, load_suite

Messages = list[dict[str, str]]


def as_suite(suite: str | Suite | Sequence[Problem], **kwargs: Any) -> Suite:
    """A :class:`Suite` from a registered name / file path, a suite, or a list of problems."""
    if isinstance(suite, Suite):
        return suite
    if isinstance(suite, str):
        return load_suite(suite, **kwargs)
    return Suite("custom", suite)


class VerilogSpecEnv(gym.Env[Messages, str]):
    """Write Verilog from a natural-language spec; reward = functional equivalence.

    Args:
        suite: problems to draw from: a registered suite name (default ``"starter"``),
            a ``.jsonl``/``.parquet`` path, a :class:`Suite` or a list of problems.
        max_turns: attempts per episode; feedback follows each failed attempt.
        reward: the reward rules.
        system_prompt: first message of every prompt (``None``: no system message).
        check: checker settings (:class:`CheckSettings`); ``CheckSettings(method="both")``
            makes the reward a formal proof where Yosys can decide.
        suite_kwargs: passed to the suite loader when ``suite`` is a name.
        render_mode: ``"ansi"`` renders the last turn as text.

    How an episode ends, by Gymnasium's definitions (``Env.step``; its "Handling Time
    Limits" guide): ``terminated`` when a terminal state of the task is reached, success
    or failure, a time limit inherent to the task included; ``truncated`` when a condition
    outside the task (an external time limit) cuts the episode short. The task here is
    "write the module in at most ``max_turns`` attempts", and the observation shows the
    attempts made (its assistant messages), so the turn limit is part of the task:

    * a correct answer **terminates** the episode (solved), at any turn;
    * a wrong answer (mismatch, compile or format error, timeout...) at turn ``max_turns``
      **terminates** it too (failed: no attempt is left), for every ``max_turns``, 1
      included; its return is final, with nothing to bootstrap;
    * a wrong answer before the limit ends nothing: its feedback is the next user turn;
    * ``truncated`` is never set by the environment: it is left to limits imposed from
      outside, e.g. ``gymnasium.make(..., max_episode_steps=N)``'s ``TimeLimit``.
      (Gymnasium's ``check_env`` also holds that an environment truncating after one step
      is broken, which a single-turn episode would be.)
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(
        self,
        suite: str | Suite | Sequence[Problem] = DEFAULT_SUITE,
        *,
        max_turns: int = 1,
        reward: RewardConfig | None = None,
        system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
        check: CheckSettings | None = None,
        suite_kwargs: dict[str, Any] | None = None,
        render_mode: str | None = None,
    ):
        if max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, got {max_turns}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None")
        self.suite = as_suite(suite, **(suite_kwargs or {}))
        self.max_turns = max_turns
        self.reward_config = reward or RewardConfig()
        self.system_prompt = system_prompt
        self.check = check or CheckSettings()
        self.render_mode = render_mode
        self.observation_space = Conversation(max_messages=2 * max_turns + 2)
        self.action_space = AnyText()
        self.problem: Problem | None = None
        self.messages: Messages = []
        self.turn = 0
        self.last_score: Score | None = None
        self.check_seed: int | None = self.check.seed

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Messages, dict[str, Any]]:
        """Start an episode on ``options["problem_id"]``, else on a seeded random problem."""
        super().reset(seed=seed)
        problem_id = (options or {}).get("problem_id")
        if problem_id is not None:
            self.problem = self.suite.get(problem_id)
        else:
            self.problem = self.suite[int(self.np_random.integers(len(self.suite)))]
        self.messages = self.problem.messages(self.system_prompt)
        self.turn = 0
        self.last_score = None
        self.check_seed = int(self.np_random.integers(2**31)) if self.check.seed is None else self.check.seed
        return list(self.messages), self._info()

    def episode_settings(self) -> CheckSettings:
        """This episode's checker settings: :attr:`check` with the episode's stimulus seed."""
        return dataclasses.replace(self.check, seed=self.check_seed)

    def step(self, action: str) -> tuple[Messages, float, bool, bool, dict[str, Any]]:
        if self.problem is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        [score] = score_many([(self.problem, action)], self.reward_config, self.episode_settings())
        return self._advance(action, score)

    def _advance(self, action: str, score: Score) -> tuple[Messages, float, bool, bool, dict[str, Any]]:
        """Record ``score`` for ``action`` and move the episode on (shared with batched scoring)."""
        self.turn += 1
        self.last_score = score
        self.messages.append({"role": "assistant", "content": action if isinstance(action, str) else str(action)})
        terminated = score.correct or self.turn >= self.max_turns  # the class docstring says why
        if not terminated:
            self.messages.append({"role": "user", "content": feedback_message(score)})
        return list(self.messages), float(score.reward), terminated, False, self._info(score)

    def _info(self, score: Score | None = None) -> dict[str, Any]:
        assert self.problem is not None
        info: dict[str, Any] = {"problem_id": self.problem.id, "tags": list(self.problem.tags), "turn": self.turn}
        if score is not None:  # flat values and objects: vector envs merge infos key by key
            info.update(
                seed=self.check_seed,
                reward=score.reward,
                correct=score.correct,
                status=score.status,
                reason=score.reason,
                format_ok=score.parsed.format_ok,
                verdict=score.verdict,
                parsed=score.parsed,
                feedback=feedback_message(score),
            )
        return info

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self.problem is None:
            return None
        head = f"[{self.problem.id}] turn {self.turn}/{self.max_turns}"
        if self.last_score is None:
            return f"{head}\n{self.problem.user_prompt()}"
        return f"{head}: reward {self.last_score.reward:g} ({self.last_score.status}) {self.last_score.reason}"
