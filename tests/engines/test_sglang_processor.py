"""tokenmark's SGLang processor through SGLang's real ``CustomLogitProcessor`` and
``SamplingParams``, called as ``apply_custom_logit_processor`` calls it (the selected rows, one
``custom_params`` dict per row with SGLang's ``__req__``).

No server run here: SGLang 0.5.23 pins torch 2.14.1 (this project stays on 2.13) and its
scheduler and sampler modules need a CUDA stack (``sglang.srt.layers.sampler`` does not import
without torchvision / flashinfer). The processor module itself imports with dill, orjson and
torch, so the processor is tested for real; SGLang's own torch sampling filter
(``top_k_top_p_min_p_sampling_from_probs_torch``) is read from the installed source and run
against our re-statement of it.
"""

from __future__ import annotations

import ast
import logging
import sys
from array import array
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Optional

import numpy as np
import pytest
import torch

clp = pytest.importorskip(
    "sglang.srt.sampling.custom_logit_processor",
    reason="sglang not installed: pip install tokenmark[sglang]",
)
from keyring_helpers import serve_keyring  # noqa: E402
from sglang.srt.sampling.sampling_params import SamplingParams  # noqa: E402
from tokenmark.integrations import sglang as tm_sgl  # noqa: E402
from tokenmark.integrations import transformers as tm_hf  # noqa: E402
from tokenmark.integrations.keyring import (  # noqa: E402
    UnknownWatermarkError,
)

pytestmark = pytest.mark.sglang

VOCAB = 1019
SECRETS = {"a": "sglang secret a", "b": "sglang secret b"}
CONFIG = [
    {"name": "kgw", "key_id": "a", "scheme": "kgw", "context_width": 2, "delta": 4.0},
    {"name": "gum", "key_id": "a", "scheme": "gumbel", "context_width": 2},
    {"name": "sid", "key_id": "b", "scheme": "synthid", "context_width": 2, "layers": 8},
]


@pytest.fixture
def ring(tmp_path, monkeypatch):
    # The scheduler process's server args, as the processor checks them: a server started with
    # --disable-overlap-schedule (the processor refuses to watermark under overlap scheduling).
    args = ModuleType("sglang.srt.server_args")
    args.get_global_server_args = lambda: SimpleNamespace(disable_overlap_schedule=True)
    monkeypatch.setitem(sys.modules, args.__name__, args)
    yield from serve_keyring(tmp_path, monkeypatch, CONFIG, SECRETS)


def _req(hist, prompt, name, **settings):
    sp = SamplingParams(**settings, custom_params=None if name is None else {"watermark": name})
    sp.normalize(None)
    req = SimpleNamespace(
        origin_input_ids=list(hist[:prompt]),
        output_ids=array("q", hist[prompt:]),
        sampling_params=sp,
    )
    params = None if name is None else {**sp.custom_params, "__req__": req}
    return req, params


def _apply(proc, logits, params):
    """As sglang.srt.layers.sampler.apply_custom_logit_processor: the rows that sent the
    processor, their custom_params, the result copied back."""
    rows = [i for i, p in enumerate(params) if p is not None]
    idx = torch.tensor(rows, dtype=torch.int64)
    result = proc(logits.index_select(0, idx), [params[i] for i in rows])
    logits.index_copy_(0, idx, result.to(logits.dtype))
    return logits


def test_the_request_carries_a_class_reference_and_no_key(ring):
    s = tm_sgl.WatermarkLogitProcessor.to_str()
    assert all(v not in s and v.encode().hex() not in s for v in SECRETS.values())
    assert isinstance(clp.CustomLogitProcessor.from_str(s), tm_sgl.WatermarkLogitProcessor)


SETTINGS = [
    dict(temperature=0.7, top_k=40, top_p=0.9, min_p=0.02),
    dict(temperature=1.0),
    dict(temperature=1.3, top_p=0.8),
    dict(temperature=0.9, min_p=0.1),
]


def test_rows_are_each_requests_transformers_result(ring):
    rng = np.random.default_rng(0)
    names = ["kgw", "gum", None, "gum", "kgw", "gum", None]
    reqs, params = zip(*[
        _req(rng.integers(0, VOCAB, 4 + 6 * i).tolist(), 3, n, **SETTINGS[i % len(SETTINGS)])
        for i, n in enumerate(names)
    ])  # fmt: skip
    logits = torch.from_numpy(rng.normal(0, 3, (len(names), VOCAB)).astype(np.float32))
    logits[3, ::2] = -float("inf")  # a grammar mask on a Gumbel row
    before = logits.clone()
    out = _apply(tm_sgl.WatermarkLogitProcessor(), logits, list(params))
    for i, name in enumerate(names):
        if name is None:
            assert torch.equal(out[i], before[i])
            continue
        sp = reqs[i].sampling_params
        hist = torch.tensor([list(reqs[i].origin_input_ids) + list(reqs[i].output_ids)])
        wm = ring.get(name)
        if name == "kgw":
            want = wm.scheme.logits_processor()(hist, before[i].clone()[None])[0]
        else:
            warped = tm_sgl.warp_like_sglang(
                before[i].clone()[None], np.array([sp.temperature]), np.array([sp.top_k]),
                np.array([sp.top_p]), np.array([sp.min_p]),
            )  # fmt: skip
            n_finite = int(torch.isfinite(warped).sum())
            one = tm_hf.GumbelLogitsProcessor(wm.scheme)(hist, warped)[0]
            want = one if n_finite > 1 and int(torch.isfinite(one).sum()) == 1 else before[i]
        torch.testing.assert_close(out[i], want, rtol=0, atol=0, msg=f"row {i}")
    assert torch.isinf(out[3, ::2]).all()


