"""tokenmark's vLLM and SGLang processors run here without the engines: where an engine is not
installed, only the import the processor module needs (SGLang's ``CustomLogitProcessor`` base,
vLLM's Model Runner V2 logits-processor interface) is stubbed, for the duration of a test, and
tokenmark's own code runs unchanged. ``tests/engines/`` runs them against the real engines."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace as NS

import pytest
import torch
from keyring_helpers import write_keyring
from tokenmark.integrations.keyring import (
    KEYRING_ENV,
    KEYS_ENV,
    KeyRing,
    UnknownWatermarkError,
    server_keyring,
)
from tokenmark.scan.watermarks import ScanConfigError

SECRETS = {"a": "stubbed engine secret a", "peer": "1234"}
OURS = [
    {"name": "kgw", "key_id": "a", "scheme": "kgw", "context_width": 2},
    {"name": "gum", "key_id": "a", "scheme": "gumbel", "context_width": 2},
]
PEER = {"name": "peer-vllm", "key_id": "peer", "dialect": "vllm",
        "config": {"algorithm": "gumbel", "context_width": 2}}  # fmt: skip


@dataclass(frozen=True)
class _RequestState:  # vLLM's LogitsProcRequestState, the fields the processor reads
    device: object
    max_num_reqs: int
    vocab_size: int
    all_token_ids: object


def _stub_modules(engine: str) -> dict[str, types.ModuleType]:
    """The engine's modules the processor imports, as minimal stubs."""
    if engine == "sglang":
        leaf = "sglang.srt.sampling.custom_logit_processor"
        attrs = {"CustomLogitProcessor": type("CustomLogitProcessor", (), {})}
    else:
        leaf = "vllm.v1.worker.gpu.sample.logits_processor.interface"
        attrs = {
            "LogitsProcessor": type("LogitsProcessor", (), {}),
            "LogitsContext": type("LogitsContext", (), {}),
            "LogitsProcRequestState": _RequestState,
        }
    parts = leaf.split(".")
    names = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    mods = {n: types.ModuleType(n) for n in names}
    mods[leaf].__dict__.update(attrs)
    return mods


@contextmanager
def _engine_module(engine: str):
    """``tokenmark.integrations.<engine>``, imported against stubs when the engine is absent;
    sys.modules is restored afterwards (so that tests/engines still skip or use the real one)."""
    name = f"tokenmark.integrations.{engine}"
    stubs = {} if importlib.util.find_spec(engine) else _stub_modules(engine)
    saved = {n: sys.modules.get(n) for n in [*stubs, name]}
    sys.modules.update(stubs)
    sys.modules.pop(name, None)
    try:
        yield importlib.import_module(name)
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m
        pkg = sys.modules["tokenmark.integrations"]
        if saved[name] is None and hasattr(pkg, engine):
            delattr(pkg, engine)


@pytest.fixture
def serve(tmp_path, monkeypatch):
    """``serve(watermarks)``: the environment of a server with that key ring (not yet loaded)."""

    def serve(watermarks):
        config, keys = write_keyring(tmp_path, watermarks, SECRETS)
        monkeypatch.setenv(KEYRING_ENV, str(config))
        monkeypatch.setenv(KEYS_ENV, str(keys))
        server_keyring.cache_clear()

    yield serve
    server_keyring.cache_clear()


@pytest.fixture
def sglang():
    with _engine_module("sglang") as m:
        yield m


@pytest.fixture
def vllm():
    with _engine_module("vllm") as m:
        yield m


def _sglang_req(hist, prompt, top_k=1 << 30):
    sp = NS(temperature=0.8, top_k=top_k, top_p=1.0, min_p=0.0)
    return NS(origin_input_ids=list(hist[:prompt]), output_ids=list(hist[prompt:]),
              sampling_params=sp)  # fmt: skip


def test_sglang_refuses_a_dialect_entry_clearly(sglang, serve):
    """Was: a raw TypeError from the engine-row core inside the scheduler's sampling step."""
    serve([*OURS, PEER])
    params = [{"watermark": "peer-vllm", "__req__": _sglang_req(range(10), 6)}]
    with pytest.raises(ScanConfigError, match=r"'peer-vllm' \(dialect:vllm\)") as e:
        sglang.WatermarkLogitProcessor()(torch.zeros(1, 50), params)
    assert not any(s in str(e.value) for s in SECRETS.values())


