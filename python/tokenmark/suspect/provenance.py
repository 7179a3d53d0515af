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
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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
    fit of the null (an extrapolation, for reading).
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
        return bool(self.p_value <= alpha)

    def __repr__(self) -> str:
        return (
            f"ProvenanceResult(statistic={self.statistic:.4f}, n_null={self.null.size}, "
            f"null_max={self.null.max() if self.null.size else float('nan'):.4f}, "
            f"p_value={self.p_value:.3g}, z={self.z:.1f}, p_value_normal={self.p_value_normal:.3g})"
        )


# -- weight extraction ---------------------------------------------------------------------------


@dataclass
class _Weights:
    embed: np.ndarray  # [vocab, d]
    layers: list[dict[str, np.ndarray]]  # q, k, v, gate, up: [out, d] norm folded; o, down: [d, *]
    n_heads: int
    n_kv: int
    head_dim: int


def _extract(model: Any, name: str) -> _Weights:
    try:
        import torch
    except ImportError as e:  # pragma: no cover
        raise ImportError("provenance needs torch") from e
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "config"):
        raise TypeError(f"{name}: must be a transformers causal LM, got {type(model).__name__}")
    sd = model.state_dict()
    emb_keys = [k for k in sd if k.endswith("embed_tokens.weight")]
    if len(emb_keys) != 1:
        raise ValueError(f"{name}: not a Llama-style model (no unique embed_tokens.weight)")
    prefix = emb_keys[0][: -len("embed_tokens.weight")]
    cfg = model.config
    n_heads = int(cfg.num_attention_heads)
    n_kv = int(getattr(cfg, "num_key_value_heads", None) or n_heads)
    d = int(cfg.hidden_size)
    head_dim = int(getattr(cfg, "head_dim", None) or d // n_heads)

    def get(key: str) -> np.ndarray:
        if key not in sd:
            raise ValueError(f"{name}: not a Llama-style model (missing {key})")
        return sd[key].detach().to(device="cpu", dtype=torch.float64).numpy()

    layers = []
    i = 0
    while f"{prefix}layers.{i}.self_attn.q_proj.weight" in sd:
        p = f"{prefix}layers.{i}."
        g_attn = get(p + "input_layernorm.weight")
        g_mlp = get(p + "post_attention_layernorm.weight")
        layers.append(
            {
                "q": get(p + "self_attn.q_proj.weight") * g_attn,
                "k": get(p + "self_attn.k_proj.weight") * g_attn,
                "v": get(p + "self_attn.v_proj.weight") * g_attn,
                "o": get(p + "self_attn.o_proj.weight"),
                "gate": get(p + "mlp.gate_proj.weight") * g_mlp,
                "up": get(p + "mlp.up_proj.weight") * g_mlp,
                "down": get(p + "mlp.down_proj.weight"),
            }
        )
        i += 1
    if not layers:
        raise ValueError(f"{name}: not a Llama-style model (no layers.0.self_attn.q_proj)")
    return _Weights(get(emb_keys[0]), layers, n_heads, n_kv, head_dim)


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


def _head_products(w: dict[str, np.ndarray], s: _Weights) -> tuple[np.ndarray, np.ndarray]:
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


def _score(sus: _Weights, ref: _Weights) -> tuple[float, dict[str, float], np.ndarray]:
    if sus.embed.shape[0] != ref.embed.shape[0]:
        raise ValueError(
            f"suspect: vocabulary of {sus.embed.shape[0]} tokens, the reference's "
            f"{ref.embed.shape[0]}; provenance compares models that share a tokenizer"
        )
    shape_s = (sus.embed.shape[1], len(sus.layers), sus.n_heads, sus.n_kv, sus.head_dim)
    shape_r = (ref.embed.shape[1], len(ref.layers), ref.n_heads, ref.n_kv, ref.head_dim)
    mlp_s = [w["up"].shape[0] for w in sus.layers]
    mlp_r = [w["up"].shape[0] for w in ref.layers]
    if shape_s != shape_r or mlp_s != mlp_r:
        raise ValueError(
            "suspect: architecture (hidden, layers, heads, kv heads, head_dim, MLP widths) "
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
    ref = _extract(reference, "reference")
    sus = _extract(suspect, "suspect")
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
    ref = _extract(reference, "reference")
    sus = _extract(suspect, "suspect")
    total, comps, perm = _score(sus, ref)
    null_stats = []
    for j, m in enumerate(null):
        if isinstance(m, (float, int, np.floating, np.integer)) and not isinstance(m, bool):
            if not math.isfinite(float(m)):
                raise ValueError(f"null: entry {j} is not finite")
            null_stats.append(float(m))
        else:
            null_stats.append(_score(_extract(m, f"null[{j}]"), ref)[0])
    nul = np.asarray(null_stats, dtype=np.float64)
    p_emp = (1.0 + float(np.sum(nul >= total))) / (1.0 + nul.size)
    sd = float(nul.std(ddof=1))
    z = (total - float(nul.mean())) / sd if sd > 0 else math.inf
    return ProvenanceResult(
        statistic=total,
        components=comps,
        null=nul,
        p_value=p_emp,
        z=z,
        p_value_normal=float(stats.norm.sf(z)),
        residual_permutation=perm,
    )


# -- what a copier does for free ------------------------------------------------------------------


def permute_and_rescale(model: Any, seed: int = 0) -> Any:
    """A copy of ``model`` that computes the same function with different-looking weights.

    Permutes the residual dimensions (with random sign flips), the MLP units and the attention
    heads (kv groups with their query heads), and rescales: each norm gain against the columns
    that read it, ``up`` rows against ``down`` columns, ``q`` against ``k`` and ``v`` against
    ``o`` per head (random factors in [0.5, 2]). For testing :func:`compare` and the study.

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
    import torch

    w = _extract(model, "model")  # validates the layout
    del w
    rng = np.random.default_rng(seed)
    out = copy.deepcopy(model)
    cfg = out.config
    n_heads = int(cfg.num_attention_heads)
    n_kv = int(getattr(cfg, "num_key_value_heads", None) or n_heads)
    d = int(cfg.hidden_size)
    hd = int(getattr(cfg, "head_dim", None) or d // n_heads)
    group = n_heads // n_kv
    base = out.get_decoder() if hasattr(out, "get_decoder") else out.model
    tied = out.get_output_embeddings() is not None and (
        out.get_output_embeddings().weight.data_ptr() == base.embed_tokens.weight.data_ptr()
    )

    def t(x: np.ndarray, like: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(x, dtype=like.dtype, device=like.device)

    def ix(x: np.ndarray, like: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(x, dtype=torch.long, device=like.device)

    def scales(n: int) -> np.ndarray:
        return np.exp(rng.uniform(math.log(0.5), math.log(2.0), n))

    pi = rng.permutation(d)
    sgn = rng.choice([-1.0, 1.0], d)
    with torch.no_grad():
        e = base.embed_tokens.weight
        e.copy_(e[:, ix(pi, e)] * t(sgn, e))
        if not tied and out.get_output_embeddings() is not None:
            lm = out.get_output_embeddings().weight
            lm.copy_(lm[:, ix(pi, lm)] * t(sgn, lm))
        base.norm.weight.copy_(base.norm.weight[ix(pi, e)])
        for layer in base.layers:
            att, mlp = layer.self_attn, layer.mlp
            kv_perm = rng.permutation(n_kv)
            head_perm = np.concatenate([kv * group + rng.permutation(group) for kv in kv_perm])
            q_rows = (head_perm[:, None] * hd + np.arange(hd)).ravel()
            kv_rows = (kv_perm[:, None] * hd + np.arange(hd)).ravel()
            unit_perm = rng.permutation(mlp.up_proj.weight.shape[0])
            for norm, readers in (
                (layer.input_layernorm, (att.q_proj, att.k_proj, att.v_proj)),
                (layer.post_attention_layernorm, (mlp.gate_proj, mlp.up_proj)),
            ):
                c = scales(d)
                g = norm.weight
                g.copy_(g[ix(pi, g)] * t(sgn * c, g))
                for lin in readers:
                    wt = lin.weight
                    wt.copy_(wt[:, ix(pi, wt)] / t(c, wt))
            for lin in (att.o_proj, mlp.down_proj):
                wt = lin.weight
                wt.copy_(wt[ix(pi, wt)] * t(sgn[:, None], wt))
            a_q = np.repeat(scales(n_kv), hd)  # q * a, k / a per kv head (shared by its group)
            b_v = np.repeat(scales(n_kv), hd)  # v * b, o / b
            q_scale = np.repeat(a_q.reshape(n_kv, hd)[:, :1], group * hd, axis=1).ravel()
            o_scale = np.repeat(b_v.reshape(n_kv, hd)[:, :1], group * hd, axis=1).ravel()
            wq, wk, wv, wo = (att.q_proj.weight, att.k_proj.weight, att.v_proj.weight,
                              att.o_proj.weight)  # fmt: skip
            wq.copy_(wq[ix(q_rows, wq)] * t(q_scale[q_rows][:, None], wq))
            wk.copy_(wk[ix(kv_rows, wk)] / t(a_q[kv_rows][:, None], wk))
            wv.copy_(wv[ix(kv_rows, wv)] * t(b_v[kv_rows][:, None], wv))
            wo.copy_(wo[:, ix(q_rows, wo)] / t(o_scale[q_rows][None, :], wo))
            u = scales(unit_perm.size)
            for lin in (mlp.gate_proj, mlp.up_proj):
                wt = lin.weight
                wt.copy_(wt[ix(unit_perm, wt)])
            mlp.up_proj.weight.mul_(t(u[:, None], mlp.up_proj.weight))
            dn = mlp.down_proj.weight
            dn.copy_(dn[:, ix(unit_perm, dn)] / t(u[None, :], dn))
    return out
