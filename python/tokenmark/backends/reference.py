"""The numpy reference backend: the executable spec (:mod:`tokenmark.reference`) behind the same
signatures as :mod:`.cpu`. Slow, and meant to be: it is what every kernel is checked against."""

from __future__ import annotations

import numpy as np

from ..reference import ginsew, gumbel, kgw, sglang, synthid, synthid_text, torch_mt, vllm
from ..reference import keys as multikey


def apply_kgw_bias_(logits, dtype, ids, keys, thresholds, deltas, enabled, context_width, seeding):
    logits[...] = kgw.apply_kgw_bias(
        logits, ids, keys, thresholds, deltas, enabled, context_width, seeding, dtype
    )


def score_kgw(tokens, offsets, prefix, key, threshold, context_width, seeding, dedup, want_flags):
    out = kgw.score_kgw(tokens, offsets, prefix, key, threshold, context_width, seeding, dedup)
    return out if want_flags else (out[0], out[1], None, None)


def sample_gumbel(logits, dtype, ids, keys, salts, enabled, context_width, seeding, skip_repeated):
    return gumbel.sample_gumbel(
        logits, ids, keys, salts, enabled, context_width, seeding, skip_repeated, dtype
    )


def _words(tokens, want_words: bool) -> np.ndarray | None:
    return np.zeros(len(tokens), dtype=np.uint32) if want_words else None


def score_gumbel(
    tokens, offsets, prefix, key, salts, context_width, seeding, dedup, want_flags,
    want_words=False,
):  # fmt: skip
    words = _words(tokens, want_words)
    n, score, counted = gumbel.score_gumbel(
        tokens, offsets, prefix, key, salts, context_width, seeding, dedup, words
    )
    out = (n, score, counted if want_flags else None)
    return out if words is None else (*out, words)


def sample_synthid(
    logits, dtype, ids, keys, uniforms, enabled, context_width, seeding, layers, top_k,
    context_history,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    if not 1 <= layers <= 32:
        raise ValueError(f"layers: must be in [1, 32], got {layers}")
    return synthid.sample_synthid(
        logits, ids, keys, uniforms, enabled, context_width, seeding, layers, top_k,
        context_history, dtype,
    )  # fmt: skip


def score_synthid(
    tokens, offsets, prefix, key, context_width, seeding, layers, dedup, want_flags,
    want_words=False,
):  # fmt: skip
    if not 1 <= layers <= 32:
        raise ValueError(f"layers: must be in [1, 32], got {layers}")
    words = _words(tokens, want_words)
    n, ones, counted = synthid.score_synthid(
        tokens, offsets, prefix, key, context_width, seeding, layers, dedup, words
    )
    out = (n, ones, counted if want_flags else None)
    return out if words is None else (*out, words)


def apply_ginsew_(
    logits, dtype, ids, keys, thresholds, epsilon, frequency, enabled, context_width, position
):
    out = ginsew.apply_ginsew(
        logits, ids, keys, epsilon, frequency, context_width, thresholds / 2.0**32,
        enabled=enabled, position=None if position < 0 else position, dtype=dtype,
    )  # fmt: skip  # thresholds / 2^32 is exact: fraction_threshold gives the thresholds back
    if dtype == "bfloat16":
        logits[...] = ginsew.f32_to_bf16_bits(out).view(logits.dtype)
    else:
        logits[...] = out.astype(logits.dtype)


def score_sglang(tokens, offsets, prefix, width, max_contexts, keys, threshold, want_flags):
    n, n_a, sums, counted = sglang.score_sglang(
        tokens, offsets, prefix, width, max_contexts, keys, threshold
    )
    return n, n_a, sums, counted if want_flags else None


def score_vllm(tokens, offsets, starts, width, keys, weights, dedup, want_flags):
    n, score, counted = vllm.score_vllm(tokens, offsets, starts, width, keys, weights, dedup)
    return n, score, counted if want_flags else None


def synthid_text_g_values(hashes, keys, table):
    return synthid_text.g_values(hashes, keys, table)


def torch_cpu_randperm(seed, n):
    return torch_mt.randperm(seed, n)


def torch_cpu_green_lists(seeds, vocab, green_size):
    out = np.empty((len(seeds), (vocab + 7) // 8), dtype=np.uint8)
    for i, s in enumerate(seeds.tolist()):
        out[i] = torch_mt.green_bits(s, vocab, green_size)
    return out


def score_synthid_text(tokens, offsets, prefix, ngram_len, keys, table, history, mask_repeated,
                       eos, want_flags, layer_bits=None):  # fmt: skip
    del layer_bits  # a speed-up of the C++ counts; the spec has none
    n, ones, counted = synthid_text.score_synthid_text(
        tokens, offsets, prefix, ngram_len, keys, table, history, mask_repeated, eos
    )
    return n, ones, counted if want_flags else None


def score_kgw_keys(tokens, offsets, prefix, key_rows, threshold, context_width, seeding, dedup,
                   want_flags):  # fmt: skip
    n, green, counted = multikey.score_kgw_keys(
        tokens, offsets, prefix, key_rows, threshold, context_width, seeding, dedup
    )
    return n, green, counted if want_flags else None


def score_gumbel_keys(tokens, offsets, prefix, key_rows, salts, context_width, seeding, dedup,
                      want_flags):  # fmt: skip
    n, score, counted = multikey.score_gumbel_keys(
        tokens, offsets, prefix, key_rows, salts, context_width, seeding, dedup
    )
    return n, score, counted if want_flags else None


def score_synthid_keys(tokens, offsets, prefix, key_rows, context_width, seeding, layers, dedup,
                       want_flags):  # fmt: skip
    if not 1 <= layers <= 32:
        raise ValueError(f"layers: must be in [1, 32], got {layers}")
    n, ones, counted = multikey.score_synthid_keys(
        tokens, offsets, prefix, key_rows, context_width, seeding, layers, dedup
    )
    return n, ones, counted if want_flags else None
