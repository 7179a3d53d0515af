"""A transformers ``LogitsProcessor`` that applies a tokenmark watermark inside ``generate``."""

from __future__ import annotations

import numpy as np
import torch
from transformers import LogitsProcessor

from .. import backends, ops
from .._validate import check_salt, host_ids, host_view
from ..ops._common import no_finite_rows


def check_tensors(input_ids, scores) -> None:
    """A processor's arguments: torch tensors, the ids of an integer dtype (floats and bools are
    refused, never truncated). Cheap: dtypes only, no pass over the values (the kernels check
    the ids' range)."""
    if not isinstance(scores, torch.Tensor):
        raise TypeError(f"scores: expected a torch tensor, got {type(scores).__name__}")
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(f"input_ids: expected a torch tensor, got {type(input_ids).__name__}")
    dt = input_ids.dtype
    if dt is not torch.int64 and (dt.is_floating_point or dt.is_complex or dt is torch.bool):
        name = str(dt).removeprefix("torch.")
        raise TypeError(f"input_ids: expected integer token ids, got dtype {name}")


def host_step(input_ids, scores) -> np.ndarray:
    """The dialect processors' checks: ``scores`` a floating-point torch tensor [batch, vocab]
    (vocab >= 1), ``input_ids`` an integer torch tensor [batch, length] with ids in [0, 2^31);
    returns the ids as host numpy (int32 or int64)."""
    check_tensors(input_ids, scores)
    if not scores.is_floating_point():
        dtype = str(scores.dtype).removeprefix("torch.")
        raise TypeError(f"scores: expected floating-point logits, got dtype {dtype}")
    if scores.dim() != 2 or scores.shape[1] == 0:
        raise ValueError(f"scores: expected [batch, vocab] (vocab >= 1), got {tuple(scores.shape)}")
    return host_ids(input_ids, scores.shape[0])


