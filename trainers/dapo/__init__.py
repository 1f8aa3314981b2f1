"""DAPO and adaptive DAPO as small pure functions (torch for the loss, numpy elsewhere).

* :mod:`.advantages` - group-normalised advantages
* :mod:`.loss`       - token-level clipped policy-gradient loss (decoupled clip), optional KL
* :mod:`.shaping`    - soft overlong reward shaping
* :mod:`.filters`    - dynamic-sampling filter (zero-variance groups), truncation mask
* :mod:`.sampler`    - adaptive generation-round sizing with pluggable estimators
* :mod:`.simulate`   - cost simulator comparing sampling strategies
"""
