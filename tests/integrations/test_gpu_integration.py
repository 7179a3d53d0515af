"""End to end on a CUDA device: the public API and the transformers drop-in (skipped without)."""

import numpy as np
import pytest
import tokenmark as tm
import torch
from tokenmark.reference import kgw as ref

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]


@pytest.mark.parametrize("seeding", ["prev", "minhash"])
@pytest.mark.parametrize("dedup", [False, True])
def test_detect_on_device_equals_host(seeding, dedup):
    rng = np.random.default_rng(0)
    docs = rng.integers(0, 50, (37, 300))
    wm = tm.KGW(key=b"gpu", seeding=seeding, dedup=dedup)
    host = wm.detect(docs, return_flags=True, window=50, prefix_lengths=7)
    dev = wm.detect(torch.from_numpy(docs).cuda(), return_flags=True, window=50, prefix_lengths=7)
    assert np.array_equal(host.n_green, dev.n_green) and np.array_equal(host.n_scored, dev.n_scored)
    assert np.array_equal(host.p_value, dev.p_value)
    assert all(np.array_equal(a, b) for a, b in zip(host.green, dev.green))
    assert np.array_equal(host.window_p_value, dev.window_p_value)
    tokens = torch.from_numpy(docs.reshape(-1).astype(np.int32)).cuda()
    offsets = torch.arange(38, device="cuda", dtype=torch.int64) * 300
    rag = wm.detect(tm.Ragged(tokens, offsets), prefix_lengths=7)
    assert np.array_equal(rag.n_green, host.n_green)


def test_processor_in_generate_on_device_matches_reference():
    from tiny_models import Recorder, tiny_llama
    from transformers import LogitsProcessorList

    model = tiny_llama(vocab=50257).cuda()
    wm = tm.KGW(key=b"gpu", delta=4.0)
    rec = Recorder(wm.logits_processor())
    prompts = torch.randint(3, 50257, (5, 9), device="cuda")
    out = model.generate(
        prompts,
        attention_mask=torch.ones_like(prompts),
        do_sample=True,
        max_new_tokens=40,
        min_new_tokens=40,
        pad_token_id=0,
        eos_token_id=None,
        logits_processor=LogitsProcessorList([rec]),
    )
    for ids, before, after in rec.calls[:3]:
        want = ref.apply_kgw_bias(
            before.numpy(), ids.numpy(), wm.key.words[None], [wm.threshold], [wm.delta], None, 4, 0
        )
        assert np.array_equal(after.numpy().view(np.uint32), want.view(np.uint32))
    assert (wm.detect(out[:, 9:]).p_value < 1e-4).all()
