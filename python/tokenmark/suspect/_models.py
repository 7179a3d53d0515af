"""How the suspect tests query a model: a transformers causal LM or a plain callable, greedy
continuation of prompts (fingerprints) and argmax predictions after every position
(radioactivity), with the checks on what a callable returns. The statistics live in the modules
that use these."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._inputs import as_ragged
from .._validate import check_int

GenerateFn = Callable[[list[list[int]], int], Sequence[Sequence[int]]]


def is_torch_model(obj: Any) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is required for models
        return False
    return isinstance(obj, torch.nn.Module)


def as_rows(got: Any) -> list:
    try:
        import torch

        if isinstance(got, torch.Tensor):
            return got.tolist()
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(
        f"generate_fn output: must be a sequence of token id sequences, got {type(got).__name__}"
    )


def as_int_row(row: Any) -> np.ndarray:
    if hasattr(row, "tolist"):
        row = row.tolist()
    if isinstance(row, (str, bytes)) or not isinstance(row, (list, tuple)):
        raise TypeError(
            f"generate_fn output: each continuation must be a list of token ids, got "
            f"{type(row).__name__}"
        )
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in row):
        raise TypeError("generate_fn output: token ids must be ints")
    if any(not -(2**63) <= int(v) < 2**63 for v in row):
        raise ValueError("generate_fn output: a token id is out of range (ids must fit int64)")
    return np.asarray([int(v) for v in row], dtype=np.int64)


def embedding_size(model) -> int | None:
    """How many token ids ``model`` embeds (``get_input_embeddings().num_embeddings``, as
    transformers models say), None for a model that does not say."""
    get = getattr(model, "get_input_embeddings", None)
    if not callable(get):
        return None
    try:
        n = getattr(get(), "num_embeddings", None)
    except NotImplementedError:
        return None
    return None if n is None else int(n)


def check_ids_embedded(model, top: int, name: str) -> None:
    """Refuses a largest token id ``top`` (of the argument ``name``) that ``model`` has no
    embedding for, before torch's IndexError would."""
    n = embedding_size(model)
    if n is not None and top >= n:
        raise ValueError(f"{name}: token id {top} is beyond the model's vocabulary of {n} tokens")


def greedy_fn(model, vocab_size: int) -> GenerateFn:
    """Greedy decoding with full forward passes (prompts here are short and of equal length
    within a call, so no padding or cache is needed and no generation config can interfere)."""
    import torch

    @torch.no_grad()
    def gen(prompts: list[list[int]], max_new_tokens: int) -> list[list[int]]:
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        out: list[list[int]] = [[] for _ in prompts]
        by_len: dict[int, list[int]] = {}
        for i, p in enumerate(prompts):
            by_len.setdefault(len(p), []).append(i)
        for idx in by_len.values():
            x = torch.tensor([prompts[i] for i in idx], dtype=torch.long, device=device)
            for _ in range(max_new_tokens):
                logits = last_logits(model, x)[:, :vocab_size]
                nxt = logits.float().argmax(dim=-1, keepdim=True)
                x = torch.cat([x, nxt], dim=1)
            for row, i in enumerate(idx):
                out[i] = x[row, len(prompts[i]) :].tolist()
        model.train(was_training)
        return out

    return gen


def last_logits(model, x):
    """Next-token logits ``[batch, vocab]``; only the last position through the LM head where the
    model supports ``logits_to_keep`` (transformers >= 4.45 causal LMs)."""
    try:
        return model(input_ids=x, logits_to_keep=1).logits[:, -1]
    except TypeError:
        return model(input_ids=x).logits[:, -1]


def _predict_fn(model_or_fn) -> Callable:
    """A callable ``ids LongTensor [b, s] -> scores [b, s, vocab]`` (logits or probabilities)."""
    import torch

    if isinstance(model_or_fn, torch.nn.Module):
        model = model_or_fn

        def fn(ids):
            return model(input_ids=ids.to(next(model.parameters()).device)).logits

        return fn
    if callable(model_or_fn):
        return model_or_fn
    raise TypeError(
        "model_or_fn: expected a transformers causal LM or a callable "
        "(input_ids [batch, seq]) -> scores [batch, seq, vocab]"
    )


def _argmax(scores, lengths: list[int]):
    """The argmax over the vocab axis of ``scores [batch, seq, vocab]`` (what ``model_or_fn``
    returned for right-padded texts of these lengths), checked where a text reads it: a NaN, a
    +inf or a row with every token at -inf (masked) has no meaningful argmax."""
    import torch

    want = f"[{len(lengths)}, {max(lengths)}, vocab >= 1]"
    shape = tuple(getattr(scores, "shape", ()))
    if len(shape) != 3 or shape[:2] != (len(lengths), max(lengths)) or shape[2] < 1:
        got = shape if hasattr(scores, "shape") else type(scores).__name__
        raise ValueError(f"model_or_fn: expected scores {want}, got {got}")
    try:
        scores = torch.as_tensor(scores)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"model_or_fn: expected numeric scores {want}") from None
    if scores.dtype == torch.bool or scores.is_complex():
        raise TypeError(f"model_or_fn: expected real scores, got {scores.dtype}")
    if scores.is_floating_point():
        top = scores.amax(dim=-1).cpu()  # NaN if any is, +inf if any is, -inf if all are
        read = torch.arange(top.shape[1]) < torch.tensor(lengths)[:, None]
        if not torch.isfinite(top[read]).all():
            raise ValueError(
                "model_or_fn: returned NaN or +inf scores, or a position with every token at "
                "-inf (no prediction)"
            )
    return scores.argmax(dim=-1)


def predict_argmax(model_or_fn, texts, *, batch_size: int = 16) -> list[np.ndarray]:
    """The suspect's argmax prediction after every position of every text (``len(text)`` ids).

    ``model_or_fn``: a transformers causal LM or a callable ``fn(input_ids LongTensor [b, s]) ->
    scores [b, s, vocab]`` (logits or probabilities of the next token after each position).
    Texts are right-padded in batches; a causal model never reads the padding of a position.
    -inf scores (masked tokens) are allowed; NaN, +inf, or -inf for every token at a position of
    a text is refused (no meaningful prediction).
    """
    import torch

    batch_size = check_int(batch_size, "batch_size", 1, 2**31 - 1)
    fn = _predict_fn(model_or_fn)
    rag = as_ragged(texts, "texts")
    docs = [np.asarray(rag[d], dtype=np.int64) for d in range(len(rag))]
    if isinstance(model_or_fn, torch.nn.Module):
        top = max((int(x.max()) for x in docs if x.size), default=-1)
        check_ids_embedded(model_or_fn, top, "texts")
    out: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(docs)
    order = [d for d in np.argsort([len(x) for x in docs], kind="stable") if len(docs[d])]
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            part = order[s : s + batch_size]
            length = max(len(docs[d]) for d in part)
            ids = torch.zeros((len(part), length), dtype=torch.long)
            for r, d in enumerate(part):
                ids[r, : len(docs[d])] = torch.from_numpy(docs[d])
            lengths = [len(docs[d]) for d in part]
            pred = _argmax(fn(ids), lengths).cpu().numpy()
            for r, d in enumerate(part):
                out[d] = pred[r, : len(docs[d])].astype(np.int64)
    return out
