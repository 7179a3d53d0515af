"""Weight provenance: invariant to what a copier does for free (permutations, rescaling, sign
flips, dtype), it separates derivatives of a tiny model of the demo architecture (fine-tuned,
quantised, pruned, permuted) from independently trained models of the same configuration."""

import numpy as np
import pytest
import torch
from finetune_helpers import text_ids, tiny_model, trained_tiny, windows
from tokenmark.suspect import provenance
from tokenmark.suspect._train import train

NULL_SEEDS = (1, 2, 3, 4)


@pytest.fixture(scope="module")
def reference():
    return trained_tiny(0)


@pytest.fixture(scope="module")
def nulls():
    return [trained_tiny(s) for s in NULL_SEEDS]


def _fine_tuned(reference, trainable=None, steps=40):
    torch.set_num_threads(1)
    m = trained_tiny(0)
    # Held-out text the reference never saw, at a fine-tuning learning rate.
    ex = windows(text_ids()[1], 64, 32, seed=9)
    train(m, ex, steps=steps, lr=3e-3, batch_size=8, seed=9, trainable=trainable)
    return m


def _int8(model):
    """Per-row symmetric int8 quantisation of every matrix, dequantised."""
    out = trained_tiny(0)
    out.load_state_dict(model.state_dict())
    with torch.no_grad():
        for p in out.parameters():
            if p.ndim == 2:
                scale = p.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127
                p.copy_(torch.round(p / scale).clamp(-127, 127) * scale)
    return out


def _pruned(model, fraction):
    out = trained_tiny(0)
    out.load_state_dict(model.state_dict())
    with torch.no_grad():
        for name, p in out.named_parameters():
            if p.ndim == 2 and "embed" not in name:
                cut = p.abs().flatten().kthvalue(int(fraction * p.numel())).values
                p.mul_(p.abs() > cut)
    return out


@pytest.fixture(scope="module")
def derivatives(reference):
    ft = _fine_tuned(reference)
    return {
        "fine-tuned": ft,
        "fine-tuned top layer": _fine_tuned(reference, trainable=r"layers\.1\."),
        "float16": trained_tiny(0).half(),
        "bfloat16 fine-tuned": _fine_tuned(reference).to(torch.bfloat16),
        "int8": _int8(reference),
        "pruned 50%": _pruned(reference, 0.5),
        "fine-tuned, permuted and rescaled": provenance.permute_and_rescale(ft, seed=7),
    }


@pytest.mark.parametrize("kv_heads", [4, 2, 1])
def test_permute_and_rescale_keeps_the_function(kv_heads):
    model = tiny_model(5, num_key_value_heads=kv_heads)
    with torch.no_grad():  # away from the init's symmetric scales
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    disguised = provenance.permute_and_rescale(model, seed=3)
    x = torch.as_tensor(text_ids()[1][:48])[None]
    a, b = model(x).logits, disguised(x).logits
    assert torch.allclose(a, b, atol=1e-4 * a.abs().max().item())
    changed = [not torch.equal(p, q) for p, q in zip(model.parameters(), disguised.parameters())]
    assert all(changed)
    total, comps = provenance.statistic(disguised, model)
    assert total == pytest.approx(1.0, abs=1e-9)
    assert all(v == pytest.approx(1.0, abs=1e-9) for v in comps.values())


def test_the_statistic_of_unrelated_models_is_invariant_too(reference, nulls):
    for seed, null in enumerate(nulls):
        direct = provenance.statistic(null, reference)[0]
        disguised = provenance.statistic(provenance.permute_and_rescale(null, seed), reference)[0]
        assert disguised == pytest.approx(direct, abs=1e-9)


def test_derivatives_are_told_from_independent_models(reference, nulls, derivatives):
    null_stats = [provenance.statistic(m, reference)[0] for m in nulls]
    assert max(null_stats) < 0.4, null_stats
    for name, model in derivatives.items():
        res = provenance.compare(model, reference, null=nulls)
        assert res.statistic > 0.8, (name, res)
        assert res.statistic > max(null_stats) + 0.4, (name, res)
        assert res.p_value == pytest.approx(1 / (1 + len(nulls)))
        assert res.z > 10 and res.is_derived(alpha=0.25)
        assert np.allclose(res.null, null_stats)
        # Precomputed null statistics give the same answer.
        again = provenance.compare(model, reference, null=null_stats)
        assert again.p_value == res.p_value and again.statistic == res.statistic


def test_independent_models_get_null_p_values(reference, nulls):
    """Leave-one-out: each independent model against the others. Under the null the rank is
    uniform; with 4 models only a coarse check: none is more extreme than every other."""
    ps = []
    for j, m in enumerate(nulls):
        others = [o for i, o in enumerate(nulls) if i != j]
        res = provenance.compare(m, reference, null=others)
        assert not res.is_derived(alpha=0.05)
        ps.append(res.p_value)
    assert sorted(ps) == [0.25, 0.5, 0.75, 1.0]  # distinct ranks: a permutation of 1..4


