"""Type stubs of `tokenmark._cuda`, the CUDA extension (csrc/bindings/*_cuda_binding.cpp).

Device pointers travel as integers (a tensor's ``data_ptr()``; 0 for "none" where an argument
is optional), with their sizes, the device index and a stream handle (``cudaStream_t`` as an
integer). Nothing synchronises and nothing is allocated: outputs and workspaces are the
caller's. Every argument is positional-or-keyword and required; none has a default.
"""

from collections.abc import Sequence
from typing import Any

def apply_kgw_bias_(
    logits: int,
    batch: int,
    vocab: int,
    logits_row_stride: int,
    logits_dtype: int,
    input_ids: int,
    ids_is_int64: bool,
    ids_len: int,
    ids_row_stride: int,
    keys: int,
    key_stride: int,
    thresholds: int,
    threshold_stride: int,
    deltas: int,
    delta_stride: int,
    enabled: int,
    width: int,
    seeding: int,
    device: int,
    stream: int,
) -> None:
    """In-place KGW bias of logits [batch, vocab]; ``logits_dtype`` 0 float32, 1 float16,
    2 bfloat16."""

def score_kgw(
    tokens: int,
    n_tokens: int,
    offsets: int,
    n_docs: int,
    prefix: int,
    key: Sequence[int],
    threshold: int,
    width: int,
    seeding: int,
    dedup: bool,
    n_scored: int,
    n_green: int,
    green: int,
    counted: int,
    workspace: int,
    workspace_bytes: int,
    device: int,
    stream: int,
) -> None:
    """Ragged KGW scoring into n_scored/n_green [n_docs] (and green/counted [n_tokens] when
    non-zero). ``key``: 4 words in [0, 2^32)."""

def score_kgw_workspace_bytes(n_tokens: int, dedup: bool) -> int:
    """Device scratch bytes score_kgw needs (0 without dedup)."""

def sample_gumbel(
    logits: int,
    batch: int,
    vocab: int,
    logits_row_stride: int,
    logits_dtype: int,
    input_ids: int,
    ids_is_int64: bool,
    ids_len: int,
    ids_row_stride: int,
    keys: int,
    key_stride: int,
    salts: int,
    salt_stride: int,
    enabled: int,
    width: int,
    seeding: int,
    skip_repeated: bool,
    out: int,
    device: int,
    stream: int,
    splits: int,
    workspace: int,
    workspace_bytes: int,
) -> None:
    """Gumbel-max sampling of logits [batch, vocab] into out [batch] int64 (a token, -1 not
    watermarked, -2 no finite logit). ``splits``: blocks per row (0: the launcher decides, 1:
    one); split rows need ``sample_gumbel_workspace_bytes`` bytes of workspace."""

def sample_gumbel_workspace_bytes(batch: int, vocab: int) -> int:
    """Device scratch bytes sample_gumbel may need to split rows."""

def score_gumbel(
    tokens: int,
    n_tokens: int,
    offsets: int,
    n_docs: int,
    prefix: int,
    key: Sequence[int],
    salts: int,
    salt_stride: int,
    width: int,
    seeding: int,
    dedup: bool,
    n_scored: int,
    score: int,
    counted: int,
    workspace: int,
    workspace_bytes: int,
    device: int,
    stream: int,
) -> None:
    """Ragged Gumbel scoring into n_scored [n_docs] int64 and score [n_docs] float64."""

def score_gumbel_workspace_bytes(n_tokens: int, dedup: bool) -> int:
    """Device scratch bytes score_gumbel needs."""

def score_vllm(
    tokens: int,
    n_tokens: int,
    offsets: int,
    n_docs: int,
    prefix: int,
    context_width: int,
    keys: Sequence[int],
    weights: Sequence[float],
    dedup: bool,
    n_scored: int,
    score: int,
    counted: int,
    workspace: int,
    workspace_bytes: int,
    device: int,
    stream: int,
) -> None:
    """vLLM's detector over ragged documents: n_scored [n_docs] int64, score [n_docs] float64."""

def score_vllm_workspace_bytes(n_tokens: int, n_keys: int, dedup: bool) -> int:
    """Device scratch bytes score_vllm needs."""

def score_sglang(
    tokens: int,
    n_tokens: int,
    offsets: int,
    n_docs: int,
    prefix: int,
    context_width: int,
    max_contexts: int,
    keys: Sequence[int],
    threshold: int,
    n_scored: int,
    n_key_a: int,
    sums: int,
    counted: int,
    workspace: int,
    workspace_bytes: int,
    device: int,
    stream: int,
) -> None:
    """SGLang's detector over ragged documents: n_scored, n_key_a [n_docs] int64, sums
    [n_docs, 5] float64."""

