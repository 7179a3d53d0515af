"""SynthID-Text tournament sampling in Triton, bit for bit as the CPU and CUDA samplers
(docs/prf.md, "Sampling"), in the structure of ``csrc/cuda/synthid_sample.cu``:

  setup      (rows x chunks) the row's largest logit (atomic max of an order-preserving int32
             key); chunk 0 also decides whether the row is watermarked, and its context hash.
  pass p     (rows x chunks), p = 0 .. phases: each candidate's weight, recomputed from its logit
             (softmax weight, PRF word, factors of the phases played), goes as a fixed-point
             value into its bin of phase p (int64 atomics into the row's histogram) or, in the
             last pass, into the chunk's total.
  factors    (rows) phase p's factors from the row's histogram, after pass p.
  draw       (rows) the chunk whose running total passes the target, then the candidate in it.

Integer sums are exact, so atomics, ``tl.sum`` and ``tl.cumsum`` over int64 give the spec's bits
in any order. The float64 sums of the factors (at most 1024 values) follow the spec's tree by
explicit reshapes to adjacent pairs (``tl.sum`` over more than 2 values has no fixed order).
Every other float64 step is one IEEE operation of the spec: the wrapper launches with
``enable_fp_fusion=False``, so no multiply-add is fused.
"""

import triton
import triton.language as tl
from triton.language.extra import libdevice

from .kgw_bias import bf16_bits_to_f32
from .prf import DOMAIN_SYNTHID_G, context_hash, prf_block, prf_word, select_word

PHASE_BITS = tl.constexpr(10)  # layers per phase; the spec's constant
BINS = tl.constexpr(1024)  # 2^PHASE_BITS histogram bins per phase
NO_FINITE_LOGIT = tl.constexpr(-2)
NO_KEY = tl.constexpr(-(2**31))  # below every key: no logit seen yet
NEG_INF_KEY = tl.constexpr(-2139095041)  # order_key(-inf): a row whose max is this has none finite

# exp_spec (docs/prf.md), the constants of csrc/include/tokenmark/synthid.h.
EXP_CUTOFF = tl.constexpr(-700.0)
LOG2E = tl.constexpr(1.4426950408889634)
LN2_HI = tl.constexpr(6.93147180369123816490e-01)
LN2_LO = tl.constexpr(1.90821492927058770002e-10)
EXP_C2 = tl.constexpr(0.5)
EXP_C3 = tl.constexpr(0.16666666666666666)
EXP_C4 = tl.constexpr(0.041666666666666664)
EXP_C5 = tl.constexpr(0.008333333333333333)
EXP_C6 = tl.constexpr(0.001388888888888889)
EXP_C7 = tl.constexpr(0.0001984126984126984)
EXP_C8 = tl.constexpr(2.48015873015873e-05)
EXP_C9 = tl.constexpr(2.7557319223985893e-06)
EXP_C10 = tl.constexpr(2.755731922398589e-07)
EXP_C11 = tl.constexpr(2.505210838544172e-08)
EXP_C12 = tl.constexpr(2.08767569878681e-09)
EXP_C13 = tl.constexpr(1.6059043836821613e-10)

MASK32 = tl.constexpr(0xFFFFFFFF)


@triton.jit
def order_key(x):
    """float32 -> int32 with the same order (larger floats, larger keys); NaN is the caller's."""
    u = x.to(tl.int32, bitcast=True)
    return tl.where(u >= 0, u, u ^ 0x7FFFFFFF)


@triton.jit
def key_value(k):
    """The float32 of an ``order_key`` (the map is its own inverse)."""
    return tl.where(k >= 0, k, k ^ 0x7FFFFFFF).to(tl.float32, bitcast=True)


@triton.jit
def load_logits(row_ptr, cols, mask, IS_BF16: tl.constexpr):
    """Logits as float32 (exact for every input dtype); bfloat16 comes as its int16 bits."""
    x = tl.load(row_ptr + cols, mask=mask, other=0)
    if IS_BF16:
        return bf16_bits_to_f32(x)
    else:
        return x.to(tl.float32)


@triton.jit
def rint64(t, INTERPRETED: tl.constexpr):
    """float64 round to nearest, ties to even. Compiled: libdevice's ``rint`` (one instruction).
    The interpreter has no libdevice (its calls return None), so there the ties are resolved
    with exact operations only: ``f = floor(t)`` and ``f + 0.5`` are exact for ``|t| < 2^51``."""
    if INTERPRETED:
        f = tl.floor(t)
        half = f + 0.5
        odd = (f - 2.0 * tl.floor(f * 0.5)) != 0.0
        return tl.where((t > half) | ((t == half) & odd), f + 1.0, f)
    else:
        return libdevice.rint(t)


