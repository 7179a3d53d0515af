"""The C++ backend (``tokenmark._C``): host arrays in, already normalised by :mod:`tokenmark.ops`.

The host backends (this one and :mod:`.reference`) share one signature per operation, so the
dispatcher and the parity tests treat them alike. pybind11 lists every argument, key words
included, when a conversion fails; :func:`_call` turns that into an error that shows none.
"""

from __future__ import annotations

import re

import numpy as np

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


def apply_kgw_bias_(logits, dtype, ids, keys, thresholds, deltas, enabled, context_width, seeding):
    _call(
        _C.apply_kgw_bias_, logits, dtype, ids, keys, thresholds, deltas, enabled,
        context_width, seeding,
    )  # fmt: skip


def score_kgw(tokens, offsets, prefix, key, threshold, context_width, seeding, dedup, want_flags):
    return _call(
        _C.score_kgw, tokens, offsets, prefix, key, threshold, context_width, seeding, dedup,
        want_flags,
    )  # fmt: skip


def sample_gumbel(logits, dtype, ids, keys, salts, enabled, context_width, seeding, skip_repeated):
    return _call(
        _C.sample_gumbel, logits, dtype, ids, keys, salts, enabled, context_width, seeding,
        skip_repeated,
    )  # fmt: skip


def sample_gumbel_one_hot_(
    logits, dtype, ids, keys, salts, enabled, context_width, seeding, skip_repeated
):  # fmt: skip
    """:func:`sample_gumbel`, then each watermarked row of ``logits`` one-hot at its token, in
    place: the Gumbel processor's whole host step in one call (not an op of the table)."""
    return _call(
        _C.sample_gumbel_one_hot_, logits, dtype, ids, keys, salts, enabled, context_width,
        seeding, skip_repeated,
    )  # fmt: skip


def kgw_step(keys, thresholds, deltas, context_width, seeding):
    """The KGW processor's decode step on host tensors by address (``_C.KGWStep``; the
    processors' fast path, not an op of the table): one key [1, 4], threshold [1] and delta [1]
    for every row, checked here once."""
    return _call(_C.KGWStep, keys, int(thresholds[0]), float(deltas[0]), context_width, seeding)


def gumbel_step(keys, salts, context_width, seeding, skip_repeated):
    """The Gumbel processor's decode step by address (``_C.GumbelStep``), as :func:`kgw_step`:
    sample, then each watermarked row one-hot at its token, in place."""
    return _call(_C.GumbelStep, keys, int(salts[0]), context_width, seeding, skip_repeated)


def synthid_step(keys, context_width, seeding, layers, top_k, context_history):
    """The SynthID processor's decode step by address (``_C.SynthIDStep``), as
    :func:`gumbel_step`; each call also takes the address of the rows' float64 draws."""
    return _call(_C.SynthIDStep, keys, context_width, seeding, layers, top_k, context_history)


def score_gumbel(tokens, offsets, prefix, key, salts, context_width, seeding, dedup, want_flags):
    return _call(
        _C.score_gumbel, tokens, offsets, prefix, key, salts, context_width, seeding, dedup,
        want_flags,
    )  # fmt: skip


def sample_synthid(
    logits, dtype, ids, keys, uniforms, enabled, context_width, seeding, layers, top_k,
    context_history,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    return _call(
        _C.sample_synthid, logits, dtype, ids, keys, uniforms, enabled, context_width, seeding,
        layers, top_k, context_history,
    )  # fmt: skip


def sample_synthid_one_hot_(
    logits, dtype, ids, keys, uniforms, enabled, context_width, seeding, layers, top_k,
    context_history,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """:func:`sample_synthid`, then each row of ``logits`` one-hot at its token, in place: the
    SynthID processor's whole host step in one call (not an op of the table)."""
    return _call(
        _C.sample_synthid_one_hot_, logits, dtype, ids, keys, uniforms, enabled, context_width,
        seeding, layers, top_k, context_history,
    )  # fmt: skip


def score_synthid(tokens, offsets, prefix, key, context_width, seeding, layers, dedup, want_flags):
    return _call(
        _C.score_synthid, tokens, offsets, prefix, key, context_width, seeding, layers, dedup,
        want_flags,
    )  # fmt: skip


def apply_ginsew_(
    logits, dtype, ids, keys, thresholds, epsilon, frequency, enabled, context_width, position
):
    _call(
        _C.apply_ginsew_, logits, dtype, ids, keys, thresholds, epsilon, frequency, enabled,
        context_width, position,
    )  # fmt: skip


def score_sglang(tokens, offsets, prefix, width, max_contexts, keys, threshold, want_flags):
    return _call(
        _C.score_sglang, tokens, offsets, prefix, width, max_contexts, keys, threshold,
        want_flags,
    )  # fmt: skip


def score_vllm(tokens, offsets, starts, width, keys, weights, dedup, want_flags):
    return _call(_C.score_vllm_gumbel, tokens, offsets, starts, width, keys, weights, dedup,
                 want_flags)  # fmt: skip


def synthid_text_g_values(hashes, keys, table):
    return _call(_C.synthid_text_g_values, hashes, keys, table)


def torch_cpu_randperm(seed, n):
    return _call(_C.torch_cpu_randperm, seed, n)


def torch_cpu_green_lists(seeds, vocab, green_size):
    return _call(_C.torch_cpu_green_lists, seeds, vocab, green_size)


def score_synthid_text(tokens, offsets, prefix, ngram_len, keys, table, history, mask_repeated,
                       eos, want_flags):  # fmt: skip
    return _call(_C.score_synthid_text, tokens, offsets, prefix, ngram_len, keys, table, history,
                 mask_repeated, eos, want_flags)  # fmt: skip


def score_kgw_keys(tokens, offsets, prefix, keys, threshold, context_width, seeding, dedup,
                   want_flags):  # fmt: skip
    return _call(
        _C.score_kgw_keys, tokens, offsets, prefix, keys, threshold, context_width, seeding,
        dedup, want_flags,
    )  # fmt: skip


def score_gumbel_keys(tokens, offsets, prefix, keys, salts, context_width, seeding, dedup,
                      want_flags):  # fmt: skip
    return _call(
        _C.score_gumbel_keys, tokens, offsets, prefix, keys, salts, context_width, seeding,
        dedup, want_flags,
    )  # fmt: skip


def score_synthid_keys(tokens, offsets, prefix, keys, context_width, seeding, layers, dedup,
                       want_flags):  # fmt: skip
    return _call(
        _C.score_synthid_keys, tokens, offsets, prefix, keys, context_width, seeding, layers,
        dedup, want_flags,
    )  # fmt: skip
