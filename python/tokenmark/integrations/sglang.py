"""An SGLang custom logit processor (SGLang 0.5.23) for KGW, Gumbel-max and SynthID.

Start the server with custom logit processors enabled, overlap scheduling disabled, and a key
ring (see :mod:`tokenmark.integrations.keyring`)::

    TOKENMARK_KEYRING=watermarks.json TOKENMARK_KEYRING_KEYS=keys.json \\
    python -m sglang.launch_server --model-path MODEL --enable-custom-logit-processor \\
        --disable-overlap-schedule

``--disable-overlap-schedule`` is required. Under SGLang's default overlap scheduling, step
``t``'s sampling (and so this processor) runs before step ``t - 1``'s token is appended to
``req.output_ids`` (SGLang issue #8056; only batches with a grammar sample after it): every
watermark context would be one token behind the one the detector reads, and the output would
not be detectably watermarked. The processor reads SGLang's server args and refuses to
watermark (``ValueError``) when overlap scheduling is on; where it cannot read them it warns
once and proceeds. This follows SGLang's scheduler source (``event_loop_overlap`` runs
``run_batch`` for step ``t`` before ``process_batch_result`` for step ``t - 1``) and a simulation
of the lag with SGLang stubbed; it is not yet verified on a running server.

Security: ``--enable-custom-logit-processor`` makes SGLang deserialize (dill) and run the
processor code each request sends, inside the scheduler process that holds the key ring. The
server must only be reachable through a gateway that forwards no ``custom_logit_processor``
other than the exact string ``WatermarkLogitProcessor.to_str()``, checks the request with
:meth:`KeyRing.for_request`, and decides which watermark names each caller may request (any
request may otherwise name any watermark of the key ring).

A request sends the processor (``WatermarkLogitProcessor.to_str()``: a reference to this class,
no key, no state) and names a watermark of the server's key ring in ``custom_params``
(``{"watermark": "cust-17"}``). The class is looked up on the server, which holds the keys.

SGLang applies custom processors before temperature, top-k, top-p and min-p. KGW adds ``delta``
to the raw logits (a bias of ``delta / T`` at temperature ``T``, as in transformers'
``generate``). Gumbel and SynthID apply the request's own temperature, top-k, top-p and min-p
to a copy of its row as SGLang's torch sampling path does (top-k and top-p on the sorted
probabilities, min-p relative to the largest), choose the token, and return a one-hot row that
SGLang's sampler then emits. Tokens already -inf (grammar) are never chosen. Greedy requests
(SGLang turns temperature 0 into ``top_k = 1``) cannot carry a sampling watermark and are left
alone (a warning, once). SynthID's draw comes from torch's generator, not the request's seed.

SGLang has no admission hook for custom parameters: a request naming a watermark the key ring
does not hold (or carrying a key) raises ``UnknownWatermarkError`` inside the scheduler's
sampling step. Check requests at your gateway with :meth:`KeyRing.for_request` before they
reach the server. Speculative decoding (one row per draft token) and beam search (one request's
beams as several rows with one ``custom_params``) are refused the same way.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

try:
    from sglang.srt.sampling.custom_logit_processor import CustomLogitProcessor
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("sglang not installed: pip install tokenmark[sglang]") from e

from ._engine_rows import SAMPLING_SCHEMES, apply_watermarks_
from .keyring import KeyRing, server_keyring

logger = logging.getLogger(__name__)

REQ_FIELD = "__req__"  # SGLang adds the request (a weak proxy) to its custom_params

OVERLAP_ERROR = (
    "tokenmark: SGLang runs with overlap scheduling (its default), under which the processor "
    "sees req.output_ids one token behind the token being sampled: the watermark would be "
    "keyed on the wrong context and not detectable. Restart the server with "
    "--disable-overlap-schedule to serve watermarked requests"
)


class WatermarkLogitProcessor(CustomLogitProcessor):
    """Watermarks the rows whose ``custom_params`` name a watermark of the server's key ring.

    >>> # import requests
    >>> # requests.post(url + "/generate", json={"text": prompt,
    >>> #     "custom_logit_processor": WatermarkLogitProcessor.to_str(),
    >>> #     "sampling_params": {"temperature": 0.8, "custom_params": {"watermark": "cust-17"}}})
    """

    _warned_greedy = False
    _warned_unknown_overlap = False

    def keyring(self) -> KeyRing:
        return server_keyring()

    def check_schedule(self) -> None:
        """Refuse to watermark under SGLang's overlap scheduling (see the module docstring)."""
        overlap = _overlap_schedule()
        if overlap:
            raise ValueError(OVERLAP_ERROR)
        if overlap is None and not WatermarkLogitProcessor._warned_unknown_overlap:
            logger.warning(
                "tokenmark: SGLang's server args cannot be read here, so tokenmark cannot "
                "check that overlap scheduling is off; the watermark needs the server started "
                "with --disable-overlap-schedule"
            )
            WatermarkLogitProcessor._warned_unknown_overlap = True

    def __call__(
        self,
        logits: torch.Tensor,
        custom_param_list: list[dict[str, Any] | None] | None = None,
    ) -> torch.Tensor:
        if not custom_param_list:
            return logits
        if len(custom_param_list) != logits.shape[0]:
            raise ValueError(
                f"custom_param_list: {len(custom_param_list)} entries for {logits.shape[0]} "
                "rows: beam search (SGLang passes a request's beams as several rows with one "
                "entry) is not supported; serve watermarked requests without it"
            )
        ring = self.keyring()
        rows, marks, seqs, settings, seen = [], [], [], [], set()
        for i, params in enumerate(custom_param_list):
            row = _watermarked_row(ring, params, seen)
            if row is not None:
                rows.append(i)
                marks.append(row[0])
                seqs.append(row[1])
                settings.append(row[2])
        if not rows:
            return logits
        self.check_schedule()
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        temperature, top_k, top_p, min_p = (np.array(c) for c in zip(*settings))

        def gather(sel: np.ndarray, h: int) -> torch.Tensor:
            ids = np.stack([seqs[j][len(seqs[j]) - h :] for j in sel.tolist()])
            return torch.from_numpy(ids).to(logits.device)

        def warp(sub: torch.Tensor, sel: np.ndarray) -> torch.Tensor:
            return warp_like_sglang(sub, temperature[sel], top_k[sel], top_p[sel], min_p[sel])

        out = logits if logits.dtype == torch.float32 else logits.float()
        apply_watermarks_(out, np.array(rows, dtype=np.int64), marks, lengths, gather, warp)
        return out if out is logits else out.to(logits.dtype)


