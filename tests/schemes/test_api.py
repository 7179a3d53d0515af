"""The Python API: configs, keys, input forms, backends agreeing, result objects."""

import hashlib
import json
import pickle

import numpy as np
import pytest
import tokenmark as tm
import torch
from tokenmark import backends


def test_config_roundtrip_and_equality():
    wm = tm.KGW(key=b"k", gamma=0.5, delta=1.5, context_width=2, seeding="minhash", dedup=False)
    d = wm.to_dict()
    assert "key_hex" not in d and d["key_fingerprint"] == wm.key.fingerprint
    assert tm.KGW.from_dict(d, key=b"k") == wm
    assert tm.KGW.from_json(wm.to_json(include_key=True)) == wm
    with pytest.raises(ValueError, match="key"):
        tm.KGW.from_dict(d)
    assert pickle.loads(pickle.dumps(wm)) == wm
    json.dumps(wm.to_dict())


def test_key_fingerprint_is_scrypt_and_older_configs_still_load():
    """The public fingerprint is scrypt of the derived key (a guess at the key material costs a
    password check, not one SHA-256); a config tokenmark 0.1 wrote (SHA-256 fingerprint) still
    loads, and a fingerprint of another key is refused."""
    key = tm.Key(1234)
    words = key.words.astype("<u4").tobytes()
    want = hashlib.scrypt(
        words, salt=b"tokenmark/v2/fingerprint\x00", n=2**14, r=8, p=1, dklen=4
    ).hex()
    assert key.fingerprint == want
    legacy = hashlib.sha256(b"tokenmark/v1/fingerprint\x00" + words).hexdigest()[:8]
    assert legacy != want and legacy not in repr(key)
    d = tm.KGW(key=1234).to_dict()
    assert d["key_fingerprint"] == want
    assert tm.KGW.from_dict({**d, "key_fingerprint": legacy}, key=1234) == tm.KGW(key=1234)
    with pytest.raises(ValueError, match="key_fingerprint"):
        tm.KGW.from_dict({**d, "key_fingerprint": tm.Key(1235).fingerprint}, key=1234)
    assert len({tm.Key(1234), tm.Key(1234), tm.Key(1235)}) == 2


def test_threshold_and_effective_gamma():
    wm = tm.KGW(key=b"k", gamma=0.25)
    assert wm.threshold == 2**30 and wm.gamma_effective == 0.25
    wm = tm.KGW(key=b"k", gamma=0.1)
    assert wm.threshold == int(0.1 * 2**32)
    assert abs(wm.gamma_effective - 0.1) < 2**-32


def test_input_forms_agree():
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 5000, (4, 50))
    wm = tm.KGW(key=b"k")
    ref = wm.detect([list(r) for r in rows])
    for form in (
        rows,
        rows.astype(np.int32),
        torch.from_numpy(rows),
        [torch.from_numpy(r) for r in rows],
        tm.Ragged.from_sequences(rows),
        (r for r in rows),
    ):
        res = wm.detect(form)
        assert np.array_equal(res.n_green, ref.n_green) and np.array_equal(
            res.n_scored, ref.n_scored
        )


@pytest.mark.parametrize("seeding", ["prev", "minhash"])
def test_cpu_and_reference_backends_agree_end_to_end(seeding):
    rng = np.random.default_rng(1)
    docs = [rng.integers(0, 30, n) for n in (0, 3, 4, 5, 100, 333)]
    wm = tm.KGW(key=b"k", seeding=seeding)
    a = wm.detect(docs, return_flags=True, backend="cpu")
    b = wm.detect(docs, return_flags=True, backend="reference")
    assert np.array_equal(a.n_green, b.n_green) and np.array_equal(a.p_value, b.p_value)
    assert all(np.array_equal(x, y) for x, y in zip(a.green, b.green))


def test_backend_environment_override(monkeypatch):
    wm = tm.KGW(key=b"k")
    monkeypatch.setenv("TOKENMARK_BACKEND", "reference")
    assert wm.detect([[1, 2, 3, 4, 5, 6]]).n_scored[0] == 2
    monkeypatch.setenv("TOKENMARK_BACKEND", "nonsense")
    with pytest.raises(ValueError, match="TOKENMARK_BACKEND"):
        wm.detect([[1, 2, 3]])


def test_backend_environment_empty_is_unset_and_errors_name_it(monkeypatch):
    """``export TOKENMARK_BACKEND=`` leaves ``auto`` alone (as an unset variable does); a GPU
    backend that the variable gives ``auto`` for host data is refused naming the variable, the
    real cause, not only ``backend='cuda'``."""
    docs = [[1, 2, 3, 4, 5, 6, 7]]
    wm = tm.KGW(key=b"k")
    monkeypatch.delenv("TOKENMARK_BACKEND", raising=False)
    want = wm.detect(docs)
    want_vllm = tm.dialects.vllm(3).detect(docs).score
    monkeypatch.setenv("TOKENMARK_BACKEND", "")
    assert wm.detect(docs).p_value.tolist() == want.p_value.tolist()
    assert tm.dialects.vllm(3).detect(docs).score.tolist() == want_vllm.tolist()
    monkeypatch.setenv("TOKENMARK_BACKEND", "cuda")
    with pytest.raises(ValueError, match="TOKENMARK_BACKEND=cuda.*needs CUDA tensors"):
        wm.detect(docs)
    with pytest.raises(ValueError, match="backend='cuda' needs CUDA"):  # asked for: no variable
        wm.detect(docs, backend="cuda")


def test_prefix_lengths_skip_known_context():
    wm = tm.KGW(key=b"k", context_width=2)
    res = wm.detect([[5, 6, 7, 8, 9, 10]] * 3, prefix_lengths=[0, 4, 10])
    assert res.n_scored.tolist() == [4, 2, 0]


def test_detection_result_records():
    wm = tm.KGW(key=b"k")
    res = wm.detect([[1, 2, 3, 4, 5, 6, 7], []], window=3)
    recs = res.to_records()
    assert recs[1]["green_fraction"] is None and recs[1]["p_value"] == 1.0
    assert set(recs[0]["window"]) == {"size", "start", "n_green", "p_value"}
    json.dumps(recs)


def test_detect_text_with_a_local_tokenizer(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        ["the cat sat on the mat", "a dog ran"], trainers.WordLevelTrainer(special_tokens=["[UNK]"])
    )
    wm = tm.KGW(key=b"k", context_width=1)
    res = wm.detect_text(["the cat sat on the mat", "a dog"], tok)
    # 6 and 2 words, width 1: 5 and 1 scored pairs ("the" repeats, but after other words).
    assert res.n_scored.tolist() == [5, 1]


def test_cuda_backend_without_device_raises_clearly():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present; this checks the no-device error")
    with pytest.raises(ValueError, match="CUDA"):
        tm.KGW(key=b"k").detect([[1, 2, 3, 4, 5]], backend="cuda")


def test_auto_backend_choice(monkeypatch):

    monkeypatch.delenv("TOKENMARK_BACKEND", raising=False)
    assert backends.resolve("auto", on_cuda=False) == "cpu"
    assert backends.resolve("auto", on_cuda=True) == "cuda"
    expect_large = "triton" if backends.triton_importable() else "cuda"
    assert backends.resolve("auto", on_cuda=True, large_fp32_bias=True) == expect_large
    assert backends.resolve("cuda", on_cuda=True, large_fp32_bias=True) == "cuda"
    monkeypatch.setenv("TOKENMARK_BACKEND", "cuda")
    assert backends.resolve("auto", on_cuda=True, large_fp32_bias=True) == "cuda"