@triton.jit
def pow2(shift):
    """``2^shift`` as float64 (integral ``shift`` in [-1022, 1023], int or float), exactly, from
    its exponent bits."""
    return ((shift.to(tl.int64) + 1023) << 52).to(tl.float64, bitcast=True)


@triton.jit
def base_weight(x, m, INTERPRETED: tl.constexpr):
    """The spec's softmax weight of float32 logits ``x`` given the row's largest ``m`` (float64):
    1 where ``x == m``, 0 for -inf and NaN, else ``exp_spec(x - m)``, as float64."""
    x64 = x.to(tl.float64)
    ok = x64 > float("-inf")
    # x - m where it is used; 0 - 0 elsewhere, so that no inf - inf (+inf logits) or NaN arises.
    use = ok & (x64 != m)
    y = tl.where(use, x64, 0.0) - tl.where(use, m, 0.0)
    keep = y >= EXP_CUTOFF
    y = tl.where(keep, y, 0.0)
    k = rint64(y * LOG2E, INTERPRETED)
    r = (y - k * LN2_HI) - k * LN2_LO
    p = EXP_C13 * r + EXP_C12
    p = p * r + EXP_C11
    p = p * r + EXP_C10
    p = p * r + EXP_C9
    p = p * r + EXP_C8
    p = p * r + EXP_C7
    p = p * r + EXP_C6
    p = p * r + EXP_C5
    p = p * r + EXP_C4
    p = p * r + EXP_C3
    p = p * r + EXP_C2
    p = p * r + 1.0
    p = p * r + 1.0
    # p * 2^k is exact: k >= -1010 where the weight is kept, so the product is a normal number.
    w = tl.where(keep, p * pow2(k), 0.0)
    return tl.where(ok, tl.where(x64 == m, 1.0, w), 0.0)


@triton.jit
def phase_bin(word, phase, layers):
    """Phase ``phase``'s g-values of a PRF word: its bits ``10 p .. 10 p + b - 1`` as an int32
    bin, ``b = min(10, layers - 10 p)``."""
    start = phase * PHASE_BITS
    bits = tl.minimum(layers - start, PHASE_BITS)
    mask = ((1 << bits) - 1).to(tl.uint32)
    return ((word >> start.to(tl.uint32)) & mask).to(tl.int32)


@triton.jit
def chunk_weights(
    logits_row,
    cand_ptr,
    row,
    k0,
    k1,
    k2,
    k3,
    ctx,
    m,
    marked,
    factors_row,
    played,
    layers,
    chunk,
    n,
    active,
    HAS_CAND: tl.constexpr,
    IS_BF16: tl.constexpr,
    CHUNK: tl.constexpr,
    INTERPRETED: tl.constexpr,
):
    """Weights of the candidates of one chunk after ``played`` phases, with their PRF words and
    mask: ``(w, word, mask)``, each ``[CHUNK // 4, 4]`` in candidate order (row-major).
    Candidate ``i`` is token ``cand_ptr[row, i]`` with HAS_CAND, else token ``i``; outside
    ``mask`` (past ``n``, or the row not ``active``) the weight is 0. ``word`` is 0 unless the
    row is ``marked``."""
    QUARTER: tl.constexpr = CHUNK // 4
    lanes = tl.arange(0, 4)
    blocks = chunk * QUARTER + tl.arange(0, QUARTER)  # candidate index // 4
    cols = blocks[:, None] * 4 + lanes[None, :]
    # A bound rather than `& active`: the interpreter's broadcast of a scalar bool is an int32.
    mask = cols < tl.where(active, n, 0)
    w = tl.where(
        mask, base_weight(load_logits(logits_row, cols, mask, IS_BF16), m, INTERPRETED), 0.0
    )
    word = tl.zeros([QUARTER, 4], dtype=tl.uint32)
    if marked:
        if HAS_CAND:
            token = tl.load(cand_ptr + row * n + cols, mask=mask, other=0).to(tl.uint32)
            word = prf_word(k0, k1, k2, k3, ctx, token, DOMAIN_SYNTHID_G)
        else:
            # One Philox block gives the words of 4 neighbouring token ids.
            w0, w1, w2, w3 = prf_block(k0, k1, k2, k3, ctx, blocks.to(tl.uint32), DOMAIN_SYNTHID_G)
            word = select_word(w0[:, None], w1[:, None], w2[:, None], w3[:, None], lanes[None, :])
    for f in range(0, played):
        q = phase_bin(word, f, layers)
        w = w * tl.load(factors_row + f * BINS + q, mask=mask, other=1.0)
    return w, word, mask


