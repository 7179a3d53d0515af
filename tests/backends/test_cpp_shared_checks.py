"""The argument checks the `_C` operations share (csrc/bindings/checks.h: fill_rows for the bias
and the samplers, fill_docs for the three scorers), run against every operation that uses them:
each bad argument raises ValueError or TypeError naming it, in every scheme alike, and no
message shows the key words.
"""

import numpy as np
import pytest
from tokenmark import _C

KEY = np.array([0xC0FFEE01, 0xC0FFEE02, 0xC0FFEE03, 0xC0FFEE04], dtype=np.uint32)
KEY_TEXTS = [str(int(w)) for w in KEY] + [hex(int(w)) for w in KEY]


def _docs():
    return {
        "tokens": np.array([1, 2, 3, 4, 5, 6, 7], dtype=np.int32),
        "offsets": np.array([0, 3, 7], dtype=np.int64),
        "prefix": np.array([0, 1], dtype=np.int64),
        "key": KEY.copy(),
        "width": 1,
        "seeding": 0,
        "dedup": True,
    }


SCORERS = {
    "score_kgw": lambda **kw: _C.score_kgw(
        **{**_docs(), "threshold": 2**31, "want_flags": True, **kw}
    ),
    "score_gumbel": lambda **kw: _C.score_gumbel(
        **{
            **_docs(),
            "salts": np.zeros(1, np.uint32),
            "want_counted": True,
            "want_words": False,
            **kw,
        }
    ),
    "score_synthid": lambda **kw: _C.score_synthid(
        **{**_docs(), "layers": 4, "want_counted": True, "want_words": False, **kw}
    ),
}

DOC_CASES = [
    (
        {"tokens": np.array([1, 2, 3, 4, 5, 6, 7], np.int64)},
        TypeError,
        "tokens: expected dtype int32",
    ),
    ({"tokens": np.zeros((7, 1), np.int32)}, ValueError, "tokens: expected 1 dimensions"),
    ({"tokens": np.array([1, 2, -3, 4, 5, 6, 7], np.int32)}, ValueError, "tokens: token ids"),
    ({"offsets": np.array([1, 3, 7], np.int64)}, ValueError, "offsets: must start at 0"),
    ({"offsets": np.array([0, 5, 4, 7], np.int64), "prefix": None}, ValueError, "non-decreasing"),
    ({"offsets": np.array([0, 3, 6], np.int64)}, ValueError, "offsets: last entry"),
    ({"offsets": np.zeros(0, np.int64), "prefix": None}, ValueError, "offsets: needs at least"),
    ({"offsets": np.array([0, 3, 7], np.int32)}, TypeError, "offsets: expected dtype int64"),
    ({"prefix": np.array([0], np.int64)}, ValueError, "prefix_lengths: expected one entry"),
    ({"prefix": np.array([0, 1], np.int32)}, TypeError, "prefix_lengths: expected dtype int64"),
    ({"prefix": np.array([0, -1], np.int64)}, ValueError, "prefix_lengths: must be >= 0"),
    ({"key": KEY[:3].copy()}, ValueError, "key: expected 4 words"),
    ({"key": KEY.astype(np.int64)}, TypeError, "key: expected dtype uint32"),
    ({"width": 1025}, ValueError, "context_width"),
    ({"width": -1}, ValueError, "context_width"),
    ({"seeding": 2}, ValueError, "seeding"),
]


def _assert_no_key(message: str) -> None:
    for text in KEY_TEXTS:
        assert text not in message, "a key word appeared in an error message"


@pytest.mark.parametrize("case", range(len(DOC_CASES)))
@pytest.mark.parametrize("op", sorted(SCORERS))
def test_scorers_share_document_checks(op, case):
    overrides, error, match = DOC_CASES[case]
    with pytest.raises(error, match=match) as info:
        SCORERS[op](**overrides)
    _assert_no_key(str(info.value))


