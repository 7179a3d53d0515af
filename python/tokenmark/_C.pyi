"""Type stubs of `tokenmark._C`, the CPU extension (csrc/bindings/*_binding.cpp).

numpy buffers in, validated in C++ (a bad argument raises ValueError or TypeError naming it).
Every argument is positional-or-keyword and required; none has a default. Per-row parameters
have shape ``[batch]`` or ``[1]`` (broadcast); keys ``[batch, 4]`` or ``[1, 4]`` uint32.
"""

from typing import Any

import numpy as np
import numpy.typing as npt

def apply_kgw_bias_(
    logits: np.ndarray,
    logits_dtype: str,
    input_ids: np.ndarray,
    keys: npt.NDArray[np.uint32],
    thresholds: npt.NDArray[np.uint32],
    deltas: npt.NDArray[np.float32],
    enabled: npt.NDArray[np.uint8] | None,
    width: int,
    seeding: int,
) -> None:
    """Adds each row's delta to its green logits, in place. ``logits`` [batch, vocab] float32,
    float16 or (``logits_dtype="bfloat16"``) 16-bit patterns; ``input_ids`` [batch, len] int32
    or int64."""

def score_kgw(
    tokens: npt.NDArray[np.int32],
    offsets: npt.NDArray[np.int64],
    prefix: npt.NDArray[np.int64] | None,
    key: npt.NDArray[np.uint32],
    threshold: int,
    width: int,
    seeding: int,
    dedup: bool,
    want_flags: bool,
) -> tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int8] | None,
    npt.NDArray[np.uint8] | None,
]:
    """``(n_scored[d], n_green[d], green[i], counted[i])`` of ragged documents
    ``tokens[offsets[d]:offsets[d+1]]``; the flags are None unless ``want_flags``."""

def sample_gumbel(
    logits: np.ndarray,
    logits_dtype: str,
    input_ids: np.ndarray,
    keys: npt.NDArray[np.uint32],
    salts: npt.NDArray[np.uint32],
    enabled: npt.NDArray[np.uint8] | None,
    width: int,
    seeding: int,
    skip_repeated: bool,
) -> npt.NDArray[np.int64]:
    """One token per row, or -1 (not watermarked) / -2 (no finite logit)."""

def score_gumbel(
    tokens: npt.NDArray[np.int32],
    offsets: npt.NDArray[np.int64],
    prefix: npt.NDArray[np.int64] | None,
    key: npt.NDArray[np.uint32],
    salts: npt.NDArray[np.uint32],
    width: int,
    seeding: int,
    dedup: bool,
    want_counted: bool,
    want_words: bool,
) -> tuple[Any, ...]:
    """``(n_scored[d], score[d], counted[i])``; ``counted`` is None unless ``want_counted``.
    With ``want_words``, a fourth element: uint32 ``words[i]``, each counted token's PRF word
    (0 elsewhere)."""