def test_bad_input(reference, nulls):
    with pytest.raises(ValueError, match="suspect.*vocabulary"):
        provenance.statistic(tiny_model(0, vocab_size=1000), reference)
    with pytest.raises(ValueError, match="suspect.*architecture"):
        provenance.statistic(tiny_model(0, intermediate_size=48), reference)
    with pytest.raises(TypeError, match="suspect"):
        provenance.statistic({"weights": 1}, reference)
    with pytest.raises(TypeError, match="reference"):
        provenance.statistic(reference, "model.safetensors")
    with pytest.raises(ValueError, match="null"):
        provenance.compare(reference, reference, null=nulls[:1])
    with pytest.raises(TypeError, match="null"):
        provenance.compare(reference, reference, null="models")
    with pytest.raises(ValueError, match="null"):
        provenance.compare(reference, reference, null=[0.1, float("nan")])
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=4096))
    with pytest.raises(ValueError, match="suspect.*Llama-style"):
        provenance.statistic(gpt2, reference)


def test_docstring_examples():
    import doctest

    from tokenmark.suspect import provenance as module

    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0


@pytest.mark.parametrize("offset", [-0.1, 0.0, 0.1])
def test_a_null_without_spread_has_no_normal_fit(offset):
    """Equal null statistics (e.g. rounded values copied from a table): the normal fit has no
    spread to scale by. z keeps the sign of statistic - mean (NaN when equal) and
    p_value_normal is NaN; the empirical p-value is unaffected."""
    ours, other = tiny_model(0), tiny_model(1)
    s = provenance.statistic(other, ours)[0]
    res = provenance.compare(other, ours, null=[s - offset] * 3)
    assert res.statistic == s
    assert np.isnan(res.p_value_normal)
    if offset > 0:  # above the null
        assert res.z == np.inf and res.p_value == 0.25
    elif offset < 0:  # below the null
        assert res.z == -np.inf and res.p_value == 1.0
    else:
        assert np.isnan(res.z) and res.p_value == 1.0
    assert res.is_derived(alpha=0.25) == (offset > 0)


def _biased(kind):
    """A tiny model with nonzero biases (trained Qwen2 models have large q/k/v biases)."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    shape = dict(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2)
    torch.manual_seed(0)
    if kind == "qwen2":
        cfg = Qwen2Config(**shape, num_attention_heads=4, num_key_value_heads=2)
        model = Qwen2ForCausalLM(cfg)
    else:
        cfg = LlamaConfig(**shape, num_attention_heads=4, num_key_value_heads=2)
        cfg.attention_bias = cfg.mlp_bias = True
        model = LlamaForCausalLM(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model.eval()


@pytest.mark.parametrize("kind", ["qwen2", "llama with biases"])
def test_permute_and_rescale_keeps_the_function_with_biases(kind):
    model = _biased(kind)
    names = [n for n, _ in model.named_parameters() if n.endswith("bias")]
    assert len(names) == (6 if kind == "qwen2" else 14)
    disguised = provenance.permute_and_rescale(model, seed=3)
    x = torch.tensor([[1, 5, 9, 3, 60, 7, 7, 2]])
    with torch.no_grad():
        a, b = model(x).logits, disguised(x).logits
    assert torch.allclose(a, b, atol=1e-4 * a.abs().max().item()), (a - b).abs().max()
    params = dict(disguised.named_parameters())
    assert all(not torch.equal(p, params[n]) for n, p in model.named_parameters() if n in names)
    total, comps = provenance.statistic(disguised, model)
    assert total == pytest.approx(1.0, abs=1e-9)
    other = _biased(kind)
    with torch.no_grad():
        for p in other.parameters():
            p.copy_(torch.randn_like(p))
    direct = provenance.statistic(other, model)[0]
    assert direct < 0.9
    again = provenance.statistic(provenance.permute_and_rescale(other, seed=5), model)[0]
    assert again == pytest.approx(direct, abs=1e-9)


def test_permute_and_rescale_refuses_a_norm_bias():
    model = _biased("qwen2")
    norm = model.model.layers[0].input_layernorm
    norm.bias = torch.nn.Parameter(torch.zeros_like(norm.weight))
    with pytest.raises(ValueError, match=r"model: .*layers\.0\.input_layernorm\.bias"):
        provenance.permute_and_rescale(model)


@pytest.mark.parametrize(
    "bad, what",
    [(dict(vocab_size=1000), "vocabulary"), (dict(intermediate_size=48), "architecture")],
)
def test_a_bad_null_model_is_named(bad, what):
    ours, suspect, ok = tiny_model(0), tiny_model(1), tiny_model(2)
    with pytest.raises(ValueError, match=rf"^null\[1\]: {what}") as err:
        provenance.compare(suspect, ours, null=[ok, tiny_model(3, **bad)])
    assert "suspect" not in str(err.value)
