"""Hostile input to the suspect tests: a clear TypeError/ValueError naming the argument, never a
silently wrong result or an error from numpy, scipy or torch internals."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import tokenmark as tm
import torch
from finetune_helpers import tiny_model
from tokenmark.suspect import provenance
from tokenmark.suspect import radioactivity as ra
from tokenmark.suspect.fingerprint import FingerprintResult
from tokenmark.suspect.ginsew import GINSEWResult
from tokenmark.suspect.provenance import ProvenanceResult

BAD_FLAGS = [None, "no", "False", 1, 0.0]


@pytest.mark.parametrize("value", BAD_FLAGS)
@pytest.mark.parametrize("flag", ["dedup", "skip_prompt_windows"])
def test_closed_flags_must_be_bools(flag, value):
    kgw = tm.KGW(key=b"flags", context_width=1)
    with pytest.raises(TypeError, match=flag):
        ra.test_closed(kgw, [[4, 5] * 50], prompts=[[4, 5, 4]], **{flag: value})


@pytest.mark.parametrize("value", BAD_FLAGS)
@pytest.mark.parametrize("flag", ["dedup", "skip_seen_windows"])
def test_open_flags_must_be_bools(flag, value):
    kgw = tm.KGW(key=b"flags", context_width=1)
    texts = [[4, 5] * 20]
    with pytest.raises(TypeError, match=flag):
        ra.test_open(kgw, None, texts, predictions=texts, **{flag: value})


def test_flags_accept_numpy_bools():
    kgw = tm.KGW(key=b"flags", context_width=1)
    texts = [[4, 5] * 20]
    a = ra.test_closed(kgw, texts, dedup=np.bool_(False))
    assert a == ra.test_closed(kgw, texts, dedup=False)
    b = ra.test_open(kgw, None, texts, predictions=texts, skip_seen_windows=np.bool_(True))
    assert b == ra.test_open(kgw, None, texts, predictions=texts)


def _results():
    ginsew = GINSEWResult(z=0.0, p_value=0.5, p_snr=1.0, n=3, amplitude=0.0, n_observations=3)
    radio = ra.test_closed(tm.KGW(key=b"alpha", context_width=1), [[1, 2, 3, 4, 5, 6, 7, 8]])
    radio = dataclasses.replace(radio, p_value=0.5)
    fp = FingerprintResult(
        matches=np.zeros((1, 1), bool),
        outputs=np.zeros((1, 1), np.int64),
        p_token=0.5,
        p_value=0.5,
        p_value_exact=1.0,
        mode="greedy",
    )
    prov = ProvenanceResult(
        statistic=0.1,
        components={},
        null=np.zeros(1),
        p_value=0.5,
        z=0.0,
        p_value_normal=0.5,
        residual_permutation=np.zeros(0, np.int64),
    )
    return [
        ginsew.is_watermarked,
        radio.is_radioactive,
        fp.is_fingerprinted,
        prov.is_derived,
    ]


@pytest.mark.parametrize(
    "alpha, err",
    [(math.nan, ValueError), (2, ValueError), (-0.1, ValueError), (math.inf, ValueError),
     ("0.01", TypeError), (None, TypeError), (True, TypeError)],
)  # fmt: skip
def test_alpha_is_checked(alpha, err):
    for is_flagged in _results():
        with pytest.raises(err, match="alpha"):
            is_flagged(alpha)
        assert is_flagged(0.5) is True and is_flagged(0.25) is False


def _nan_model(ids):
    return torch.full((*ids.shape, 50), math.nan)


def _inf_model(ids):
    out = torch.zeros((*ids.shape, 50))
    out[..., 3] = math.inf
    return out


def _masked_row_model(ids):
    out = torch.zeros((*ids.shape, 50))
    out[0, 5] = -math.inf  # a row with every token masked: no prediction
    return out


@pytest.mark.parametrize(
    "fn",
    [
        _nan_model,
        _inf_model,
        _masked_row_model,
        lambda ids: torch.zeros(ids.shape),  # no vocab axis
        lambda ids: torch.zeros((*ids.shape, 0)),  # an empty one
        lambda ids: torch.zeros((*ids.shape, 2, 3)),  # one too many
        lambda ids: np.full((*ids.shape, 3), "x"),  # not numbers
    ],
)
def test_open_refuses_unusable_scores(fn):
    kgw = tm.KGW(key=b"scores", context_width=1)
    with pytest.raises((TypeError, ValueError), match="model_or_fn"):
        ra.test_open(kgw, fn, [np.arange(40) % 50])


def test_open_accepts_masked_logits_and_ignores_padding():
    kgw = tm.KGW(key=b"scores", context_width=1)
    texts = [np.arange(40) % 50, np.arange(7)]

    def masked(ids):
        # Odd ids masked with -inf, the next id + 2 on top.
        out = torch.where(torch.arange(50) % 2 == 0, 0.0, -math.inf).expand(*ids.shape, 50)
        out = out.clone().scatter_(2, ((ids + 2) % 50)[..., None], 1.0)
        out[ids[:, 7] == 0, 7:] = math.nan  # the short text's padding: never read
        return out

    preds = [(np.asarray(t) + 2) % 50 for t in texts]
    got = ra.test_open(kgw, masked, texts)
    assert got == ra.test_open(kgw, None, texts, predictions=preds)


def test_ginsew_detect_prefix_lengths():
    g = tm.GINSEW(key=b"k", context_width=1)
    with pytest.raises(ValueError, match="prefix_lengths"):
        g.detect([[1, 2, 3], [4, 5, 6]], prefix_lengths=[1, 2, 3])
    with pytest.raises(ValueError, match="prefix_lengths"):
        g.detect([[1, 2, 3]], prefix_lengths=[[1]])
    with pytest.raises(TypeError, match="prefix_lengths"):
        g.detect([[1, 2, 3]], prefix_lengths=[1.5])
    huge = g.detect([[1, 2, 3]], prefix_lengths=np.array([2**64 - 1], np.uint64))
    assert huge.n_observations == 0
    docs = [[5, 17, 3, 99, 42, 7, 7, 1000], [4, 8, 15, 16, 23, 42]]
    assert g.detect(docs, prefix_lengths=2) == g.detect(docs, prefix_lengths=[2, 2])


@pytest.mark.parametrize(
    "batch_size, err",
    [("x", TypeError), (None, TypeError), (math.nan, TypeError), (math.inf, TypeError),
     (2.0, TypeError), (0, ValueError), (2**63, ValueError)],
)  # fmt: skip
def test_ginsew_detect_model_batch_size(batch_size, err):
    flat = lambda ids: np.full((len(ids), 50), 1 / 50)  # noqa: E731
    with pytest.raises(err, match="batch_size"):
        tm.GINSEW(key=b"k", context_width=1).detect_model(flat, [[1], [2]], batch_size=batch_size)


def test_provenance_refuses_non_finite_weights():
    models = [tiny_model(s, vocab_size=64) for s in range(3)]
    with torch.no_grad():
        models[0].model.layers[0].mlp.up_proj.weight[0, 0] = math.nan
        models[2].model.embed_tokens.weight[1, 1] = math.inf
    with pytest.raises(ValueError, match="suspect.*up_proj"):
        provenance.compare(models[0], models[1], null=[models[1], 0.1])
    with pytest.raises(ValueError, match=r"null\[1\].*embed_tokens"):
        provenance.compare(models[1], models[1], null=[models[1], models[2]])
    with pytest.raises(ValueError, match="reference"):
        provenance.statistic(models[1], models[0])


@pytest.mark.parametrize(
    "exclude, err",
    [([1.5], TypeError), (None, TypeError), ("ab", TypeError), (b"ab", TypeError),
     ([True], TypeError), (np.array([1.0]), TypeError), (3, TypeError), ([-1], ValueError),
     ([2**70], ValueError), (np.array([[1]]), ValueError)],
)  # fmt: skip
def test_fingerprint_exclude_ids(exclude, err):
    with pytest.raises(err, match="exclude_ids"):
        tm.Fingerprint(key=b"k", vocab_size=10, exclude_ids=exclude)


def test_fingerprint_exclude_ids_valid_forms():
    want = (0, 3, 9)
    for ids in ([9, 3, 0, 3], (0, 3, 9), {0, 3, 9}, np.array([9, 0, 3], np.uint8),
                torch.tensor([0, 3, 9]), [np.int64(0), 3, 9]):  # fmt: skip
        fp = tm.Fingerprint(key=b"k", vocab_size=10, exclude_ids=ids)
        assert fp.exclude_ids == want
        ref = tm.Fingerprint(key=b"k", vocab_size=10, exclude_ids=want)
        assert np.array_equal(fp.pairs()[0], ref.pairs()[0])
    assert tm.Fingerprint(key=b"k", vocab_size=10, exclude_ids=[]).exclude_ids == ()
    assert tm.Fingerprint(key=b"k", vocab_size=10, exclude_ids=range(3)).exclude_ids == (0, 1, 2)


@pytest.mark.parametrize("bad", [2**70, -(2**64), np.uint64(2**64 - 1)])
def test_generate_fn_ids_past_int64(bad):
    fp = tm.Fingerprint(key=b"k", n_pairs=2, vocab_size=50)
    with pytest.raises(ValueError, match="generate_fn output"):
        fp.verify(lambda prompts, n: [[bad] * n for _ in prompts])


def test_open_refuses_ids_beyond_the_model_vocabulary():
    model = tiny_model(0, vocab_size=64)
    kgw = tm.KGW(key=b"k", context_width=1)
    with pytest.raises(ValueError, match="texts: token id 99 .* 64 tokens"):
        ra.test_open(kgw, model, [list(range(10)), [1, 2, 99, 3]])
    with pytest.raises(ValueError, match="texts: token id 64 "):
        ra.predict_argmax(model, np.array([[63, 64]]))
    ok = ra.predict_argmax(model, [[63, 1, 2]])  # the largest id the model has is fine
    assert ok[0].shape == (3,)


class _PlainLM(torch.nn.Module):
    """A torch model that returns ``.logits`` but is no transformers model."""

    def __init__(self):
        super().__init__()
        self.e = torch.nn.Embedding(50, 50)

    def forward(self, input_ids, **kw):
        return type("Out", (), {"logits": self.e(input_ids)})()


def test_fingerprint_refuses_a_model_that_does_not_say_its_vocabulary():
    fp = tm.Fingerprint(key=b"k", n_pairs=2, vocab_size=50)
    with pytest.raises(TypeError, match="model_or_generate_fn: a _PlainLM .*generate_fn"):
        fp.verify(_PlainLM())


@pytest.mark.parametrize(
    "batch_size, err",
    [("x", TypeError), (None, TypeError), (2.0, TypeError), (True, TypeError),
     (0, ValueError), (np.int64(-1), ValueError), (2**63, ValueError)],
)  # fmt: skip
def test_open_batch_size(batch_size, err):
    kgw = tm.KGW(key=b"k", context_width=1)
    texts = [np.arange(40) % 50, np.arange(7)]
    fn = lambda ids: torch.nn.functional.one_hot((ids + 1) % 50, 50).float()  # noqa: E731
    with pytest.raises(err, match="batch_size"):
        ra.test_open(kgw, fn, texts, batch_size=batch_size)
    want = ra.test_open(kgw, fn, texts, batch_size=2)
    for ok in (np.int64(2), np.uint8(1), 1):  # numpy ints, as everywhere else
        assert ra.test_open(kgw, fn, texts, batch_size=ok) == want


def _ones(prompts, n):
    return [[1] * n for _ in prompts]


@pytest.mark.parametrize(
    "args, err, name",
    [(dict(text_ids=[1.7, 2.2] * 40), TypeError, "text_ids"),
     (dict(text_ids=np.arange(80.0)), TypeError, "text_ids"),
     (dict(text_ids=torch.arange(80.0)), TypeError, "text_ids"),
     (dict(text_ids=None), TypeError, "text_ids"),
     (dict(text_ids="ab" * 40), TypeError, "text_ids"),
     (dict(text_ids=[True, 2] * 40), TypeError, "text_ids"),
     (dict(text_ids=[-1, 2] * 40), ValueError, "text_ids"),
     (dict(text_ids=np.ones((2, 40), np.int64)), ValueError, "text_ids"),
     (dict(seed="a"), TypeError, "seed"), (dict(seed=-1), ValueError, "seed"),
     (dict(n_text=2.5), TypeError, "n_text"), (dict(n_near=-1), ValueError, "n_near"),
     (dict(model_or_generate_fn=lambda p, n: [[50] * n for _ in p]), ValueError,
      "generate_fn output")],
)  # fmt: skip
def test_fingerprint_training_examples_bad_input(args, err, name):
    fp = tm.Fingerprint(key=b"k", n_pairs=2, vocab_size=50)
    kw = dict(model_or_generate_fn=_ones, text_ids=list(range(1, 41)) * 2, n_text=1)
    with pytest.raises(err, match=name):
        fp.training_examples(**{**kw, **args}, text_length=10)


def test_fingerprint_training_examples_int_forms():
    fp = tm.Fingerprint(key=b"k", n_pairs=2, vocab_size=50)
    ids = list(range(1, 41)) * 2
    want = fp.training_examples(_ones, ids, n_text=3, text_length=10)
    text = [e["input_ids"] for e in want if e["labels"][0] != -100 and len(e["input_ids"]) == 10]
    assert len(text) == 3 and all(t == ids[ids.index(t[0]) :][:10] for t in text)
    for form in (np.asarray(ids, np.int32), torch.tensor(ids), tuple(np.int64(v) for v in ids)):
        assert fp.training_examples(_ones, form, n_text=3, text_length=10, seed=np.int64(0)) == want