@triton.jit
def row_state(max_key_ptr, marked_ptr, row):
    """``(live, marked, m)``: the row has a finite (or +inf) logit; it is watermarked; its
    largest logit as float64 (0 where not live: NO_KEY's float is a NaN)."""
    max_key = tl.load(max_key_ptr + row)
    live = max_key > NEG_INF_KEY
    marked = live & (tl.load(marked_ptr + row) != 0)
    m = tl.where(live, key_value(max_key), 0.0).to(tl.float64)
    return live, marked, m


@triton.jit(do_not_specialize=["n", "logits_row_stride", "ids_len", "ids_row_stride", "history"])
def synthid_setup_kernel(
    logits_ptr,  # [batch, n] float32 / float16, or bfloat16 viewed as int16 (IS_BF16)
    ids_ptr,  # [batch, ids_len] int32 / int64
    enabled_ptr,  # [batch] uint8, or None (HAS_ENABLED False)
    max_key_ptr,  # [batch] int32, NO_KEY on entry: order_key of the row's largest logit
    ctx_ptr,  # [batch] int32 out: the context hash (uint32 bits)
    marked_ptr,  # [batch] int32 out: 1 where the tournament runs
    n,
    logits_row_stride,
    ids_len,
    ids_row_stride,
    history,  # positions searched for a repeated context, at most ids_len
    WIDTH: tl.constexpr,
    SEEDING: tl.constexpr,
    HAS_ENABLED: tl.constexpr,
    IS_BF16: tl.constexpr,
    IDS_BLOCK: tl.constexpr,
    CHUNK: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    chunk = tl.program_id(1)
    cols = chunk * CHUNK + tl.arange(0, CHUNK)
    mask = cols < n
    x = load_logits(logits_ptr + row * logits_row_stride, cols, mask, IS_BF16)
    key = tl.where(mask & (x == x), order_key(x), NO_KEY)  # NaN takes no part
    tl.atomic_max(max_key_ptr + row, tl.max(key, 0))

    # Chunk 0 decides: enabled, a full context, and (history > 0) no earlier position j in
    # [max(WIDTH, ids_len - history), ids_len) with the same context hash.
    first = chunk == 0
    on = first & (ids_len >= WIDTH)
    if HAS_ENABLED:
        on = on & (tl.load(enabled_ptr + row) != 0)
    ids = ids_ptr + row * ids_row_stride
    now = context_hash(ids + (ids_len - WIDTH), on, WIDTH, SEEDING)
    lo = tl.maximum(ids_len - history, WIDTH)
    repeats = tl.zeros([], tl.int32)
    for start in range(lo, tl.where(on, ids_len, lo), IDS_BLOCK):
        j = start + tl.arange(0, IDS_BLOCK)
        m = j < ids_len
        h = context_hash(ids + (j - WIDTH), m, WIDTH, SEEDING)
        repeats += tl.sum((m & (h == now)).to(tl.int32), 0)
    on = on & (repeats == 0)
    tl.store(ctx_ptr + row, now.to(tl.int32, bitcast=True), mask=first)
    tl.store(marked_ptr + row, on.to(tl.int32), mask=first)


@triton.jit(do_not_specialize=["n", "logits_row_stride", "key_stride", "layers", "phase", "shift"])
def synthid_pass_kernel(
    logits_ptr,  # [batch, n] float32 / float16, or bfloat16 viewed as int16 (IS_BF16)
    cand_ptr,  # [batch, n] int32: token id of each candidate, or None (HAS_CAND False)
    keys_ptr,  # [batch or 1, 4] int32 (uint32 bits)
    max_key_ptr,  # [batch] int32: from the setup
    ctx_ptr,  # [batch] int32: from the setup
    marked_ptr,  # [batch] int32: from the setup
    factors_ptr,  # [batch, phases, BINS] float64: the factors of the phases played
    hist_ptr,  # [batch, phases, BINS] int64: phase `phase`'s histogram (not LAST), zeroed
    chunk_total_ptr,  # [batch, chunks] int64 out (LAST): each chunk's fixed-point total
    n,
    logits_row_stride,
    key_stride,  # 4, or 0 to broadcast one key
    layers,
    phase,  # the phase binned (not LAST); LAST: the phases played by a watermarked row
    shift,  # fixed point: weights are scaled by 2^shift
    LAST: tl.constexpr,
    HAS_CAND: tl.constexpr,
    IS_BF16: tl.constexpr,
    CHUNK: tl.constexpr,
    INTERPRETED: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    chunk = tl.program_id(1)
    n_chunks = tl.num_programs(1)
    phases = (layers + PHASE_BITS - 1) // PHASE_BITS
    live, marked, m = row_state(max_key_ptr, marked_ptr, row)
    if LAST:
        active = live  # every row draws
    else:
        active = marked  # only the tournament needs histograms
    kp = keys_ptr + row * key_stride
    w, word, mask = chunk_weights(
        logits_ptr + row * logits_row_stride,
        cand_ptr,
        row,
        tl.load(kp).to(tl.uint32, bitcast=True),
        tl.load(kp + 1).to(tl.uint32, bitcast=True),
        tl.load(kp + 2).to(tl.uint32, bitcast=True),
        tl.load(kp + 3).to(tl.uint32, bitcast=True),
        tl.load(ctx_ptr + row).to(tl.uint32, bitcast=True),
        m,
        marked,
        factors_ptr + row * phases * BINS,
        tl.where(marked, phase, 0),
        layers,
        chunk,
        n,
        active,
        HAS_CAND,
        IS_BF16,
        CHUNK,
        INTERPRETED,
    )
    # floor(w * 2^shift): exact scaling, then float64 -> int64 truncation (< 2^63).
    fixed = (w * pow2(shift)).to(tl.int64)
    if LAST:
        tl.store(chunk_total_ptr + row * n_chunks + chunk, tl.sum(tl.sum(fixed, 1), 0))
    else:
        q = phase_bin(word, phase, layers)
        tl.atomic_add(hist_ptr + (row * phases + phase) * BINS + q, fixed, mask=mask & (fixed != 0))


@triton.jit
def tree_sum(x, LEVELS: tl.constexpr):
    """The sum of ``2^LEVELS`` float64 values by adjacent pairs, level by level (the spec's T)."""
    for _ in tl.static_range(LEVELS):
        even, odd = tl.split(tl.reshape(x, [x.shape[0] // 2, 2]))
        x = even + odd
    return tl.sum(x, 0)  # one value left: exact


@triton.jit(do_not_specialize=["layers", "phase"])
def synthid_factors_kernel(
    hist_ptr,  # [batch, phases, BINS] int64: the histograms
    factors_ptr,  # [batch, phases, BINS] float64 out: phase `phase`'s factors
    layers,
    phase,
    BITS: tl.constexpr,  # layers of this phase, min(10, layers - 10 phase)
):
    """The spec's phase_factors of one row: per layer j, E from the tree sums of the marginal's
    even (g_j = 0) and odd (g_j = 1) entries, then the next marginal; ``F[q] = prod_j
    c_j[bit j of q]``, layer 0 first."""
    row = tl.program_id(0).to(tl.int64)
    phases = (layers + PHASE_BITS - 1) // PHASE_BITS
    base = (row * phases + phase) * BINS
    q = tl.arange(0, 1 << BITS)
    a = tl.load(hist_ptr + base + q).to(tl.float64)  # int64 < 2^63 -> round to nearest
    f = tl.full([1 << BITS], 1.0, tl.float64)
    for j in tl.static_range(BITS):
        even, odd = tl.split(tl.reshape(a, [a.shape[0] // 2, 2]))
        s0 = tree_sum(even, BITS - 1 - j)
        s1 = tree_sum(odd, BITS - 1 - j)
        total = s0 + s1
        e = tl.where(total > 0.0, s1 / tl.where(total > 0.0, total, 1.0), 0.0)
        c0 = 1.0 - e
        c1 = 2.0 - e
        a = c0 * even + c1 * odd
        f = f * tl.where(((q >> j) & 1) != 0, c1, c0)
    tl.store(factors_ptr + base + q, f)


@triton.jit
def draw_target(total, r):
    """``(total * floor(r * 2^53)) >> 53`` for ``0 <= total < 2^63`` (int64) and a float64 ``r``,
    exact: the 116-bit product from 32-bit pieces in uint64."""
    t = total.to(tl.uint64)
    u = (r * 9007199254740992.0).to(tl.int64).to(tl.uint64)  # r * 2^53 exact, then floor
    t_lo = t & MASK32
    t_hi = t >> 32
    u_lo = u & MASK32
    u_hi = u >> 32
    ll = t_lo * u_lo
    mid = t_lo * u_hi + t_hi * u_lo + (ll >> 32)  # < 2^53 + 2^63 + 2^32: no wrap
    lo = (mid << 32) | (ll & MASK32)
    hi = t_hi * u_hi + (mid >> 32)
    return ((hi << 11) | (lo >> 53)).to(tl.int64)


@triton.jit(
    do_not_specialize=["n", "n_chunks", "logits_row_stride", "key_stride", "layers", "shift"]
)
def synthid_draw_kernel(
    logits_ptr,  # [batch, n] float32 / float16, or bfloat16 viewed as int16 (IS_BF16)
    cand_ptr,  # [batch, n] int32, or None (HAS_CAND False)
    keys_ptr,  # [batch or 1, 4] int32 (uint32 bits)
    uniforms_ptr,  # [batch] float64: each row's r
    max_key_ptr,  # [batch] int32: from the setup
    ctx_ptr,  # [batch] int32: from the setup
    marked_ptr,  # [batch] int32: from the setup
    factors_ptr,  # [batch, phases, BINS] float64
    chunk_total_ptr,  # [batch, n_chunks] int64: from the last pass
    out_ptr,  # [batch] int64 out: the token, or NO_FINITE_LOGIT
    marked_out_ptr,  # [batch] uint8 out: 1 where the tournament ran
    n,
    n_chunks,
    logits_row_stride,
    key_stride,
    layers,
    shift,
    HAS_CAND: tl.constexpr,
    IS_BF16: tl.constexpr,
    CHUNK: tl.constexpr,
    TILE: tl.constexpr,  # chunk totals read at a time, a power of two
    INTERPRETED: tl.constexpr,
):
    """The first candidate whose fixed-point running sum exceeds the target: the chunk from the
    chunk totals (tiles of prefix sums), then the candidate from the chunk's recomputed weights."""
    row = tl.program_id(0).to(tl.int64)
    phases = (layers + PHASE_BITS - 1) // PHASE_BITS
    live, marked, m = row_state(max_key_ptr, marked_ptr, row)
    totals_row = chunk_total_ptr + row * n_chunks
    total = tl.zeros([], tl.int64)
    for t0 in range(0, n_chunks, TILE):
        c = t0 + tl.arange(0, TILE)
        total += tl.sum(tl.load(totals_row + c, mask=c < n_chunks, other=0), 0)
    target = draw_target(total, tl.load(uniforms_ptr + row))
    # A uniform outside [0, 1) (not checked on the GPU: that needs a host sync) draws the last
    # candidate rather than leaving the output unwritten, as the CUDA sampler does.
    target = tl.where(target < total, target, total - 1)
    # The chunk: how many inclusive prefixes are <= target; `before` sums those chunks. A tile's
    # prefixes start from the sum of every earlier tile (`acc`), not from `before`: past the tile
    # that holds the target, no chunk may pass (a light chunk, or the zeros loaded past the last
    # chunk, would otherwise fit under the target's remainder).
    chunk = tl.zeros([], tl.int32)
    before = tl.zeros([], tl.int64)
    acc = tl.zeros([], tl.int64)
    for t0 in range(0, n_chunks, TILE):
        c = t0 + tl.arange(0, TILE)
        tile = tl.load(totals_row + c, mask=c < n_chunks, other=0)
        passed = (acc + tl.cumsum(tile, 0) <= target) & (c < n_chunks)
        chunk += tl.sum(passed.to(tl.int32), 0)
        before += tl.sum(tl.where(passed, tile, 0), 0)
        acc += tl.sum(tile, 0)
    rest = target - before
    kp = keys_ptr + row * key_stride
    w, word, mask = chunk_weights(
        logits_ptr + row * logits_row_stride,
        cand_ptr,
        row,
        tl.load(kp).to(tl.uint32, bitcast=True),
        tl.load(kp + 1).to(tl.uint32, bitcast=True),
        tl.load(kp + 2).to(tl.uint32, bitcast=True),
        tl.load(kp + 3).to(tl.uint32, bitcast=True),
        tl.load(ctx_ptr + row).to(tl.uint32, bitcast=True),
        m,
        marked,
        factors_ptr + row * phases * BINS,
        tl.where(marked, phases, 0),
        layers,
        chunk,
        n,
        live,
        HAS_CAND,
        IS_BF16,
        CHUNK,
        INTERPRETED,
    )
    fixed = tl.reshape((w * pow2(shift)).to(tl.int64), [CHUNK])  # candidate order
    index = chunk * CHUNK + tl.sum((tl.cumsum(fixed, 0) <= rest).to(tl.int32), 0)
    if HAS_CAND:
        token = tl.load(cand_ptr + row * n + index, mask=live, other=0).to(tl.int64)
    else:
        token = index.to(tl.int64)
    tl.store(out_ptr + row, tl.where(live, token, NO_FINITE_LOGIT).to(tl.int64))
    tl.store(marked_out_ptr + row, marked.to(tl.uint8))
