"""Weight provenance: do a suspect model's weights derive from ours? (white box)

A copier can change a model's weights without changing what it computes: permute the residual
dimensions (with sign flips), the MLP hidden units and the attention heads, rescale between
adjacent layers (a norm's gain against the next matrix's columns, ``up`` rows against ``down``
columns, ``q`` against ``k`` and ``v`` against ``o`` within a head), change the dtype. The
statistic here is invariant to all of these, and survives fine-tuning, quantisation and pruning
as far as they leave the weights close:

1. Norm gains are folded into the matrices that read the normalised residual (so per-dimension
   rescaling between a norm and the next layer cancels), everything is read in float64.
2. The residual dimensions are matched by the Hungarian algorithm
   (``scipy.optimize.linear_sum_assignment``) on the absolute correlation of the token embedding
   columns: tokens index the rows, and the tokenizer is the one thing a copier cannot permute.
   The signs of the matched correlations undo sign flips.
3. In each layer the MLP units are matched (Hungarian) on the mean absolute cosine of their
   ``gate`` row, ``up`` row and ``down`` column, and the heads on the mean absolute cosine of
   their ``W_q^T W_k`` and ``W_o W_v`` (d x d products, invariant to any change of basis inside
   a head).
4. The statistic is the mean over the embedding match and every layer's MLP and head matches.

A copy scores near 1. Independently trained models (same architecture and tokenizer) score what
shared training data and chance give; :func:`compare` turns the score into a p-value against
such a null (models trained from other seeds, supplied by the caller): the empirical
``(1 + #{null >= observed}) / (1 + n_null)``, exact for exchangeable models, and a normal-fit
z-score to read beyond the null's smallest attainable p-value (an approximation; reported apart).

The null matters: independently trained models score higher the longer they train, and students
distilled from our logits scored a little above short-trained independent models in
``bench/FINETUNE.md`` (0.13 against 0.12-0.13; derivatives of our weights 0.95-1.0). Train the null
as long as the suspect was trained, and do not read a small excess over it as derivation.

Supported: Llama-style causal LMs (Llama, Mistral, Qwen2 layouts: ``embed_tokens``,
``layers.i.self_attn.{q,k,v,o}_proj``, ``layers.i.mlp.{gate,up,down}_proj``, RMSNorm gains).
The statistic reads the weight matrices only, not the projections' biases (Qwen2's q/k/v,
Llama's ``attention_bias``/``mlp_bias``); :func:`permute_and_rescale` carries them along.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import check_alpha
from ._llama import Weights, check_biases, extract, permute_model_

__all__ = ["ProvenanceResult", "compare", "permute_and_rescale", "statistic"]


@dataclass(frozen=True)
class ProvenanceResult:
    """A suspect's provenance score against a reference and a null of independent models.

    ``statistic`` is the mean matched similarity (1 for an exact copy, invariant to the free
    transformations); ``components`` its parts (``embedding``, ``layer{i}.mlp``,
    ``layer{i}.attn``); ``null`` the null models' statistics against the same reference;
    ``p_value`` the empirical ``(1 + #{null >= statistic}) / (1 + len(null))`` (valid when
    the suspect, under the null, is exchangeable with the null models; never below
    ``1 / (1 + len(null))``); ``z`` and ``p_value_normal`` the same comparison under a normal
    fit of the null (an extrapolation, for reading). A null without spread (equal statistics)
    has no normal fit: ``p_value_normal`` is NaN and ``z`` is +inf above the null, -inf below
    it and NaN on it.
    """

    statistic: float
    components: dict[str, float]
    null: np.ndarray
    p_value: float
    z: float
    p_value_normal: float
    residual_permutation: np.ndarray = field(repr=False)

    def is_derived(self, alpha: float = 0.05) -> bool:
        """True when the empirical ``p_value <= alpha``."""
        return bool(self.p_value <= check_alpha(alpha))

    def __repr__(self) -> str:
        return (
            f"ProvenanceResult(statistic={self.statistic:.4f}, n_null={self.null.size}, "
            f"null_max={self.null.max() if self.null.size else float('nan'):.4f}, "
            f"p_value={self.p_value:.3g}, z={self.z:.1f}, p_value_normal={self.p_value_normal:.3g})"
        )


# -- invariant matching --------------------------------------------------------------------------


def _unit_rows(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


def _abs_cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|cos| between every row of ``a`` and every row of ``b``."""
    return np.abs(_unit_rows(a) @ _unit_rows(b).T)