@pytest.mark.parametrize("op", sorted(SCORERS))
def test_scorers_accept_the_good_arguments(op):
    # The baseline the bad cases above are edits of: valid, and it scores something.
    out = SCORERS[op]()
    assert int(out[0].sum()) > 0


def _rows():
    rng = np.random.default_rng(3)
    return {
        "logits": rng.standard_normal((3, 40)).astype(np.float32),
        "logits_dtype": "float32",
        "input_ids": rng.integers(0, 40, size=(3, 5)).astype(np.int64),
        "keys": KEY.reshape(1, 4).copy(),
        "enabled": None,
        "width": 2,
        "seeding": 0,
    }


ROW_OPS = {
    "apply_kgw_bias_": lambda **kw: _C.apply_kgw_bias_(
        **{
            **_rows(),
            "thresholds": np.array([2**31], np.uint32),
            "deltas": np.array([2.0], np.float32),
            **kw,
        }
    ),
    "sample_gumbel": lambda **kw: _C.sample_gumbel(
        **{**_rows(), "salts": np.zeros(1, np.uint32), "skip_repeated": False, **kw}
    ),
    "sample_synthid": lambda **kw: _C.sample_synthid(
        **{
            **_rows(),
            "uniforms": np.full(3, 0.5),
            "layers": 4,
            "top_k": 0,
            "history": 0,
            **kw,
        }
    ),
}

ROW_CASES = [
    ({"logits": np.zeros((3, 40), np.float64)}, TypeError, "logits: expected dtype float32"),
    ({"logits": np.zeros(40, np.float32)}, ValueError, "logits: expected 2 dimensions"),
    ({"logits_dtype": "float8"}, ValueError, "logits_dtype"),
    ({"logits_dtype": "float16"}, TypeError, "logits: expected dtype float16"),
    ({"input_ids": np.zeros((2, 5), np.int64)}, ValueError, "input_ids: expected 3 rows"),
    ({"input_ids": np.zeros((3, 5), np.float32)}, TypeError, "input_ids: expected dtype"),
    ({"input_ids": np.full((3, 5), -1, np.int64)}, ValueError, "input_ids: token ids"),
    ({"keys": np.zeros((1, 3), np.uint32)}, ValueError, "keys: expected shape"),
    ({"keys": np.zeros((2, 4), np.uint32)}, ValueError, "keys: expected shape"),
    ({"keys": KEY.reshape(1, 4).astype(np.int64)}, TypeError, "keys: expected dtype uint32"),
    ({"enabled": np.ones(2, np.uint8)}, ValueError, "enabled: expected one flag per row"),
    ({"enabled": np.ones(3, np.int32)}, TypeError, "enabled: expected dtype uint8"),
    ({"width": 2000}, ValueError, "context_width"),
    ({"seeding": 7}, ValueError, "seeding"),
]


@pytest.mark.parametrize("case", range(len(ROW_CASES)))
@pytest.mark.parametrize("op", sorted(ROW_OPS))
def test_row_ops_share_row_checks(op, case):
    overrides, error, match = ROW_CASES[case]
    with pytest.raises(error, match=match) as info:
        ROW_OPS[op](**overrides)
    _assert_no_key(str(info.value))


@pytest.mark.parametrize("op", sorted(ROW_OPS))
def test_row_ops_accept_the_good_arguments(op):
    ROW_OPS[op]()


def test_in_place_bias_needs_writeable_logits():
    logits = np.zeros((3, 40), np.float32)
    logits.flags.writeable = False
    with pytest.raises(ValueError, match="logits: must be writeable"):
        ROW_OPS["apply_kgw_bias_"](logits=logits)


def test_samplers_read_only_logits():
    # The samplers only read the logits, so a read-only buffer is fine for them.
    logits = np.random.default_rng(0).standard_normal((3, 40)).astype(np.float32)
    logits.flags.writeable = False
    ROW_OPS["sample_gumbel"](logits=logits)
    ROW_OPS["sample_synthid"](logits=logits)
