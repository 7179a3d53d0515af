"""Regenerate tests/data/vllm_golden.json from vLLM 0.33.0's OWN code (not ours).

Every expected value in the file is computed by vLLM's PhiloxPRF, GumbelWatermarkDetector,
DualKeyGumbelWatermarkDetector and GumbelWatermarker, loaded from the vLLM wheel by
tests/dialects/vllm_source.py; tokenmark is not imported. The generated sequences are sampled
on a tiny random Llama (seeded; logits / 0.1, so that the model and not only the key picks
tokens) with vLLM's GumbelWatermarker choosing each watermarked token
(contexts: the last context_width generated tokens, -1 into the prompt; a repeated context is
sampled plainly, as vLLM's default deduplicate_contexts="single_turn").

    pip download --no-deps vllm==0.33.0 -d /some/dir
    TOKENMARK_VLLM_WHEEL=/some/dir/vllm-0.33.0-...whl python tests/data/make_vllm_golden.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "dialects"))
import vllm_source  # noqa: E402


def generate(v, watermarker, vocab, n_seqs, length, seed, temperature=0.1):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
    )).eval()  # fmt: skip
    w = watermarker.context_width
    gen = torch.Generator().manual_seed(seed)
    seqs = []
    for _ in range(n_seqs):
        prompt = torch.randint(0, vocab, (1, 4), generator=gen)
        out, seen = [], set()
        for _ in range(length):
            ids = torch.cat([prompt, torch.tensor([out], dtype=torch.long)], 1) if out else prompt
            with torch.no_grad():
                logits = model(ids).logits[:, -1, :].float() / temperature
            ctx = tuple(([-1] * w + out)[-w:])
            if ctx in seen:
                tok = int(torch.multinomial(torch.softmax(logits, -1), 1, generator=gen))
            else:
                seen.add(ctx)
                tok = int(watermarker._sample_watermarked(logits, torch.tensor([ctx])).token_ids)
            out.append(tok)
        seqs.append(out)
    return seqs


def main():
    v = vllm_source.load(os.environ["TOKENMARK_VLLM_WHEEL"])
    rng = np.random.default_rng(2026)
    uniforms = []
    for key in (0, 1234, 2**63 + 5, 2**64 - 1):
        for width in (1, 4, 5, 9):
            ctx = rng.integers(-1, 200000, size=(8, width))
            tok = rng.integers(0, 2**31 - 1, size=8)
            u = v.PhiloxPRF(key).uniform(torch.tensor(ctx), torch.tensor(tok)[:, None])
            uniforms.append({"key": str(key), "contexts": ctx.tolist(), "tokens": tok.tolist(),
                             "u": u[:, 0].double().tolist()})  # fmt: skip
    docs = [rng.integers(0, 40, size=n).tolist() for n in (0, 1, 3, 17, 60, 300)]
    detections = []
    for algorithm, alpha in (("gumbel", 0.1), ("dual_key_gumbel", 0.1), ("dual_key_gumbel", 0.5)):
        for width in (1, 4):
            for dedup in (True, False):
                key = 777 + width
                if algorithm == "gumbel":
                    det = v.GumbelWatermarkDetector(key, width, deduplicate_contexts=dedup)
                else:
                    det = v.DualKeyGumbelWatermarkDetector(
                        key, width, deduplicate_contexts=dedup, alpha=alpha
                    )
                res = [det.detect(d) for d in docs]
                detections.append({
                    "key": str(key), "algorithm": algorithm, "alpha": alpha,
                    "context_width": width, "deduplicate_contexts": dedup,
                    "n_scored": [r.num_scored_tokens for r in res],
                    "score": [r.score for r in res], "p_value": [r.p_value for r in res],
                })  # fmt: skip
    key = 31337
    wmk = v.GumbelWatermarker(key, 4)
    generated = {"key": str(key), "algorithm": "gumbel", "context_width": 4, "vocab": 1031,
                 "sequences": generate(v, wmk, 1031, 4, 40, seed=5)}  # fmt: skip
    generated["p_value"] = [v.GumbelWatermarkDetector(key, 4).detect(s).p_value
                            for s in generated["sequences"]]  # fmt: skip
    choices = []
    for key, width in ((31337, 4), (2**64 - 1, 1), (5, 6)):
        ctx = rng.integers(-1, 257, size=(3, width))
        logits = torch.from_numpy(rng.normal(0, 2, size=(3, 257)).astype(np.float32))
        tok = v.GumbelWatermarker(key, width)._sample_watermarked(logits, torch.tensor(ctx))
        choices.append({"key": str(key), "contexts": ctx.tolist(), "logits": logits.tolist(),
                        "tokens": tok.token_ids.tolist()})  # fmt: skip
    out = {
        "about": "computed by vLLM 0.33.0's own code (tests/data/make_vllm_golden.py)",
        "derive_watermark_key": [
            {
                "key": str(k),
                "key_a": str(v.derive_watermark_key(k, b"key_a")),
                "key_b": str(v.derive_watermark_key(k, b"key_b")),
            }
            for k in (0, 7, 2**64 - 1)
        ],  # fmt: skip
        "uniforms": uniforms,
        "detections": {"documents": docs, "cases": detections},
        "generated": generated,
        "choices": choices,
    }
    path = Path(__file__).with_name("vllm_golden.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
