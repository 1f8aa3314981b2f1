"""verl custom reward function.

In the verl config::

    custom_reward_function:
      path: /path/to/site-packages/verilog_env/integrations/verl.py
      name: compute_score

with the dataset's ``reward_model.ground_truth`` holding the label (a problem id, the
golden source, or a JSON object; see :mod:`verilog_env.labels`). Works with verl's
per-sample reward managers (one call per response) and with batched ones (lists in,
list out, checked in parallel on every core).
"""

from __future__ import annotations

from typing import Any

from verilog_env.integrations import score_labelled


def compute_score(data_source: Any, solution_str: Any, ground_truth: Any, extra_info: Any = None, **kwargs: Any) -> Any:
    """Reward of ``solution_str`` (the decoded response) for the problem ``ground_truth`` names."""
    if isinstance(solution_str, (list, tuple)):
        scores = score_labelled(list(solution_str), list(ground_truth))
        return [s.reward if s is not None else 0.0 for s in scores]
    [score] = score_labelled([solution_str], [ground_truth])
    return score.reward if score is not None else 0.0