def test_greedy_requests_are_left_alone_with_one_warning(ring, caplog):
    tm_sgl.WatermarkLogitProcessor._warned_greedy = False
    rng = np.random.default_rng(1)
    params = [_req(list(range(10)), 5, n, temperature=0.0)[1] for n in ("gum", "sid", "gum")]
    logits = torch.from_numpy(rng.normal(0, 1, (3, VOCAB)).astype(np.float32))
    with caplog.at_level(logging.WARNING, logger="tokenmark.integrations.sglang"):
        out = tm_sgl.WatermarkLogitProcessor()(logits.clone(), params)
    assert torch.equal(out, logits)
    assert [r.message.count("greedy") for r in caplog.records] == [1]


def test_bad_requests_are_refused_without_a_secret(ring):
    proc = tm_sgl.WatermarkLogitProcessor()
    logits = torch.zeros(1, VOCAB)
    _, ok = _req(list(range(10)), 5, "gum", temperature=0.8)
    cases = [
        ({**ok, "watermark": "cust-404"}, UnknownWatermarkError, r"\(8 characters"),
        ({**ok, "key": SECRETS["a"]}, UnknownWatermarkError, "keys never travel"),
        ({"watermark": "gum"}, ValueError, "--enable-custom-logit-processor"),
    ]
    for params, exc, match in cases:
        with pytest.raises(exc, match=match) as e:
            proc(logits.clone(), [params])
        assert SECRETS["a"] not in str(e.value)
    with pytest.raises(ValueError, match="speculative decoding is not supported"):
        proc(torch.zeros(2, VOCAB), [ok, ok])  # one request, two rows


def _sglang_filter():
    """SGLang's own top_k_top_p_min_p_sampling_from_probs_torch, from the installed source (its
    module does not import without a CUDA stack)."""
    path = Path(clp.__file__).parents[1] / "layers" / "sampler.py"
    tree = ast.parse(path.read_text())
    name = "top_k_top_p_min_p_sampling_from_probs_torch"
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    ns = {"torch": torch, "Optional": Optional}
    exec(compile(ast.Module([fn], []), str(path), "exec"), ns)  # noqa: S102
    return ns[name]


def test_warp_keeps_exactly_what_sglang_can_sample():
    filt = _sglang_filter()
    rng = np.random.default_rng(2)
    n = 6
    logits = torch.from_numpy(rng.normal(0, 3, (n, VOCAB)).astype(np.float32))
    logits[2, 500:] = -float("inf")
    t = np.array([0.7, 1.0, 1.3, 0.5, 2.0, 1.0], np.float32)
    k = np.array([40, 1 << 30, 5, 1 << 30, 200, 1], np.int64)
    p = np.array([0.9, 1.0, 0.5, 0.95, 1.0, 1.0], np.float32)
    mp = np.array([0.02, 0.0, 0.0, 0.1, 0.3, 0.0], np.float32)
    ours = tm_sgl.warp_like_sglang(logits.clone(), t, k, p, mp)
    probs = torch.softmax(logits / torch.from_numpy(t)[:, None], dim=-1)
    _, probs_sort, probs_idx, _ = filt(
        probs, torch.from_numpy(k), torch.from_numpy(p), torch.from_numpy(mp), True, None,
        torch.zeros(n), return_filtered_probs=True,
    )  # fmt: skip
    for r in range(n):
        kept = set(probs_idx[r][probs_sort[r] > 0].tolist())
        assert kept == set(torch.nonzero(torch.isfinite(ours[r]))[:, 0].tolist()), r
    torch.testing.assert_close(
        ours[1], logits[1] / float(t[1]), rtol=0, atol=0
    )  # no truncation: only the temperature


def test_generation_is_detected(ring):
    rng, gen = np.random.default_rng(3), torch.Generator().manual_seed(3)
    names = ["kgw", "gum", "sid", None]
    reqs, params = zip(*[_req(rng.integers(0, VOCAB, 5).tolist(), 5, n, temperature=0.9)
                         for n in names])  # fmt: skip
    proc = tm_sgl.WatermarkLogitProcessor()
    for _ in range(50):
        logits = torch.from_numpy(rng.normal(0, 2, (len(names), VOCAB)).astype(np.float32))
        rows = [i for i, p in enumerate(params) if p is not None]
        logits = _apply(proc, logits, list(params))
        tokens = torch.multinomial(torch.softmax(logits / 0.9, dim=1), 1, generator=gen)[:, 0]
        for r, t in zip(reqs, tokens.tolist()):
            r.output_ids.append(t)
    assert rows == [0, 1, 2]
    for i, name in enumerate(names):
        seq = list(reqs[i].origin_input_ids) + list(reqs[i].output_ids)
        for other in ("kgw", "gum", "sid"):
            pv = ring.detect(other, [seq], prefix_lengths=[5]).p_value[0]
            assert (pv < 1e-3) == (other == name), (name, other, pv)
