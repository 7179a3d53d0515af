"""The Gumbel processor inside transformers' generate, with a tiny randomly initialised Llama."""

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")
import tokenmark as tm  # noqa: E402
from tiny_models import VOCAB, Recorder, tiny_llama  # noqa: E402
from tokenmark.reference import gumbel as ref  # noqa: E402
from transformers import (  # noqa: E402
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
)


@pytest.fixture(scope="module")
def model():
    return tiny_llama()


GEN = dict(max_new_tokens=24, min_new_tokens=24, pad_token_id=0, eos_token_id=None)


@pytest.mark.parametrize("do_sample", [True, False])
def test_generate_emits_the_reference_choice(model, do_sample):
    wm = tm.Gumbel(key=b"hf", context_width=2)
    rec = Recorder(wm.logits_processor(salt=5))
    warpers = [TemperatureLogitsWarper(0.7), TopKLogitsWarper(20)]
    prompts = torch.randint(3, VOCAB, (3, 6))
    torch.manual_seed(1)
    out = model.generate(
        prompts,
        attention_mask=torch.ones_like(prompts),
        logits_processor=LogitsProcessorList([*warpers, rec]),
        do_sample=do_sample,
        **GEN,
    )
    n_marked = 0
    for step, (ids, before, after) in enumerate(rec.calls):
        want = ref.sample_gumbel(
            before.numpy(), ids.numpy(), wm.key.words, np.array([5], np.uint32), None, 2, 0, True
        )
        emitted = out[:, prompts.shape[1] + step].numpy()
        for b in range(3):
            if want[b] >= 0:
                n_marked += 1
                assert emitted[b] == want[b]
                # One finite entry: no later warper or sampler can change the choice.
                assert torch.isfinite(after[b]).sum() == 1
                # Chosen within the top-k the warpers before it kept.
                assert torch.isfinite(before[b, want[b]])
            else:
                assert torch.equal(after[b], before[b])
    assert n_marked > 0.8 * len(rec.calls) * 3
    res = wm.detect(out[:, prompts.shape[1] - 2 :], salt=5)
    assert (res.n_scored > 20).all()
    assert (res.p_value < 1e-2).all(), res.p_value


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_processor_salts_one_per_row(dtype):
    """A salt per row reaches every row, whichever host path the dtype takes (the C++ step for
    fp32 / fp16, the op for bf16): each row's token is the reference's under its own salt."""
    wm = tm.Gumbel(key=b"hf", context_width=1, skip_repeated=False)
    salts = np.array([1, 2, 3, 4], np.uint32)
    ids = torch.randint(3, VOCAB, (4, 5), generator=torch.Generator().manual_seed(0))
    scores = torch.randn(4, VOCAB, generator=torch.Generator().manual_seed(1)).to(dtype)
    got = wm.logits_processor(salt=salts.tolist())(ids, scores.clone()).argmax(1).numpy()
    for b in range(4):
        want = ref.sample_gumbel(
            scores[b : b + 1].float().numpy(), ids[b : b + 1].numpy(), wm.key.words,
            salts[b : b + 1], None, 1, 0, False,
        )  # fmt: skip
        assert got[b] == want[0], (b, got, want)
    # The rows' salts differ, so at least one row's token differs from the first salt's.
    first = wm.logits_processor(salt=1)(ids, scores.clone()).argmax(1).numpy()
    assert (first != got).any()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_processor_salts_of_another_batch_size_are_refused(dtype):
    wm = tm.Gumbel(key=b"hf", context_width=1)
    proc = wm.logits_processor(salt=[1, 2, 3])
    with pytest.raises(ValueError, match="salt"):
        proc(torch.ones(2, 4, dtype=torch.long), torch.zeros(2, VOCAB, dtype=dtype))