def sample_synthid(
    logits: np.ndarray,
    logits_dtype: str,
    input_ids: np.ndarray,
    keys: npt.NDArray[np.uint32],
    uniforms: npt.NDArray[np.float64],
    enabled: npt.NDArray[np.uint8] | None,
    width: int,
    seeding: int,
    layers: int,
    top_k: int,
    history: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """``(token[b], marked[b])``: the sampled token (or -2, no finite logit) and whether the
    tournament ran."""

def synthid_phase_factors(hist: npt.NDArray[np.uint64]) -> npt.NDArray[np.float64]:
    """The factors of one tournament phase from its histogram (2^b bins, 1 <= b <= 10, each
    below 2^62), as ``sample_synthid`` computes them (AVX2 unless ``set_simd_enabled(False)``)."""

def score_synthid(
    tokens: npt.NDArray[np.int32],
    offsets: npt.NDArray[np.int64],
    prefix: npt.NDArray[np.int64] | None,
    key: npt.NDArray[np.uint32],
    width: int,
    seeding: int,
    layers: int,
    dedup: bool,
    want_counted: bool,
    want_words: bool,
) -> tuple[Any, ...]:
    """``(n_scored[d], ones[d, layers], counted[i])``; ``counted`` is None unless
    ``want_counted``. With ``want_words``, a fourth element: uint32 ``words[i]``, each counted
    token's g-value word (bit l: layer l's g-value; 0 elsewhere)."""

def info() -> dict[str, Any]:
    """``avx2``, ``simd_enabled``, ``openmp_max_threads`` and ``compiler``."""

def set_simd_enabled(on: bool) -> None:
    """Switch the AVX2 paths off (for tests of the scalar paths) or back on."""

def apply_ginsew_(
    logits: np.ndarray,
    logits_dtype: str,
    input_ids: np.ndarray,
    keys: npt.NDArray[np.uint32],
    thresholds: npt.NDArray[np.uint32],
    epsilons: npt.NDArray[np.float64],
    frequencies: npt.NDArray[np.float64],
    enabled: npt.NDArray[np.uint8] | None,
    width: int,
    position: int,
) -> None: ...
def ginsew_group_flags(
    key: npt.NDArray[np.uint32], threshold: int, vocab: int
) -> npt.NDArray[np.bool_]: ...
def ginsew_times(
    input_ids: np.ndarray, keys: npt.NDArray[np.uint32], width: int, position: int
) -> npt.NDArray[np.float64]: ...
def torch_cpu_randperm(seed: int, n: int) -> npt.NDArray[np.int64]: ...
def torch_cpu_green_lists(
    seeds: npt.NDArray[np.uint32], vocab: int, green_size: int
) -> npt.NDArray[np.uint8]: ...
def torch_cpu_green_lists_into(
    seeds: npt.NDArray[np.uint32], vocab: int, green_size: int, out: npt.NDArray[np.uint8]
) -> None: ...
def score_kgw_stored_rows(
    tokens: npt.NDArray[np.int32],
    offsets: npt.NDArray[np.int64],
    first: npt.NDArray[np.int64],
    row_of_prev: npt.NDArray[np.int64],
    store: npt.NDArray[np.uint8],
    vocab: int,
) -> tuple[Any, ...] | None:
    """KGW (lefthash) ``(n_scored, n_green)`` against stored green-list rows, or None where a
    scored position's previous token has no row."""

def score_vllm_gumbel(
    tokens: npt.NDArray[np.int32],
    offsets: npt.NDArray[np.int64],
    starts: npt.NDArray[np.int64] | None,
    width: int,
    keys: npt.NDArray[np.uint64],
    weights: npt.NDArray[np.float64],
    dedup: bool,
    want_flags: bool,
) -> tuple[Any, ...]: ...
def score_sglang(
    tokens: npt.NDArray[np.int32],
    offsets: npt.NDArray[np.int64],
    prefix: npt.NDArray[np.int64] | None,
    width: int,
    max_contexts: int,
    keys: npt.NDArray[np.uint64],
    threshold: int,
    want_flags: bool,
) -> tuple[Any, ...]: ...
def score_synthid_text(
    tokens: npt.NDArray[np.int32],
    offsets: npt.NDArray[np.int64],
    prefix: npt.NDArray[np.int64] | None,
    ngram_len: int,
    keys: npt.NDArray[np.uint64],
    table: npt.NDArray[np.uint8],
    history: int,
    mask_repeated: bool,
    eos: int,
    want_flags: bool,
    layer_bits: SynthidTextLayerBits | None,
) -> tuple[Any, ...]: ...

class SynthidTextLayerBits:
    """Every layer's g-value per low-bits hash for one (keys, table); see
    ``tokenmark.ops.synthid_text_layer_bits``."""

    def __init__(self, keys: npt.NDArray[np.uint64], table: npt.NDArray[np.uint8]) -> None: ...
    @property
    def active(self) -> bool: ...
    @property
    def nbytes(self) -> int: ...

def synthid_text_g_values(
    hashes: np.ndarray, keys: np.ndarray, table: np.ndarray
) -> npt.NDArray[np.uint8]: ...

# K keys in one pass (csrc/bindings/keys_binding.cpp): n_scored and counted do not depend on the
# key; the per-key outputs have a leading axis of length n_keys.
def score_kgw_keys(
    tokens: npt.NDArray[np.int32],
    offsets: npt.NDArray[np.int64],
    prefix: npt.NDArray[np.int64] | None,
    keys: npt.NDArray[np.uint32],
    threshold: int,
    width: int,
    seeding: int,
    dedup: bool,
    want_counted: bool,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint8] | None]:
    """``(n_scored[d], n_green[k, d], counted[i])`` for ``keys`` [n_keys, 4]."""

