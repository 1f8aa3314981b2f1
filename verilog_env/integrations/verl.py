"""verl custom reward function.

In the verl config::

    custom_reward_function:
      path: /path/to/site-packages/verilog_env/integrations/verl.py
      name: compute_score
      reward_kwargs:          # optional: CheckSettings fields for every call
        method: both
        formal_budget: 20

with the dataset's ``reward_model.ground_truth`` holding the label (a problem id, the
golden source, or a JSON object; see :mod:`verilog_env.labels`). Works with verl's
per-sample reward managers (``compute_score(data_source=, solution_str=,
ground_truth=, extra_info=, **reward_kwargs)``, one call per response) and with the
batched one (``compute_score(data_sources=, solution_strs=, ground_truths=,
extra_infos=, **reward_kwargs)``, lists or arrays in, a list out, checked in parallel on
every core). ``reward_kwargs`` that name :class:`~verilog_env.CheckSettings` fields
override the settings of :func:`verilog_env.integrations.check_settings` (configure()
or the ``VERILOG_REWARD_*`` variables); other keywords are ignored.
"""

from __future__ import annotations

from typing import Any

from verilog_env.integrations import rewards, split_overrides


def compute_score(
    data_source: Any = None,
    solution_str: Any = None,
    ground_truth: Any = None,
    extra_info: Any = None,
    *,
    data_sources: Any = None,
    solution_strs: Any = None,
    ground_truths: Any = None,
    extra_infos: Any = None,
    **kwargs: Any,
) -> Any:
    """Reward of ``solution_str`` (the decoded response) for the problem ``ground_truth``
    names, or the list of rewards of ``solution_strs`` (a batched call)."""
    overrides = split_overrides(kwargs)
    if solution_strs is not None:
        return rewards(list(solution_strs), list(ground_truths), **overrides)
    if isinstance(solution_str, (list, tuple)):  # lists passed positionally
        return rewards(list(solution_str), list(ground_truth), **overrides)
    [reward] = rewards([solution_str], [ground_truth], **overrides)
    return reward
