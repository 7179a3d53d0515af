"""TGI's KGW against tm.dialects.tgi_kgw. TGI's server does not install from a package registry,
so the expectations are its watermark.py (huggingface/text-generation-inference,
server/text_generation_server/utils/watermark.py) re-stated in `tgi_green_ids` below, line for
line: manual_seed(hash_key * previous token) on the device's generator, then
randperm(logits width)[:int(width * gamma)]."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import tokenmark as tm  # noqa: E402


def tgi_green_ids(prev_token: int, width: int, gamma: float, hash_key: int = 15485863):
    rng = torch.Generator(device="cpu")
    rng.manual_seed(hash_key * prev_token)
    return torch.randperm(width, device="cpu", generator=rng)[: int(width * gamma)]


class TGIProcessor(transformers.LogitsProcessor):
    """TGI's WatermarkLogitsProcessor.__call__ for a batch of one, as in its source."""

    def __init__(self, gamma, delta):
        self.gamma, self.delta = gamma, delta

    def __call__(self, input_ids, scores):
        green = tgi_green_ids(int(input_ids[0, -1]), scores.shape[-1], self.gamma)
        scores = scores.clone()
        scores[-1, green] += self.delta
        return scores


@pytest.mark.parametrize("gamma", [0.5, 0.25])
def test_green_flags_match_tgi_lists(gamma):
    rng = np.random.default_rng(int(gamma * 100))
    width = 1031  # a padded vocabulary: ids up to the logits' width can be green
    wm = tm.dialects.tgi_kgw(width, gamma=gamma, device="cpu")
    x = rng.integers(0, width, size=(3, 50))
    res = wm.detect(x, return_flags=True)
    for d in range(3):
        for j in range(1, 50):
            want = int(x[d, j]) in set(tgi_green_ids(int(x[d, j - 1]), width, gamma).tolist())
            assert res.green[d][j] == want
        assert res.green[d][0] == -1


def test_tgi_generation_detected():
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=1031, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        bos_token_id=1, eos_token_id=2, pad_token_id=2,
    )  # fmt: skip
    model = transformers.LlamaForCausalLM(cfg).eval()
    wm = tm.dialects.tgi_kgw(1031, device="cpu")
    for seed in range(3):
        prompt = torch.randint(3, 1031, (1, 5), generator=torch.Generator().manual_seed(seed))
        torch.manual_seed(seed)
        out = model.generate(
            prompt, attention_mask=torch.ones_like(prompt), do_sample=True, max_new_tokens=40,
            logits_processor=[TGIProcessor(0.5, 4.0)], pad_token_id=2,
        )  # fmt: skip
        res = wm.detect(out, prefix_lengths=5)
        assert res.n_scored[0] == 40 and res.p_value[0] < 1e-6


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the lists are drawn")
def test_default_device_is_cuda_and_refused_without_a_gpu():
    wm = tm.dialects.tgi_kgw(32000)
    assert wm.device == "cuda"
    with pytest.raises(ValueError, match="CUDA generator"):
        wm.detect([[1, 2, 3]])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_tgi_lists_on_the_gpu():
    width, gamma = 1031, 0.5
    wm = tm.dialects.tgi_kgw(width, gamma=gamma)
    x = np.random.default_rng(2).integers(0, width, size=(2, 30))
    res = wm.detect(x, return_flags=True)
    for d in range(2):
        for j in range(1, 30):
            rng = torch.Generator(device="cuda")
            rng.manual_seed(15485863 * int(x[d, j - 1]))
            green = torch.randperm(width, device="cuda", generator=rng)[: int(width * gamma)]
            assert res.green[d][j] == (int(x[d, j]) in set(green.tolist()))


def test_bad_hash_key():
    with pytest.raises(ValueError, match="hash_key"):
        tm.dialects.tgi_kgw(100, hash_key=2**40)
    with pytest.raises(TypeError, match="hash_key"):
        tm.dialects.tgi_kgw(100, hash_key="x")