def test_sglang_refuses_a_dialect_entry_of_another_ring(sglang, monkeypatch):
    """A processor given another ring (the keyring() hook) refuses such a request."""
    monkeypatch.setenv("TOKENMARK_KEY_PEER", SECRETS["peer"])
    monkeypatch.setenv("TOKENMARK_KEY_A", SECRETS["a"])
    ring = KeyRing.from_config([*OURS, PEER])
    proc = sglang.WatermarkLogitProcessor()
    monkeypatch.setattr(proc, "keyring", lambda: ring)
    params = [{"watermark": "peer-vllm", "__req__": _sglang_req(range(10), 6)}]
    with pytest.raises(UnknownWatermarkError, match="'peer-vllm' is a dialect:vllm entry"):
        proc(torch.zeros(1, 50), params)


def test_vllm_refuses_a_dialect_entry_at_startup_naming_it(vllm, serve):
    """Was: 'no installed processor serves them; install WatermarkLogitsProcessor', with that
    very processor installed."""
    serve([*OURS, PEER])
    cfg = NS(speculative_config=None,
             model_config=NS(logits_processors=[vllm.WatermarkLogitsProcessor]))  # fmt: skip
    ids = NS(gpu=torch.zeros(4, 64, dtype=torch.int32))
    state = vllm.LogitsProcRequestState(torch.device("cpu"), 4, 100, ids)
    with pytest.raises(ScanConfigError, match=r"'peer-vllm' \(dialect:vllm\)") as e:
        vllm.WatermarkLogitsProcessor(cfg, state)
    assert "install" not in str(e.value)
    # Admission refuses it too (the frontend loads the same ring).
    with pytest.raises(ScanConfigError, match="peer-vllm"):
        vllm.WatermarkLogitsProcessor.validate_params(NS(extra_args={"watermark": "peer-vllm"}))


def _server_args(monkeypatch, disable_overlap_schedule):
    """SGLang's process-global server args as the scheduler process has them (None: not set,
    where SGLang's accessor raises ValueError)."""
    mod = types.ModuleType("sglang.srt.server_args")

    def get_global_server_args():
        if disable_overlap_schedule is None:
            raise ValueError("Global server args is not set yet!")
        return NS(disable_overlap_schedule=disable_overlap_schedule)

    mod.get_global_server_args = get_global_server_args
    monkeypatch.setitem(sys.modules, mod.__name__, mod)


def _kgw_step(sglang, history=range(12), prompt=8):
    logits = torch.randn(2, 50, generator=torch.Generator().manual_seed(3))
    params = [{"watermark": "kgw", "__req__": _sglang_req(history, prompt)}, None]
    return logits, sglang.WatermarkLogitProcessor()(logits.clone(), params)


def test_sglang_refuses_overlap_scheduling(sglang, serve, monkeypatch):
    """Under SGLang's default overlap scheduler req.output_ids lags the token being sampled by
    one, so every context was shifted and the output carried no detectable watermark."""
    serve(OURS)
    _server_args(monkeypatch, disable_overlap_schedule=False)
    with pytest.raises(ValueError, match="--disable-overlap-schedule"):
        _kgw_step(sglang)
    # Requests that name no watermark are served as before.
    logits = torch.randn(1, 50)
    assert sglang.WatermarkLogitProcessor()(logits, [{"other": 1}]) is logits


def test_sglang_watermarks_without_overlap_scheduling(sglang, serve, monkeypatch, caplog):
    serve(OURS)
    _server_args(monkeypatch, disable_overlap_schedule=True)
    before, after = _kgw_step(sglang)
    green = after[0] != before[0]
    assert 0 < int(green.sum()) < 50
    torch.testing.assert_close(after[0][green], before[0][green] + 2.0)  # KGW's default delta
    torch.testing.assert_close(after[1], before[1])  # the row without a watermark
    # Where the server args cannot be read: the same output, and a warning (once).
    _server_args(monkeypatch, disable_overlap_schedule=None)
    monkeypatch.setattr(sglang.WatermarkLogitProcessor, "_warned_unknown_overlap", False)
    with caplog.at_level("WARNING"):
        _, unknown = _kgw_step(sglang)
        _kgw_step(sglang)
    torch.testing.assert_close(unknown, after)
    warned = [r for r in caplog.records if "--disable-overlap-schedule" in r.getMessage()]
    assert len(warned) == 1


def test_sglang_beam_search_is_refused_by_name(sglang, serve, monkeypatch):
    """SGLang's beam search passes a request's beams as rows with one custom_params entry; the
    error only said 'custom_param_list: 1 entries for 3 rows'."""
    serve(OURS)
    _server_args(monkeypatch, disable_overlap_schedule=True)
    params = [{"watermark": "kgw", "__req__": _sglang_req(range(12), 8)}]
    with pytest.raises(ValueError, match="beam search .* is not supported"):
        sglang.WatermarkLogitProcessor()(torch.zeros(3, 50), params)
