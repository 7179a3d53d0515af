"""What :mod:`tokenmark.suspect.provenance` knows of the Llama layout (Llama, Mistral, Qwen2:
``embed_tokens``, ``layers.i.self_attn.{q,k,v,o}_proj``, ``layers.i.mlp.{gate,up,down}_proj``,
RMSNorm gains): reading a model's weights in float64 with the norm gains folded in, and the
transformation of one decoder layer that a copier gets for free."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Weights:
    embed: np.ndarray  # [vocab, d]
    layers: list[dict[str, np.ndarray]]  # q, k, v, gate, up: [out, d] norm folded; o, down: [d, *]
    n_heads: int
    n_kv: int
    head_dim: int


def extract(model: Any, name: str) -> Weights:
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
        w = sd[key].detach().to(device="cpu", dtype=torch.float64).numpy()
        if not np.isfinite(w).all():
            raise ValueError(f"{name}: weight {key} has non-finite values (NaN or inf)")
        return w

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
    return Weights(get(emb_keys[0]), layers, n_heads, n_kv, head_dim)


def _like(x: np.ndarray, like):
    import torch

    return torch.as_tensor(x, dtype=like.dtype, device=like.device)


def _ix(x: np.ndarray, like):
    import torch

    return torch.as_tensor(x, dtype=torch.long, device=like.device)


def _scales(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.exp(rng.uniform(math.log(0.5), math.log(2.0), n))


def _rows_(bias, rows: np.ndarray, scale: np.ndarray) -> None:
    """A projection's bias follows its output rows: ``bias[rows] * scale``, in place (no-op
    without a bias)."""
    if bias is not None:
        bias.copy_(bias[_ix(rows, bias)] * _like(scale, bias))


_BIASES = re.compile(r"layers\.\d+\.(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)\.bias$")


def check_biases(model, name: str) -> None:
    """Refuses biases that :func:`permute_model_` cannot carry along (a norm's bias is the mark
    of a LayerNorm, whose mean-centring does not commute with sign flips); the projections'
    biases and the output embedding's are fine."""
    out = model.get_output_embeddings()
    lm_bias = getattr(out, "bias", None) if out is not None else None
    for key, p in model.named_parameters():
        if key.endswith("bias") and not _BIASES.search(key) and p is not lm_bias:
            raise ValueError(
                f"{name}: has a bias the Llama layout does not (found {key}); "
                "permute_and_rescale cannot keep such a model's function"
            )


def _permute_layer(layer, rng, pi: np.ndarray, sgn: np.ndarray, n_kv: int, group: int, hd: int):
    """One decoder layer of :func:`permute_model_`, in place: the residual permutation ``pi`` with
    signs ``sgn`` on its inputs and outputs, then the layer's own head, unit and scale draws."""
    att, mlp = layer.self_attn, layer.mlp
    d = pi.size
    kv_perm = rng.permutation(n_kv)
    head_perm = np.concatenate([kv * group + rng.permutation(group) for kv in kv_perm])
    q_rows = (head_perm[:, None] * hd + np.arange(hd)).ravel()
    kv_rows = (kv_perm[:, None] * hd + np.arange(hd)).ravel()
    unit_perm = rng.permutation(mlp.up_proj.weight.shape[0])
    for norm, readers in (
        (layer.input_layernorm, (att.q_proj, att.k_proj, att.v_proj)),
        (layer.post_attention_layernorm, (mlp.gate_proj, mlp.up_proj)),
    ):
        c = _scales(rng, d)
        g = norm.weight
        g.copy_(g[_ix(pi, g)] * _like(sgn * c, g))
        for lin in readers:
            wt = lin.weight
            wt.copy_(wt[:, _ix(pi, wt)] / _like(c, wt))
    for lin in (att.o_proj, mlp.down_proj):
        wt = lin.weight
        wt.copy_(wt[_ix(pi, wt)] * _like(sgn[:, None], wt))
        _rows_(lin.bias, pi, sgn)  # the bias is added to the residual
    a_q = np.repeat(_scales(rng, n_kv), hd)  # q * a, k / a per kv head (shared by its group)
    b_v = np.repeat(_scales(rng, n_kv), hd)  # v * b, o / b
    q_scale = np.repeat(a_q.reshape(n_kv, hd)[:, :1], group * hd, axis=1).ravel()
    o_scale = np.repeat(b_v.reshape(n_kv, hd)[:, :1], group * hd, axis=1).ravel()
    wq, wk, wv, wo = (att.q_proj.weight, att.k_proj.weight, att.v_proj.weight,
                      att.o_proj.weight)  # fmt: skip
    wq.copy_(wq[_ix(q_rows, wq)] * _like(q_scale[q_rows][:, None], wq))
    wk.copy_(wk[_ix(kv_rows, wk)] / _like(a_q[kv_rows][:, None], wk))
    wv.copy_(wv[_ix(kv_rows, wv)] * _like(b_v[kv_rows][:, None], wv))
    wo.copy_(wo[:, _ix(q_rows, wo)] / _like(o_scale[q_rows][None, :], wo))
    _rows_(att.q_proj.bias, q_rows, q_scale[q_rows])
    _rows_(att.k_proj.bias, kv_rows, 1.0 / a_q[kv_rows])
    _rows_(att.v_proj.bias, kv_rows, b_v[kv_rows])
    u = _scales(rng, unit_perm.size)
    for lin in (mlp.gate_proj, mlp.up_proj):
        wt = lin.weight
        wt.copy_(wt[_ix(unit_perm, wt)])
    mlp.up_proj.weight.mul_(_like(u[:, None], mlp.up_proj.weight))
    _rows_(mlp.gate_proj.bias, unit_perm, np.ones(unit_perm.size))
    _rows_(mlp.up_proj.bias, unit_perm, u)
    dn = mlp.down_proj.weight
    dn.copy_(dn[:, _ix(unit_perm, dn)] / _like(u[None, :], dn))


def permute_model_(out, rng: np.random.Generator) -> None:
    """Permutes and rescales ``out`` (a Llama-style model) in place; see
    :func:`tokenmark.suspect.provenance.permute_and_rescale`."""
    import torch

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
    pi = rng.permutation(d)
    sgn = rng.choice([-1.0, 1.0], d)
    with torch.no_grad():
        e = base.embed_tokens.weight
        e.copy_(e[:, _ix(pi, e)] * _like(sgn, e))
        if not tied and out.get_output_embeddings() is not None:
            lm = out.get_output_embeddings().weight
            lm.copy_(lm[:, _ix(pi, lm)] * _like(sgn, lm))
        base.norm.weight.copy_(base.norm.weight[_ix(pi, e)])
        for layer in base.layers:
            _permute_layer(layer, rng, pi, sgn, n_kv, group, hd)
