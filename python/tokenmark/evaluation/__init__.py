"""Pieces of the watermark evaluation harness (``bench/eval_watermark.py``).

- :mod:`.schemes`: the small interface a scheme implements to be evaluated (a logits processor
  for generation, p-values for detection), with the KGW, Gumbel and SynthID adapters.
- :mod:`.attacks`: token-level edits (substitution, insertion, deletion, cropping, copy-paste).
- :mod:`.metrics`: TPR at a false-positive rate, confidence intervals, diversity, perplexity,
  and the spike-entropy bound of Kirchenbauer et al. (2023, Theorem 4.2).
"""
