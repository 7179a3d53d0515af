"""The C++ backend (``tokenmark._C``): host arrays in, already normalised by :mod:`tokenmark.ops`.

The host backends (this one and :mod:`.reference`) share one signature per operation, so the
dispatcher and the parity tests treat them alike; the arguments of each are listed in the stub
``tokenmark/_C.pyi``. pybind11 lists every argument, key words included, when a conversion
fails; :func:`_call` turns that into an error that shows none.
"""

from __future__ import annotations

import functools
import re

from .. import _C


def _call(fn, *args):
    try:
        return fn(*args)
    except TypeError as e:
        # pybind11: "incompatible function arguments" ("constructor arguments" for a class).
        if not re.search(r"incompatible (function|constructor) arguments", str(e)):
            raise
    # The message would echo the key words: name the operation only, and raise outside the
    # handler, so that the original is not kept as the new error's __context__ either.
    raise TypeError(f"{fn.__name__}: an argument has the wrong type")


def _guarded(fn):
    """``fn`` (a function of ``_C``) called through :func:`_call`."""
    return functools.wraps(fn)(functools.partial(_call, fn))


apply_kgw_bias_ = _guarded(_C.apply_kgw_bias_)
score_kgw = _guarded(_C.score_kgw)
sample_gumbel = _guarded(_C.sample_gumbel)
score_gumbel = _guarded(_C.score_gumbel)
sample_synthid = _guarded(_C.sample_synthid)
score_synthid = _guarded(_C.score_synthid)
apply_ginsew_ = _guarded(_C.apply_ginsew_)
# Dialects and K-key scoring.
score_sglang = _guarded(_C.score_sglang)
score_vllm = _guarded(_C.score_vllm_gumbel)
synthid_text_g_values = _guarded(_C.synthid_text_g_values)
torch_cpu_randperm = _guarded(_C.torch_cpu_randperm)
torch_cpu_green_lists = _guarded(_C.torch_cpu_green_lists)
score_synthid_text = _guarded(_C.score_synthid_text)
score_kgw_keys = _guarded(_C.score_kgw_keys)
score_gumbel_keys = _guarded(_C.score_gumbel_keys)
score_synthid_keys = _guarded(_C.score_synthid_keys)


# The processors' decode step on host tensors by address (not operations of the table): the
# scheme's parameters checked once, when the processor makes its step object.
def kgw_step(keys, thresholds, deltas, context_width, seeding):
    """``_C.KGWStep``: one key [1, 4], threshold [1] and delta [1] for every row."""
    return _call(
        _C.KGWStep, keys.reshape(-1), int(thresholds[0]), float(deltas[0]), context_width, seeding
    )


def gumbel_step(keys, salts, context_width, seeding, skip_repeated):
    """``_C.GumbelStep``: sample, then each watermarked row one-hot at its token, in place;
    ``salts`` one for every row or one per row (its length is checked at each call)."""
    return _call(_C.GumbelStep, keys.reshape(-1), salts, context_width, seeding, skip_repeated)


def synthid_step(keys, context_width, seeding, layers, top_k, context_history):
    """``_C.SynthIDStep``, as :func:`gumbel_step`; each call also takes the address of the rows'
    float64 draws."""
    return _call(
        _C.SynthIDStep, keys.reshape(-1), context_width, seeding, layers, top_k, context_history
    )