class _OnDevice:
    """Per-device copies of a processor's fixed host arrays, made on first use. A decode step then
    copies nothing from the host: a copy from pageable host memory waits for the GPU (a host
    sync). uint32 arrays travel as int32 with the same bits, as the CUDA wrappers take them."""

    def __init__(self, *arrays: np.ndarray):
        self._host = arrays
        self._dev: dict[torch.device, tuple[torch.Tensor, ...]] = {}

    @property
    def host(self) -> tuple[np.ndarray, ...]:
        """The host arrays themselves (uint32 as uint32), for the host kernels."""
        return self._host

    def get(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        out = self._dev.get(device)
        if out is None:
            out = tuple(
                torch.from_numpy(np.array(a.view(np.int32) if a.dtype == np.uint32 else a)).to(
                    device
                )
                for a in self._host
            )
            self._dev[device] = out
        return out


class _HostCall:
    """A processor's host kernel, resolved once: the scheme's parameters were checked when it was
    made and the binding checks the arrays, so a decode step on host logits goes straight to the
    kernel instead of through the public op's normalisation (validate once, launch many). None
    where the backend is not a host one (``triton`` under the interpreter takes host tensors).

    On the C++ backend, ``make_step`` builds the scheme's step object of
    :mod:`tokenmark.backends.cpu` (the parameters checked once, in C++), and a step whose
    tensors :func:`_step_args` accepts makes one call with their addresses: the whole step, bias
    or sample and one-hot rows. Inside ``generate`` every code path a step touches first runs
    with cold caches (the model's forward pass evicted them): a numpy view of a tensor costs
    ~20 us there, the kernel a few. Other tensors (bfloat16, strided rows, autograd) take the
    numpy path."""

    def __init__(self, op: str, backend: str, make_step=None):
        self._op, self._backend, self._make_step, self._fn = op, backend, make_step, None
        self.step = None

    def get(self):
        if self._fn is None:
            name = backends.resolve(self._backend, on_cuda=False)
            if name not in backends.HOST_BACKENDS:
                self._fn = False
            else:
                self._fn = backends.get(self._op, name)
                if name == "cpu" and self._make_step is not None:
                    self.step = self._make_step()
        return self._fn or None

    def run_step(self, input_ids: torch.Tensor, scores: torch.Tensor, *extra) -> bool:
        """The step object on tensors it can address (True), or False: no step object on this
        backend, or tensors for the numpy path."""
        if self.step is None:
            return False
        ids, args = _step_args(input_ids, scores)  # ids: kept alive for the call
        if args is None:
            return False
        self.step(*args, *extra)
        return True


def _step_args(input_ids: torch.Tensor, scores: torch.Tensor):
    """``(ids, args)`` for a C++ step object: ``args`` the addresses and sizes of C-contiguous
    CPU float32 / float16 logits [batch, vocab] and int64 ids [batch, len] (``ids``, converted
    if needed: keep it alive for the call), or ``(None, None)`` where the logits are not such a
    tensor (bfloat16, strided rows, autograd, a negative view) or the shapes do not match: the
    numpy path then handles them, errors included."""
    dtype = scores.dtype
    if (
        (dtype is not torch.float32 and dtype is not torch.float16)
        or not scores.is_cpu
        or scores.requires_grad
        or scores.dim() != 2
        or not scores.is_contiguous()
        or scores.is_neg()
    ):
        return None, None
    ids = input_ids
    if ids.dtype is not torch.int64 or not ids.is_cpu or not ids.is_contiguous():
        ids = ids.to("cpu", torch.int64).contiguous()
    batch, vocab = scores.shape
    if ids.dim() != 2 or ids.shape[0] != batch:
        return None, None
    half = dtype is torch.float16
    return ids, (scores.data_ptr(), half, batch, vocab, ids.data_ptr(), ids.shape[1])


def _host_rows(input_ids: torch.Tensor, scores: torch.Tensor):
    """``(logits view, dtype name, ids)`` of a host step, the ids as int64 contiguous numpy."""
    arr, dtype = host_view(scores, "scores")
    ids = input_ids.numpy()
    if ids.dtype != np.int64 or not ids.flags.c_contiguous:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
    if ids.ndim != 2 or ids.shape[0] != arr.shape[0]:
        raise ValueError(f"input_ids: expected shape [{arr.shape[0]}, length], got {ids.shape}")
    return arr, dtype, ids


def _one_hot_host_(scores: torch.Tensor, tokens: np.ndarray) -> torch.Tensor:
    """Rows with a token (>= 0) become one-hot at it (0 there, -inf elsewhere), in place."""
    no_finite_rows(tokens)
    rows = np.flatnonzero(tokens >= 0)
    if rows.size == 0:
        return scores
    if scores.dtype in (torch.float32, torch.float16):
        arr = scores.detach().numpy()  # in place, bypassing autograd (as KGW's bias)
        arr[rows] = -np.inf
        arr[rows, tokens[rows]] = 0.0
    else:
        r, data = torch.from_numpy(rows), scores.detach()
        data[r] = -float("inf")
        data[r, torch.from_numpy(tokens[rows])] = 0.0
    return scores


class KGWLogitsProcessor(LogitsProcessor):
    """Adds the KGW bias to the green tokens of every row, in one fused pass over the logits.

    Works with sampling, greedy and beam search, batches and left padding (each row's context is
    its last ``context_width`` ids; padding only ever sits on the left), and logits wider than the
    tokenizer's vocabulary (green membership needs no vocabulary size). On a CUDA device the
    per-row parameters live in device tensors made on the first call: later calls do no host
    sync and no allocation, so the step can be captured in a CUDA graph.

    >>> import tokenmark as tm
    >>> proc = tm.KGW(key=b"k").logits_processor()
    >>> # model.generate(**inputs, do_sample=True, logits_processor=[proc])
    """

    def __init__(self, scheme, backend: str = "auto"):
        self.scheme = scheme
        self.backend = backend
        self._params = _OnDevice(*scheme.row_params)
        self._host = _HostCall(
            "apply_kgw_bias_",
            backend,
            lambda: backends.cpu.kgw_step(
                *scheme.row_params, scheme.context_width, scheme.seeding_code
            ),
        )

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        check_tensors(input_ids, scores)
        if scores.stride(-1) != 1:
            scores = scores.contiguous()
        s = self.scheme
        fn = None if scores.is_cuda else self._host.get()
        if fn is not None:
            if self._host.run_step(input_ids, scores):
                return scores
            arr, dtype, ids = _host_rows(input_ids, scores)
            fn(arr, dtype, ids, *s.row_params, None, s.context_width, s.seeding_code)
            return scores
        if scores.is_cuda:
            keys, thr, deltas = self._params.get(scores.device)
        else:
            keys, thr, deltas = s.row_params
        ops.apply_kgw_bias_(
            scores,
            input_ids,
            keys=keys,
            thresholds=thr,
            deltas=deltas,
            context_width=s.context_width,
            seeding=s.seeding_code,
            backend=self.backend,
        )
        return scores

    def __repr__(self) -> str:
        return f"KGWLogitsProcessor({self.scheme!r}, backend={self.backend!r})"


def _one_hot_on_device(scores: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Tokens as a tensor on the logits' device: each row with a token (>= 0) becomes one-hot at
    it (0 there, -inf elsewhere); rows without one (negative) stay as they are. No host sync."""
    chosen = tokens >= 0
    one_hot = torch.full_like(scores, -float("inf"))
    one_hot.scatter_(1, tokens.clamp(min=0).unsqueeze(1), 0.0)
    return torch.where(chosen.unsqueeze(1), one_hot, scores)


class GumbelLogitsProcessor(LogitsProcessor):
    """Makes ``generate`` emit the Gumbel-max watermark's choice.

    Each watermarked row comes back with its chosen token at 0 and every other entry at -inf, so
    sampling (``do_sample=True``) and greedy decoding both pick it; rows left unwatermarked
    (repeated context, fewer than ``context_width`` ids) come back unchanged and are sampled as
    usual. The choice is made from the logits this processor receives, so it must come last:
    generate appends its own temperature / top-k / top-p warpers *after* the processors you pass,
    where they can no longer change a one-hot row. To sample at temperature 0.7 with top-k 50, pass
    ``[TemperatureLogitsWarper(0.7), TopKLogitsWarper(50), wm.logits_processor()]`` (with
    ``top_k=0`` or the defaults to ``generate``). Host and CUDA logits (CUDA: no host sync).

    >>> import tokenmark as tm
    >>> proc = tm.Gumbel(key=b"k").logits_processor()
    >>> # model.generate(**inputs, do_sample=True, logits_processor=[proc])
    """

    def __init__(self, scheme, salt=0, backend: str = "auto"):
        self.scheme = scheme
        self.salt = salt
        self.backend = backend
        self._params = _OnDevice(scheme.key.words.reshape(1, 4), check_salt(salt))
        self._args = (scheme.context_width, scheme.seeding_code, scheme.skip_repeated)
        self._host = _HostCall(
            "sample_gumbel",
            backend,
            lambda: backends.cpu.gumbel_step(*self._params.host, *self._args),
        )

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        check_tensors(input_ids, scores)
        if scores.stride(-1) != 1:
            scores = scores.contiguous()
        fn = None if scores.is_cuda else self._host.get()
        if fn is not None:
            if self._host.run_step(input_ids, scores):
                return scores
            arr, dtype, ids = _host_rows(input_ids, scores)
            tokens = fn(arr, dtype, ids, *self._params.host, None, *self._args)
            return _one_hot_host_(scores, tokens)
        if scores.is_cuda:
            s = self.scheme
            keys, salts = self._params.get(scores.device)
            tokens = ops.sample_gumbel(
                scores,
                input_ids,
                keys=keys,
                salts=salts,
                context_width=s.context_width,
                seeding=s.seeding_code,
                skip_repeated=s.skip_repeated,
                backend=self.backend,
            )
            return _one_hot_on_device(scores, tokens)
        # backend="triton" under the interpreter: host tensors, a tensor of tokens back.
        tokens = self.scheme.choose(scores, input_ids, salt=self.salt, backend=self.backend)
        return _one_hot_on_device(scores, torch.as_tensor(tokens))

    def __repr__(self) -> str:
        return f"GumbelLogitsProcessor({self.scheme!r}, backend={self.backend!r})"


class SynthIDLogitsProcessor(LogitsProcessor):
    """Makes ``generate`` emit SynthID-Text's tournament sample.

    Every row comes back with the sampled token at 0 and every other entry at -inf, so
    ``do_sample=True`` and greedy decoding both emit it. The sampling draw of each row is
    ``torch.rand`` from torch's default generator, so ``torch.manual_seed`` before ``generate``
    makes generation reproducible. It samples from the logits it receives, so it must come last:
    pass your ``TemperatureLogitsWarper`` / ``TopPLogitsWarper`` before it in the list (generate
    appends its own warpers after it, where they can no longer change a one-hot row). Host and
    CUDA logits (CUDA: no host sync; the draws come from torch's CUDA generator, and a row
    without a finite logit is passed on unchanged).

    >>> import tokenmark as tm
    >>> proc = tm.SynthID(key=b"k").logits_processor()
    >>> # model.generate(**inputs, do_sample=True, logits_processor=[proc])
    """

    def __init__(self, scheme, backend: str = "auto"):
        self.scheme = scheme
        self.backend = backend
        self._keys = _OnDevice(scheme.key.words.reshape(1, 4))
        self._args = (
            scheme.context_width,
            scheme.seeding_code,
            scheme.layers,
            scheme.top_k,
            scheme.context_history,
        )
        self._host = _HostCall(
            "sample_synthid",
            backend,
            lambda: backends.cpu.synthid_step(self._keys.host[0], *self._args),
        )

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        check_tensors(input_ids, scores)
        if scores.stride(-1) != 1:
            scores = scores.contiguous()
        uniforms = torch.rand(scores.shape[0], dtype=torch.float64, device=scores.device)
        s = self.scheme
        fn = None if scores.is_cuda else self._host.get()
        if fn is not None:
            if self._host.run_step(input_ids, scores, uniforms.data_ptr()):
                return scores
            arr, dtype, ids = _host_rows(input_ids, scores)
            tokens, _ = fn(arr, dtype, ids, self._keys.host[0], uniforms.numpy(), None, *self._args)
            return _one_hot_host_(scores, tokens)
        if scores.is_cuda:
            tokens, _ = ops.sample_synthid(
                scores,
                input_ids,
                keys=self._keys.get(scores.device)[0],
                uniforms=uniforms,
                context_width=s.context_width,
                seeding=s.seeding_code,
                layers=s.layers,
                top_k=s.top_k,
                context_history=s.context_history,
                backend=self.backend,
            )
            return _one_hot_on_device(scores, tokens)
        # backend="triton" under the interpreter: host tensors, a tensor of tokens back.
        tokens = self.scheme.sample(scores, input_ids, uniforms=uniforms, backend=self.backend)
        return _one_hot_on_device(scores, torch.as_tensor(tokens))

    def __repr__(self) -> str:
        return f"SynthIDLogitsProcessor({self.scheme!r}, backend={self.backend!r})"