def _watermarked_row(ring, params: dict[str, Any] | None, seen: set[int]):
    """``(watermark, history ids, (temperature, top_k, top_p, min_p))`` for a row whose request
    names a watermark and can carry it; ``None`` for a row left alone (no watermark named, or a
    greedy request for a sampling scheme)."""
    if not params:
        return None
    wm = ring.for_request({k: v for k, v in params.items() if k != REQ_FIELD})
    if wm is None:
        return None
    if id(params) in seen:
        raise ValueError(
            "tokenmark: speculative decoding is not supported (one request, several "
            "rows); serve watermarked requests without it"
        )
    seen.add(id(params))
    req = params.get(REQ_FIELD)
    if req is None:
        raise ValueError(
            f"custom_params: no {REQ_FIELD!r} (the request): SGLang adds it when the "
            "server runs with --enable-custom-logit-processor"
        )
    sp = req.sampling_params
    if wm.scheme_name in SAMPLING_SCHEMES and int(sp.top_k) == 1:
        if not WatermarkLogitProcessor._warned_greedy:
            logger.warning(
                "tokenmark: a greedy request (temperature 0 / top_k 1) cannot carry a "
                "%s watermark; such requests are served unwatermarked",
                wm.scheme_name,
            )
            WatermarkLogitProcessor._warned_greedy = True
        return None
    history = np.concatenate(
        [
            np.asarray(req.origin_input_ids, dtype=np.int64),
            np.asarray(req.output_ids, dtype=np.int64),
        ]
    )
    return wm, history, (sp.temperature, sp.top_k, sp.top_p, sp.min_p)


def _overlap_schedule() -> bool | None:
    """Whether this SGLang server runs the overlap scheduler (its default); None where its
    server args cannot be read (not a scheduler process, or an SGLang without the accessor)."""
    try:
        from sglang.srt.server_args import get_global_server_args

        args = get_global_server_args()  # SGLang raises ValueError where it is not set
    except Exception:  # any failure here means: cannot tell
        return None
    disabled = getattr(args, "disable_overlap_schedule", None)
    return None if disabled is None else not disabled


def warp_like_sglang(
    logits: torch.Tensor,
    temperature: np.ndarray,
    top_k: np.ndarray,
    top_p: np.ndarray,
    min_p: np.ndarray,
) -> torch.Tensor:
    """The rows ``logits [n, vocab]`` divided by their temperature, with the tokens SGLang's
    torch sampling path would drop (top-k, then top-p on the sorted probabilities, then min-p
    relative to the largest probability) set to -inf. Returns a new tensor."""
    dev = logits.device
    t = torch.from_numpy(np.asarray(temperature, dtype=np.float32)).to(dev).unsqueeze(1)
    x = logits / t
    probs = torch.softmax(x, dim=-1)
    probs_sort, idx = probs.sort(dim=-1, descending=True)
    probs_sum = torch.cumsum(probs_sort, dim=-1)
    k = torch.from_numpy(np.asarray(top_k, dtype=np.int64)).to(dev).unsqueeze(1)
    p = torch.from_numpy(np.asarray(top_p, dtype=np.float32)).to(dev).unsqueeze(1)
    mp = torch.from_numpy(np.asarray(min_p, dtype=np.float32)).to(dev)
    rank = torch.arange(probs_sort.shape[1], device=dev).unsqueeze(0)
    drop = (rank >= k) | ((probs_sum - probs_sort) > p)
    drop |= probs_sort < (probs_sort[:, 0] * mp).unsqueeze(1)
    keep = torch.empty_like(drop).scatter_(1, idx, ~drop)
    return x.masked_fill_(~keep, -float("inf"))