def _match(sim: np.ndarray) -> tuple[float, np.ndarray]:
    from scipy import optimize

    rows, cols = optimize.linear_sum_assignment(sim, maximize=True)
    return float(sim[rows, cols].mean()), cols


def _head_products(w: dict[str, np.ndarray], s: Weights) -> tuple[np.ndarray, np.ndarray]:
    """Per query head, flattened ``W_q^T W_k`` and ``W_o W_v`` ([n_heads, d*d] each)."""
    hd, group = s.head_dim, s.n_heads // s.n_kv
    qk, ov = [], []
    for h in range(s.n_heads):
        kv = h // group
        q = w["q"][h * hd : (h + 1) * hd]
        k = w["k"][kv * hd : (kv + 1) * hd]
        v = w["v"][kv * hd : (kv + 1) * hd]
        o = w["o"][:, h * hd : (h + 1) * hd]
        qk.append((q.T @ k).ravel())
        ov.append((o @ v).ravel())
    return np.stack(qk), np.stack(ov)


def _score(
    sus: Weights, ref: Weights, name: str = "suspect"
) -> tuple[float, dict[str, float], np.ndarray]:
    """The statistic of ``sus`` (the argument called ``name``) against ``ref``."""
    if sus.embed.shape[0] != ref.embed.shape[0]:
        raise ValueError(
            f"{name}: vocabulary of {sus.embed.shape[0]} tokens, the reference's "
            f"{ref.embed.shape[0]}; provenance compares models that share a tokenizer"
        )
    shape_s = (sus.embed.shape[1], len(sus.layers), sus.n_heads, sus.n_kv, sus.head_dim)
    shape_r = (ref.embed.shape[1], len(ref.layers), ref.n_heads, ref.n_kv, ref.head_dim)
    mlp_s = [w["up"].shape[0] for w in sus.layers]
    mlp_r = [w["up"].shape[0] for w in ref.layers]
    if shape_s != shape_r or mlp_s != mlp_r:
        raise ValueError(
            f"{name}: architecture (hidden, layers, heads, kv heads, head_dim, MLP widths) "
            f"{shape_s + tuple(mlp_s)} differs from the reference's {shape_r + tuple(mlp_r)}"
        )
    # Residual alignment from the token-indexed embedding columns.
    es = sus.embed - sus.embed.mean(axis=0)
    er = ref.embed - ref.embed.mean(axis=0)
    corr = _unit_rows(er.T) @ _unit_rows(es.T).T  # [d_ref, d_sus]
    emb_score, perm = _match(np.abs(corr))
    sign = np.sign(corr[np.arange(corr.shape[0]), perm])
    sign[sign == 0] = 1.0
    comps = {"embedding": emb_score}
    for i, (ws, wr) in enumerate(zip(sus.layers, ref.layers)):
        a = {k: ws[k][:, perm] * sign for k in ("q", "k", "v", "gate", "up")}
        a["o"] = ws["o"][perm] * sign[:, None]
        a["down"] = ws["down"][perm] * sign[:, None]
        mlp = (
            _abs_cos(wr["gate"], a["gate"])
            + _abs_cos(wr["up"], a["up"])
            + _abs_cos(wr["down"].T, a["down"].T)
        ) / 3.0
        comps[f"layer{i}.mlp"] = _match(mlp)[0]
        qk_r, ov_r = _head_products(wr, ref)
        qk_s, ov_s = _head_products(a, sus)
        comps[f"layer{i}.attn"] = _match((_abs_cos(qk_r, qk_s) + _abs_cos(ov_r, ov_s)) / 2.0)[0]
    total = float(np.mean(list(comps.values())))
    return total, comps, perm


