"""A short, seeded PyTorch training loop for causal LMs (fingerprinting and the study's
derivatives): full fine-tuning or only selected parameters, CPU or GPU."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .._validate import check_int
from ._models import embedding_size


def _select(model, trainable) -> list:
    if trainable is None:
        return [p for p in model.parameters()]
    if callable(trainable):
        keep = trainable
    elif isinstance(trainable, str):
        pat = re.compile(trainable)
        keep = lambda name: bool(pat.search(name))  # noqa: E731
    else:
        pats = [re.compile(t) for t in trainable]
        keep = lambda name: any(p.search(name) for p in pats)  # noqa: E731
    chosen = []
    for name, p in model.named_parameters():
        if keep(name):
            chosen.append(p)
    if not chosen:
        raise ValueError("trainable: selects no parameter of the model")
    return chosen


def train(
    model,
    examples: Sequence[dict[str, Sequence[int]]],
    *,
    steps: int,
    lr: float = 1e-3,
    batch_size: int = 16,
    trainable: str | Sequence[str] | Callable[[str], bool] | None = None,
    weight_decay: float = 0.0,
    warmup: int = 0,
    seed: int = 0,
    loss_fn: Callable[[Any, Any], Any] | None = None,
    log_every: int = 0,
    on_step: Callable[[int], None] | None = None,
) -> list[float]:
    """Fine-tune ``model`` in place on ``examples`` (AdamW, constant lr after a linear warmup).

    Parameters
    ----------
    model : a transformers causal LM (any ``torch.nn.Module`` returning ``.logits``), on the
        device it should train on.
    examples : ``{"input_ids": [...], "labels": [...]}`` dicts, one label per position (the
        transformers convention: the loss shifts them; -100: no loss), e.g.
        :meth:`Fingerprint.training_examples`; batches are drawn uniformly with replacement and
        right-padded.
    steps, lr, batch_size, weight_decay, warmup : the optimisation.
    trainable : None (all parameters), a regex or list of regexes matched against parameter
        names (``r"layers\\.[45]\\."``), or a predicate on the name. The others stay frozen.
    seed : batch order.
    loss_fn : ``loss_fn(model, batch) -> loss`` to replace the next-token loss (distillation).
    on_step : called with the number of steps done after each step (checkpoints, evaluation;
        the model is in train mode there and left as found).

    Returns
    -------
    The loss of every step.

    Example
    -------
    >>> import torch
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> from tokenmark.suspect.fingerprint import train
    >>> _ = torch.manual_seed(0)
    >>> m = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32,
    ...     num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2))
    >>> ex = [{"input_ids": [1, 2, 3, 4], "labels": [-100, -100, 3, 4]}]
    >>> losses = train(m, ex, steps=30, lr=1e-2, batch_size=2)
    >>> losses[-1] < losses[0]
    True
    """
    import torch

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps: must be an int >= 0, got {steps!r}")
    _check_examples(examples, embedding_size(model))
    batch_size = check_int(batch_size, "batch_size", 1, 2**31 - 1)
    warmup = check_int(warmup, "warmup", 0, 2**63 - 1)
    for name, v, lo in (("lr", lr, "> 0"), ("weight_decay", weight_decay, ">= 0")):
        ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        if not (ok and math.isfinite(v) and (v > 0 if name == "lr" else v >= 0)):
            raise ValueError(f"{name}: must be a finite number {lo}, got {v!r}")
    params = _select(model, trainable)
    frozen = []
    chosen = {id(p) for p in params}
    for p in model.parameters():
        if id(p) not in chosen and p.requires_grad:
            p.requires_grad_(False)
            frozen.append(p)
    device = next(model.parameters()).device
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.95))
    rng = np.random.default_rng(seed)
    losses: list[float] = []
    model.train()
    try:
        for step in range(steps):
            idx = rng.integers(0, len(examples), batch_size)
            batch = _collate([examples[i] for i in idx], device)
            for g in opt.param_groups:
                g["lr"] = lr * min(1.0, (step + 1) / warmup) if warmup else lr
            if loss_fn is None:
                logits = model(
                    input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
                ).logits
                loss = torch.nn.functional.cross_entropy(
                    logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                    batch["labels"][:, 1:].reshape(-1),
                    ignore_index=-100,
                )
            else:
                loss = loss_fn(model, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            losses.append(float(loss.detach()))
            if log_every and (step % log_every == 0 or step == steps - 1):
                print(f"  step {step:5d} loss {losses[-1]:.4f}", flush=True)
            if on_step is not None:
                on_step(step + 1)
                model.train()
    finally:
        for p in frozen:
            p.requires_grad_(True)
        model.eval()
    return losses


def _check_examples(examples: Any, vocab: int | None) -> None:
    """Each example a mapping with non-empty integer ``input_ids`` and ``labels`` of the same
    length, ids in ``[0, vocab)`` (labels also -100): labels are per position (the token at that
    position, or -100), as in transformers; only the batch's right padding gets -100 here."""
    if isinstance(examples, (str, bytes)) or not isinstance(examples, Sequence):
        raise TypeError(f"examples: must be a sequence of dicts, got {type(examples).__name__}")
    if not len(examples):
        raise ValueError("examples: empty")
    for i, ex in enumerate(examples):
        if not isinstance(ex, Mapping):
            raise TypeError(f"examples[{i}]: must be a dict, got {type(ex).__name__}")
        n = {}
        for key in ("input_ids", "labels"):
            if key not in ex:
                raise ValueError(f"examples[{i}]: has no {key!r}")
            arr = np.asarray(ex[key])
            if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
                raise TypeError(f"examples[{i}][{key!r}]: must be a 1-D sequence of ints")
            bad = (arr < 0) if vocab is None else (arr < 0) | (arr >= vocab)
            if key == "labels":
                bad &= arr != -100
            if bad.any():
                span = (
                    "negative" if vocab is None else f"outside the model's vocabulary [0, {vocab})"
                )
                raise ValueError(f"examples[{i}][{key!r}]: token id {int(arr[bad][0])} is {span}")
            n[key] = arr.size
        if not n["input_ids"]:
            raise ValueError(f"examples[{i}]: input_ids is empty")
        if n["labels"] != n["input_ids"]:
            raise ValueError(
                f"examples[{i}]: {n['labels']} labels for {n['input_ids']} input_ids; give one "
                "label per position (-100 where no loss is taken)"
            )


def _collate(rows: list[dict[str, Sequence[int]]], device) -> dict[str, Any]:
    import torch

    n = max(len(r["input_ids"]) for r in rows)
    ids = torch.zeros((len(rows), n), dtype=torch.long)
    labels = torch.full((len(rows), n), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.long)
    for i, r in enumerate(rows):
        k = len(r["input_ids"])
        ids[i, :k] = torch.as_tensor(list(r["input_ids"]), dtype=torch.long)
        labels[i, :k] = torch.as_tensor(list(r["labels"]), dtype=torch.long)
        mask[i, :k] = 1
    return {
        "input_ids": ids.to(device),
        "labels": labels.to(device),
        "attention_mask": mask.to(device),
    }