def score_gumbel_keys(
    tokens: npt.NDArray[np.int32],
    offsets: npt.NDArray[np.int64],
    prefix: npt.NDArray[np.int64] | None,
    keys: npt.NDArray[np.uint32],
    salts: npt.NDArray[np.uint32],
    width: int,
    seeding: int,
    dedup: bool,
    want_counted: bool,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.uint8] | None]:
    """``(n_scored[d], score[k, d], counted[i])`` for ``keys`` [n_keys, 4]."""

def score_synthid_keys(
    tokens: npt.NDArray[np.int32],
    offsets: npt.NDArray[np.int64],
    prefix: npt.NDArray[np.int64] | None,
    keys: npt.NDArray[np.uint32],
    width: int,
    seeding: int,
    layers: int,
    dedup: bool,
    want_counted: bool,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint8] | None]:
    """``(n_scored[d], ones[k, d, layers], counted[i])`` for ``keys`` [n_keys, 4]."""

# The way in of detect() (csrc/bindings/inputs_binding.cpp).
def flatten_id_lists(
    seqs: list,
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]] | None:
    """``(tokens, offsets)`` of a list of lists/tuples of ints in [0, 2^31), or None for any
    other input (the caller's per-document path then names the bad document)."""

def flatten_id_arrays(
    seqs: list,
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]] | None:
    """``(tokens, offsets)`` of a list of 1-D C-contiguous native int32 / int64 arrays of ids in
    [0, 2^31), or None for any other list (the caller's other paths then take it)."""

def best_windows(
    values: np.ndarray, offsets: npt.NDArray[np.int64], window: int
) -> tuple[Any, ...]:
    """``(start, best, w, n_windows)`` per document: the first window of ``window`` terms
    (int64 or float64 ``values``) with the largest sum, its sum, length and the number of
    windows (csrc/cpu/windows.h)."""

def narrow_ids(ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int32] | None:
    """C-contiguous native int64 ids as int32 ``[n]``, or None if any is outside [0, 2^31)."""

# A processor's whole decode step on host tensors, by address (csrc/bindings/step_binding.cpp).
# Made once per processor (``key``: its 4 words; the scheme's parameters are checked then);
# each call takes the addresses of C-contiguous CPU logits [batch, vocab] (float32, or float16
# when ``half``) and int64 ids [batch, ids_len] that the caller checked and keeps alive. Not a
# public API.
class KGWStep:
    def __init__(
        self, key: npt.NDArray[np.uint32], threshold: int, delta: float, width: int, seeding: int
    ) -> None: ...
    def __call__(
        self, logits: int, half: bool, batch: int, vocab: int, input_ids: int, ids_len: int
    ) -> None:
        """Adds delta to the green logits of every row, in place."""

class GumbelStep:
    def __init__(
        self,
        key: npt.NDArray[np.uint32],
        salt: npt.NDArray[np.uint32],
        width: int,
        seeding: int,
        skip_repeated: bool,
    ) -> None: ...
    def __call__(
        self, logits: int, half: bool, batch: int, vocab: int, input_ids: int, ids_len: int
    ) -> None:
        """Each watermarked row one-hot at its Gumbel-max token, in place; ValueError (nothing
        written) for a row without a finite logit."""

class SynthIDStep:
    def __init__(
        self,
        key: npt.NDArray[np.uint32],
        width: int,
        seeding: int,
        layers: int,
        top_k: int,
        history: int,
    ) -> None: ...
    def __call__(
        self,
        logits: int,
        half: bool,
        batch: int,
        vocab: int,
        input_ids: int,
        ids_len: int,
        uniforms: int,
    ) -> None:
        """Each row one-hot at its tournament sample, in place; ``uniforms`` the address of
        ``batch`` float64 draws in [0, 1)."""
