"""The frozen PRF: Random123 known answers and golden vectors, for the reference and C++."""

import json
from pathlib import Path

import numpy as np
import pytest
import tokenmark as tm
from conftest import GOLDEN_HINT
from tokenmark.reference import kgw, prf

GOLDEN = json.loads((Path(__file__).parents[1] / "data" / "prf_golden.json").read_text())


@pytest.mark.parametrize("kat", GOLDEN["philox_kat"])
def test_philox_known_answers(kat):
    out = prf.philox4x32_10(*kat["ctr"], *kat["key"])
    assert [int(x) for x in out] == kat["out"]


def test_key_derivation_frozen():
    for name, material in {"bytes": b"my secret", "str": "my secret", "int": 123456789}.items():
        assert tm.Key(material).to_hex() == GOLDEN["keys"][name]["hex"], GOLDEN_HINT


def test_str_key_is_its_utf8_bytes_and_ints_differ():
    # "1" and b"1" are one key (the CLI reads keys as bytes); the int 1 is another.
    assert tm.Key("1") == tm.Key(b"1") and tm.Key("é") == tm.Key("é".encode())
    assert tm.Key(1) != tm.Key(b"1") and tm.Key(1) != tm.Key(b"\x01")


def test_context_hash_frozen():
    for case in GOLDEN["context_hash"]:
        got = prf.context_hash(np.array(case["window"], dtype=np.int64), case["seeding"])
        assert int(got) == case["hash"], GOLDEN_HINT


def test_prf_words_frozen():
    key = tm.Key(b"my secret")
    for case in GOLDEN["prf_word"]:
        got = prf.prf_word(key.words, case["ctx"], case["token"], case["domain"])
        assert got.tolist() == case["word"], GOLDEN_HINT


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_kgw_score_frozen(backend):
    g = GOLDEN["kgw_score"]
    out = tm.score_kgw(
        np.array(g["tokens"], dtype=np.int32),
        np.array(g["offsets"], dtype=np.int64),
        key=tm.Key.from_hex(g["key_hex"]).words,
        threshold=g["threshold"],
        context_width=g["width"],
        seeding=g["seeding"],
        dedup=g["dedup"],
        want_flags=True,
        backend=backend,
    )
    for name, got in zip(["n_scored", "n_green", "green", "counted"], out):
        assert got.tolist() == g[name], f"{name}: {GOLDEN_HINT}"


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_kgw_green_list_frozen(backend):
    g = GOLDEN["kgw_green_list"]
    logits = np.zeros((1, g["vocab"]), dtype=np.float32)
    tm.apply_kgw_bias_(
        logits,
        np.array(g["input_ids"]),
        keys=tm.Key.from_hex(g["key_hex"]).words,
        thresholds=g["threshold"],
        deltas=1.0,
        context_width=4,
        seeding=0,
        backend=backend,
    )
    assert np.flatnonzero(logits[0]).tolist() == g["green_ids"], GOLDEN_HINT


def test_green_fraction_matches_gamma():
    # Over many (context, token) pairs the PRF's green rate is gamma: a sanity check on the
    # reference itself, independent of any golden value.
    rng = np.random.default_rng(0)
    ctx = rng.integers(0, 2**32, 200_000, dtype=np.uint64)
    tok = rng.integers(0, 2**31, 200_000)
    green = kgw.green_mask(tm.Key(b"x").words, ctx, tok, int(0.25 * 2**32))
    assert abs(green.mean() - 0.25) < 4 * np.sqrt(0.25 * 0.75 / 200_000)


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_distortion_free_sampling_frozen(backend):
    g = GOLDEN["distortion_free_sample"]
    key = tm.Key.from_hex(g["key_hex"])
    logits = np.array(g["logits"], dtype=np.float32)
    ids = np.array(g["input_ids"])
    got = tm.Gumbel(key=key).choose(logits, ids, backend=backend)
    assert got.tolist() == g["gumbel_tokens"], GOLDEN_HINT
    u = np.array(g["uniforms"])
    got = tm.SynthID(key=key).sample(logits, ids, uniforms=u, backend=backend)
    assert got.tolist() == g["synthid_tokens"], GOLDEN_HINT
    wm = tm.SynthID(key=key, top_k=7, context_history=0)
    assert wm.sample(logits, ids, uniforms=u, backend=backend).tolist() == g["synthid_top7_tokens"]


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_distortion_free_scores_frozen(backend):
    g = GOLDEN["distortion_free_score"]
    key = tm.Key.from_hex(g["key_hex"])
    tokens = np.array(g["tokens"], dtype=np.int32)
    offsets = np.array(g["offsets"], dtype=np.int64)
    n, score, _ = tm.score_gumbel(
        tokens, offsets, key=key.words, context_width=4, seeding=0, backend=backend
    )
    assert n.tolist() == g["gumbel_n_scored"], GOLDEN_HINT
    np.testing.assert_allclose(score, g["gumbel_score"], rtol=1e-12, err_msg=GOLDEN_HINT)
    n, ones, _ = tm.score_synthid(
        tokens, offsets, key=key.words, context_width=4, seeding=0, backend=backend
    )
    assert n.tolist() == g["synthid_n_scored"], GOLDEN_HINT
    assert ones.tolist() == g["synthid_ones"], GOLDEN_HINT
