"""The windowed detectors of Gumbel and SynthID (``detect(window=...)``), as KGW's: the best
window of counted tokens per document and its Bonferroni-corrected exact tail.

- The per-token words behind the windows (``want_words`` of the scoring ops): C++ and the numpy
  reference agree bit for bit, are 0 where nothing was counted, and add up to the documents'
  scores and counts.
- The windows against a brute-force loop over every window, with the tails from scipy.stats.
- Statistics: the false-positive rate of the window p-value on held-out human text (the demo
  model's play through its tokenizer) per key and over keys, and a watermarked passage inside
  human text found where it was put.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tokenmark as tm
from scipy import stats
from tokenmark.reference.gumbel import score_term

SCHEMES = {
    "gumbel": lambda key, w=2: tm.Gumbel(key=key, context_width=w),
    "synthid": lambda key, w=2: tm.SynthID(key=key, context_width=w, layers=20),
}


def docs(seed: int, n_docs: int = 7, vocab: int = 40) -> list[np.ndarray]:
    """Short documents over a small vocabulary: repeated (context, token) pairs for dedup."""
    rng = np.random.default_rng(seed)
    return [
        rng.integers(0, vocab, int(rng.integers(0, 90))).astype(np.int32) for _ in range(n_docs)
    ]


def popcount(words: np.ndarray) -> np.ndarray:
    return np.array([bin(int(w)).count("1") for w in words], dtype=np.int64)


@pytest.mark.parametrize("dedup", [True, False])
def test_words_cpp_equal_reference_and_sum_to_the_scores(dedup):
    seqs = docs(1)
    rag = tm.Ragged.from_sequences(seqs)
    prefix = np.arange(len(seqs)) % 4
    key = tm.Key(b"words").words
    common = dict(context_width=2, seeding=0, dedup=dedup, prefix_lengths=prefix, want_flags=True)
    g = {b: tm.ops.score_gumbel(rag.tokens, rag.offsets, key=key, want_words=True, backend=b,
                                salts=np.arange(len(seqs), dtype=np.uint32), **common)
         for b in ("cpu", "reference")}  # fmt: skip
    s = {b: tm.ops.score_synthid(rag.tokens, rag.offsets, key=key, layers=20, want_words=True,
                                 backend=b, **common)
         for b in ("cpu", "reference")}  # fmt: skip
    for out in (g, s):
        np.testing.assert_array_equal(out["cpu"][3], out["reference"][3])  # the words
        np.testing.assert_array_equal(out["cpu"][2], out["reference"][2])  # the flags
        words, counted = out["cpu"][3], out["cpu"][2].astype(bool)
        assert words.dtype == np.uint32 and (words[~counted] == 0).all()
    words, counted = g["cpu"][3], g["cpu"][2].astype(bool)
    term = np.where(counted, score_term(words), 0.0)
    np.testing.assert_allclose(np.add.reduceat(term, rag.offsets[:-1]) * (rag.lengths > 0),
                               g["cpu"][1], rtol=1e-12, atol=1e-12)  # fmt: skip
    words, ones = s["cpu"][3], s["cpu"][1]
    bits = (words[:, None] >> np.arange(20, dtype=np.uint32)) & 1
    doc = np.repeat(np.arange(len(seqs)), rag.lengths)
    per_doc = np.zeros_like(ones)
    np.add.at(per_doc, doc, bits.astype(np.int64))
    np.testing.assert_array_equal(per_doc, ones)
    # Without want_words the tuple is as before.
    assert (
        len(tm.ops.score_gumbel(rag.tokens, rag.offsets, key=key, context_width=2, seeding=0)) == 3
    )


def brute_windows(terms: list[np.ndarray], window: int, tail):
    """Per document: (first best start index among counted tokens, best sum, p-value)."""
    out = []
    for t in terms:
        if len(t) == 0:
            out.append((0, 0, 1.0))
            continue
        w = min(window, len(t))
        sums = [t[i : i + w].sum() for i in range(len(t) - w + 1)]
        i = int(np.argmax(sums))
        out.append((i, sums[i], min(1.0, len(sums) * tail(sums[i], w))))
    return out


@pytest.mark.parametrize("name", ["gumbel", "synthid"])
@pytest.mark.parametrize("window", [1, 5, 30, 200])
def test_windows_equal_a_brute_force_loop(name, window):
    wm = SCHEMES[name](b"brute")
    seqs = docs(2, n_docs=9, vocab=60)
    res = wm.detect(seqs, window=window, return_flags=True, prefix_lengths=3)
    rag = tm.Ragged.from_sequences(seqs)
    out = (tm.ops.score_gumbel if name == "gumbel" else tm.ops.score_synthid)(
        rag.tokens, rag.offsets, key=wm.key.words, context_width=2, seeding=0,
        prefix_lengths=3, want_flags=True, want_words=True,
        **({"layers": 20} if name == "synthid" else {}),
    )  # fmt: skip
    words, counted = out[3], out[2].astype(bool)
    if name == "gumbel":
        per_token, tail = score_term(words), lambda s, w: stats.gamma.sf(s, w)
    else:
        per_token = popcount(words & np.uint32(2**20 - 1))
        tail = lambda s, w: stats.binom.sf(s - 1, w * 20, 0.5)  # noqa: E731
    terms = [per_token[a:b][counted[a:b]] for a, b in zip(rag.offsets[:-1], rag.offsets[1:])]
    stat = res.window_score if name == "gumbel" else res.window_ones
    for d, (i, best, p) in enumerate(brute_windows(terms, window, tail)):
        positions = np.flatnonzero(counted[rag.offsets[d] : rag.offsets[d + 1]])
        assert res.window_start[d] == (positions[i] if len(positions) else 0)
        assert stat[d] == pytest.approx(best, rel=1e-12, abs=1e-12)
        assert res.window_p_value[d] == pytest.approx(p, rel=1e-9, abs=1e-300)
    assert res.window == window
    rec = res.to_records()[0]["window"]
    assert set(rec) == {"size", "start", "score" if name == "gumbel" else "ones", "p_value"}


def human_chunks(length: int) -> np.ndarray:
    tokenizers = pytest.importorskip("tokenizers")
    root = Path(tm.__file__).parent / "demo_model"
    tok = tokenizers.Tokenizer.from_file(str(root / "tokenizer.json"))
    ids = np.array(tok.encode((root / "heldout.txt").read_text()).ids)
    return ids[: len(ids) // length * length].reshape(-1, length)


@pytest.mark.parametrize("name", ["gumbel", "synthid"])
def test_window_false_positive_rate_on_human_text_per_key_and_over_keys(name):
    """Held-out Shakespeare in chunks of 128 tokens, windows of 24, 20 keys: at alpha = 0.05 the
    rate stays under alpha per key and over keys (Bonferroni over ~100 overlapping windows is
    conservative: the measured rate is far below alpha)."""
    chunks = human_chunks(128)
    assert len(chunks) >= 40
    rates = []
    for k in range(20):
        p = SCHEMES[name](f"null key {k}").detect(chunks, window=24, prefix_lengths=2)
        assert ((p.window_p_value > 0) & (p.window_p_value <= 1)).all()
        rates.append((p.window_p_value <= 0.05).mean())
    sd = np.sqrt(0.05 * 0.95 / len(chunks))
    assert max(rates) <= 0.05 + 3 * sd, rates
    assert np.mean(rates) <= 0.05, rates


def generated(wm, rng, n: int, vocab: int = 1000, prompt=(1, 2, 3)) -> np.ndarray:
    """n tokens sampled with the watermark from uniform logits (a maximum-entropy model)."""
    ids = list(prompt)
    for _ in range(n):
        logits = np.zeros((1, vocab), dtype=np.float32)
        ids.append(int(wm.sample(logits, np.array([ids]), rng=rng)[0]))
    return np.array(ids[len(prompt) :])


@pytest.mark.parametrize(("name", "n"), [("gumbel", 20), ("synthid", 60)])
def test_window_finds_a_watermarked_passage_in_human_text(name, n):
    """A passage of n watermarked tokens (fewer for Gumbel, whose tokens from a flat model carry
    more evidence each: ~log(1000) against 1) in 2000 tokens of text without the key."""
    rng = np.random.default_rng(3)
    wm = SCHEMES[name](b"passage")
    span = generated(wm, rng, n)
    human = rng.integers(0, 1000, 2000)
    doc = np.concatenate([human[:1000], span, human[1000:]])
    res = wm.detect([doc, human], window=n)
    assert res.p_value[0] > 1e-6  # the whole document dilutes the passage...
    assert res.window_p_value[0] < 1e-8  # ...which stands out after the correction
    assert abs(int(res.window_start[0]) - 1000) <= 10
    assert res.window_p_value[1] > 0.01


def test_window_arguments():
    wm = tm.Gumbel(key=b"args")
    for bad, err in ((0, ValueError), (-3, ValueError), (True, TypeError), (2.5, TypeError)):
        with pytest.raises(err, match="window"):
            wm.detect([[1, 2, 3]], window=bad)
    for backend in ("triton", "cuda"):
        with pytest.raises(
            ValueError, match="backend: with a window, expected 'auto', 'cpu' or 'reference'"
        ):
            tm.SynthID(key=b"args").detect([[1, 2, 3]], window=4, backend=backend)
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="want_words: the per-token words come from the host"):
        tm.ops.score_gumbel(torch.tensor([1, 2, 3], dtype=torch.int32), torch.tensor([0, 3]),
                            key=wm.key.words, context_width=1, seeding=0, want_words=True,
                            backend="triton")  # fmt: skip
    res = wm.detect([[]], window=3)  # an empty document: no window, p-value 1
    assert res.window_p_value.tolist() == [1.0] and res.window_start.tolist() == [0]


def test_window_with_device_input_scores_on_the_host(monkeypatch):
    """``window`` takes the host path even for CUDA input: the device branch is not entered
    (``device_ragged`` would fail here), and the result equals the host one."""
    from tokenmark import gumbel, synthid

    def no_device(*_a, **_k):
        raise AssertionError("the device path was taken")

    seqs = docs(4)
    for module, wm in ((gumbel, SCHEMES["gumbel"](b"dev")), (synthid, SCHEMES["synthid"](b"dev"))):
        want = wm.detect(seqs, window=10)
        monkeypatch.setattr(module, "device_ragged", no_device)
        got = wm.detect(seqs, window=10)
        np.testing.assert_array_equal(got.window_p_value, want.window_p_value)


def test_popcount32_and_its_fallback_table():
    """SynthID's g-values of 1 per token: numpy's bitwise_count, or (numpy < 2) a 16-bit table."""
    from tokenmark import stats

    table = stats._bits16()
    assert table.tolist() == [bin(i).count("1") for i in range(1 << 16)]
    words = np.random.default_rng(5).integers(0, 2**32, 5000, dtype=np.uint64).astype(np.uint32)
    want = popcount(words)
    np.testing.assert_array_equal(stats.popcount32(words), want)
    np.testing.assert_array_equal(table[words & 0xFFFF] + table[words >> 16].astype(int), want)
