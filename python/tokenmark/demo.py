"""``tokenmark demo``: generate with and without the watermark on a tiny local model, then detect.

The model is a randomly initialised Llama built from a config (nothing is downloaded), so its text
is noise with unrealistically high entropy, which flatters any watermark; the point here is the
mechanics end to end. A trained demo model is planned.
"""

from __future__ import annotations

import time

import numpy as np


def _tiny_llama(vocab: int, seed: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    model = LlamaForCausalLM(cfg).eval()
    # Random init gives near-uniform next-token distributions; sharpen them so the text has a
    # (still high) entropy closer to a real model's.
    with torch.no_grad():
        model.lm_head.weight.mul_(30.0)
    return model


def run_demo(n: int = 8, new_tokens: int = 120, seed: int = 0) -> int:
    import torch

    from .kgw import KGW

    vocab, prompt_len = 4096, 16
    model = _tiny_llama(vocab, seed)
    wm = KGW(key=b"tokenmark demo key", gamma=0.25, delta=2.0, context_width=4)
    gen = torch.Generator().manual_seed(seed)
    prompts = torch.randint(3, vocab, (n, prompt_len), generator=gen)
    mask = torch.ones_like(prompts)
    kwargs = dict(
        attention_mask=mask,
        do_sample=True,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        pad_token_id=0,
        eos_token_id=None,
    )
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    marked = model.generate(prompts, logits_processor=[wm.logits_processor()], **kwargs)
    t1 = time.perf_counter()
    plain = model.generate(prompts, **kwargs)
    t2 = time.perf_counter()
    docs = [s[prompt_len:] for s in marked] + [s[prompt_len:] for s in plain]
    res = wm.detect(docs)
    print(f"scheme: {wm}")
    print(f"model: random-weight Llama, vocab {vocab}; {n} prompts x {new_tokens} new tokens")
    print(f"generate: {t1 - t0:.2f} s with the watermark, {t2 - t1:.2f} s without\n")
    print(
        f"{'doc':>4} {'kind':<12} {'scored':>6} {'green':>6} {'frac':>6} {'z':>7} {'p-value':>10}"
    )
    for i in range(len(docs)):
        kind = "watermarked" if i < n else "plain"
        print(
            f"{i:>4} {kind:<12} {res.n_scored[i]:>6} {res.n_green[i]:>6} "
            f"{res.green_fraction[i]:>6.2f} {res.z[i]:>7.2f} {res.p_value[i]:>10.2e}"
        )
    flagged = res.is_watermarked(1e-3)
    tpr, fpr = flagged[:n].mean(), flagged[n:].mean()
    print(f"\nat alpha = 1e-3: detected {tpr:.0%} of watermarked, {fpr:.0%} of plain documents")
    print(f"median z: watermarked {np.median(res.z[:n]):.1f}, plain {np.median(res.z[n:]):.1f}")
    return 0
