"""Hostile input to GINSEW (config, helpers, detection): a clear TypeError/ValueError naming the
argument, never a silently wrong result or an error from numpy or torch internals."""

from __future__ import annotations

import numpy as np
import pytest
import tokenmark as tm
import torch


@pytest.fixture(scope="module")
def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
    )
    return LlamaForCausalLM(cfg).eval()


PROBES = [[i, j] for i in range(8) for j in range(8)]


def test_detect_model_refuses_a_model_with_nan_logits(tiny_llama):
    wm = tm.GINSEW(key=b"nan")
    assert np.isfinite(wm.detect_model(tiny_llama, PROBES).p_value)
    broken = type(tiny_llama)(tiny_llama.config).eval()
    broken.load_state_dict(tiny_llama.state_dict())
    with torch.no_grad():
        broken.lm_head.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="model_or_fn.*not finite"):
        wm.detect_model(broken, PROBES)


def test_detect_model_refuses_ids_beyond_the_model_vocabulary(tiny_llama):
    wm = tm.GINSEW(key=b"vocab")
    with pytest.raises(ValueError, match=r"probes: probe 1 has token id 64\b"):
        wm.detect_model(tiny_llama, [[1, 2], [3, 64]])
    assert wm.detect_model(tiny_llama, [[1, 2], [3, 63]]).n_observations == 2


@pytest.mark.parametrize(
    "returns", [lambda ids: [["x"] * 5] * len(ids), lambda ids: object(), lambda ids: None]
)
def test_detect_model_refuses_a_callable_returning_no_numbers(returns):
    with pytest.raises((TypeError, ValueError), match="model_or_fn"):
        tm.GINSEW(key=b"fn").detect_model(returns, [[1], [2], [3]])


def test_detect_model_refuses_a_plain_torch_module():
    module = torch.nn.Embedding(10, 10)  # callable on ids, but returns [b, s, vocab] scores
    with pytest.raises(ValueError, match="model_or_fn"):
        tm.GINSEW(key=b"module").detect_model(module, [[1], [2], [3]])


@pytest.mark.parametrize("value", [None, "no", 1, 0.0])
def test_skip_flags_must_be_bools(value):
    wm = tm.GINSEW(key=b"flags")
    flat = lambda ids: np.full((len(ids), 5), 0.2)  # noqa: E731
    with pytest.raises(TypeError, match="skip_seen_windows"):
        wm.detect_model(flat, [[1], [2], [3]], skip_seen_windows=value)
    with pytest.raises(TypeError, match="skip_prompt_windows"):
        wm.detect([[1, 2, 3]], prefix_lengths=[1], skip_prompt_windows=value)
    assert wm.detect([[1, 2, 3]], skip_prompt_windows=np.bool_(False)).n_observations == 2