def score_sglang_workspace_bytes(n_tokens: int, n_keys: int) -> int:
    """Device scratch bytes score_sglang needs."""

def score_synthid_text(
    tokens: int,
    n_tokens: int,
    offsets: int,
    n_docs: int,
    prefix: int,
    ngram_len: int,
    key_terms: int,
    depth: int,
    table: int,
    table_size: int,
    history: int,
    mask_repeated: bool,
    eos: int,
    n_scored: int,
    ones: int,
    counted: int,
    workspace: int,
    workspace_bytes: int,
    device: int,
    stream: int,
) -> None:
    """SynthID-Text's detector counts over ragged documents: n_scored [n_docs] and ones
    [n_docs, depth] int64. key_terms: keys * 6364136223846793005 + 1 (uint64)."""

def score_synthid_text_workspace_bytes(n_tokens: int) -> int:
    """Device scratch bytes score_synthid_text needs."""

def sample_synthid(
    logits: int,
    batch: int,
    n: int,
    logits_row_stride: int,
    logits_dtype: int,
    candidates: int,
    input_ids: int,
    ids_is_int64: bool,
    ids_len: int,
    ids_row_stride: int,
    keys: int,
    key_stride: int,
    uniforms: int,
    enabled: int,
    width: int,
    seeding: int,
    layers: int,
    history: int,
    top_k: int,
    out: int,
    marked: int,
    workspace: int,
    workspace_bytes: int,
    device: int,
    stream: int,
    chunk: int,
    stage_times: int,
    stage_times_bytes: int,
) -> None:
    """SynthID-Text tournament sampling of logits [batch, n] (device pointers) into out/marked;
    with 0 < top_k < n on the top_k largest logits, picked on the device. ``chunk``: candidates
    per block of a pass (0, the default: the smallest that fits one wave of blocks; a multiple
    of 1024 up to 16384): the same tokens, another speed. ``stage_times`` (profiling; 0 in use):
    uint64 of :func:`sample_synthid_stage_shape`, each block's stamps of its stages."""

def sample_synthid_stage_shape(
    batch: int, n: int, layers: int, top_k: int
) -> tuple[int, int, int, int, int]:
    """Shape of sample_synthid's profiling stamps: [launches (setup, then each pass), batch,
    chunks (of 1024 candidates), stages (entry, prologue, candidates, counted in, tail),
    {global timer ns, SM clock}]."""

def sample_synthid_workspace_bytes(batch: int, n: int, layers: int, top_k: int) -> int:
    """Device scratch bytes sample_synthid needs."""

def top_k_candidates(
    logits: int,
    batch: int,
    vocab: int,
    logits_row_stride: int,
    logits_dtype: int,
    k: int,
    candidates: int,
    values: int,
    workspace: int,
    workspace_bytes: int,
    device: int,
    stream: int,
) -> None:
    """The k largest logits of each row as the spec picks them (0 < k < vocab): ids ascending
    into candidates [batch, k] int32, their logits into values [batch, k] float32; long rows are
    split over blocks in top_k_workspace_bytes of device scratch."""

def top_k_workspace_bytes(batch: int, vocab: int, k: int) -> int:
    """Device scratch bytes top_k_candidates needs (0 when rows are not split)."""

def score_synthid(
    tokens: int,
    n_tokens: int,
    offsets: int,
    n_docs: int,
    prefix: int,
    key: Sequence[int],
    width: int,
    seeding: int,
    layers: int,
    dedup: bool,
    n_scored: int,
    ones: int,
    counted: int,
    workspace: int,
    workspace_bytes: int,
    device: int,
    stream: int,
) -> None:
    """Ragged SynthID-Text scoring into n_scored [n_docs] and ones [n_docs, layers] int64."""

def score_synthid_workspace_bytes(n_tokens: int, dedup: bool) -> int:
    """Device scratch bytes score_synthid needs (0 without dedup)."""

def device_count() -> int:
    """Number of CUDA devices; 0 without a driver or device."""

def info() -> dict[str, Any]:
    """Compiled CUDA architectures and runtime/driver versions."""

def apply_ginsew_(
    logits: int,
    batch: int,
    vocab: int,
    logits_row_stride: int,
    logits_dtype: int,
    input_ids: int,
    ids_is_int64: bool,
    ids_len: int,
    ids_row_stride: int,
    keys: int,
    key_stride: int,
    thresholds: int,
    threshold_stride: int,
    epsilons: int,
    epsilon_stride: int,
    frequencies: int,
    frequency_stride: int,
    enabled: int,
    width: int,
    position: int,
    device: int,
    stream: int,
) -> None: ...