def statistic(suspect: Any, reference: Any) -> tuple[float, dict[str, float]]:
    """The invariant similarity of ``suspect`` to ``reference`` and its components.

    Example
    -------
    >>> import torch
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> from tokenmark.suspect import provenance
    >>> cfg = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32,
    ...     num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2)
    >>> _ = torch.manual_seed(0)
    >>> ours = LlamaForCausalLM(cfg)
    >>> copy = provenance.permute_and_rescale(ours, seed=1)
    >>> round(provenance.statistic(copy, ours)[0], 6)
    1.0
    """
    ref = extract(reference, "reference")
    sus = extract(suspect, "suspect")
    total, comps, _ = _score(sus, ref)
    return total, comps


def compare(suspect: Any, reference: Any, null: Sequence[Any]) -> ProvenanceResult:
    """Test whether ``suspect``'s weights derive from ``reference``'s.

    Parameters
    ----------
    suspect, reference : Llama-style transformers causal LMs with the same tokenizer and shape.
    null : independently trained models of the reference's configuration (other seeds), or
        their precomputed statistics against this reference (floats), at least 2. The p-value
        is only as good as this null: train it like the reference (data, steps) so that what
        independent training shares by itself is in it.

    Returns
    -------
    :class:`ProvenanceResult`.

    Example
    -------
    >>> import torch
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> from tokenmark.suspect import provenance
    >>> cfg = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32,
    ...     num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2)
    >>> models = []
    >>> for seed in range(4):
    ...     _ = torch.manual_seed(seed)
    ...     models.append(LlamaForCausalLM(cfg))
    >>> ours, others = models[0], models[1:]
    >>> res = provenance.compare(provenance.permute_and_rescale(ours), ours, null=others)
    >>> res.p_value, bool(res.statistic > max(res.null))
    (0.25, True)
    """
    from scipy import stats

    if isinstance(null, (str, bytes)) or not isinstance(null, Sequence):
        raise TypeError(f"null: must be a sequence of models or floats, got {type(null).__name__}")
    if len(null) < 2:
        raise ValueError(f"null: need at least 2 independently trained models, got {len(null)}")
    ref = extract(reference, "reference")
    sus = extract(suspect, "suspect")
    total, comps, perm = _score(sus, ref)
    null_stats = []
    for j, m in enumerate(null):
        if isinstance(m, (float, int, np.floating, np.integer)) and not isinstance(m, bool):
            if not math.isfinite(float(m)):
                raise ValueError(f"null: entry {j} is not finite")
            null_stats.append(float(m))
        else:
            null_stats.append(_score(extract(m, f"null[{j}]"), ref, f"null[{j}]")[0])
    nul = np.asarray(null_stats, dtype=np.float64)
    p_emp = (1.0 + float(np.sum(nul >= total))) / (1.0 + nul.size)
    mean, sd = float(nul.mean()), float(nul.std(ddof=1))
    if sd > 0:
        z = (total - mean) / sd
        p_normal = float(stats.norm.sf(z))
    else:  # no spread to scale by: no normal fit, only the side of the null
        z = math.copysign(math.inf, total - mean) if total != mean else math.nan
        p_normal = math.nan
    return ProvenanceResult(
        statistic=total,
        components=comps,
        null=nul,
        p_value=p_emp,
        z=z,
        p_value_normal=p_normal,
        residual_permutation=perm,
    )


# -- what a copier does for free ------------------------------------------------------------------


def permute_and_rescale(model: Any, seed: int = 0) -> Any:
    """A copy of ``model`` that computes the same function with different-looking weights.

    Permutes the residual dimensions (with random sign flips), the MLP units and the attention
    heads (kv groups with their query heads), and rescales: each norm gain against the columns
    that read it, ``up`` rows against ``down`` columns, ``q`` against ``k`` and ``v`` against
    ``o`` per head (random factors in [0.5, 2]). The projections' biases follow their rows.
    For testing :func:`compare` and the study.

    Example
    -------
    >>> import torch
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> from tokenmark.suspect.provenance import permute_and_rescale
    >>> _ = torch.manual_seed(0)
    >>> m = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32,
    ...     num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2)).eval()
    >>> x = torch.tensor([[1, 5, 9, 3]])
    >>> bool(torch.allclose(m(x).logits, permute_and_rescale(m)(x).logits, atol=1e-4))
    True
    """
    extract(model, "model")  # validates the layout
    check_biases(model, "model")
    out = copy.deepcopy(model)
    permute_model_(out, np.random.default_rng(seed))
    return out
