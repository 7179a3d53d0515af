"""Decode-loop cost of the watermark on a GPU: `generate` with and without the processor.

    python bench/bench_gpu_generate.py [--batch 64] [--new-tokens 64] [--out FILE]

A Llama-architecture model of about 1.2B parameters (Llama-3.2-1B's shape: hidden 2048, 16
layers, 32 heads, 8 KV heads, vocab 128256) with random weights in bf16: timing needs no trained
weights. Variants run interleaved, several rounds, and the per-step medians are compared:
no watermark, tokenmark's KGW processor, transformers' `WatermarkLogitsProcessor`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import tokenmark as tm  # noqa: E402
from _common import markdown_table, record  # noqa: E402


def build_model(vocab: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=vocab,
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg)
    return model.to(torch.bfloat16).eval(), cfg


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--prompt", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", help="results file (default bench/RESULTS.md)")
    args = ap.parse_args()
    from transformers import WatermarkLogitsProcessor

    vocab = 128256
    model, cfg = build_model(vocab)
    n_params = sum(p.numel() for p in model.parameters())
    prompts = torch.randint(3, vocab, (args.batch, args.prompt), device="cuda")
    wm = tm.KGW(key=b"bench", gamma=0.25, delta=2.0, context_width=4)
    variants = {
        "none": [],
        "tokenmark KGW": [wm.logits_processor()],
        "transformers KGW": [
            WatermarkLogitsProcessor(vocab, "cuda", greenlist_ratio=0.25, bias=2.0)
        ],
    }
    kw = dict(
        attention_mask=torch.ones_like(prompts),
        do_sample=True,
        max_new_tokens=args.new_tokens,
        min_new_tokens=args.new_tokens,
        pad_token_id=0,
        eos_token_id=None,
    )
    per_step: dict[str, list[float]] = {k: [] for k in variants}
    with torch.no_grad():
        model.generate(prompts, **dict(kw, max_new_tokens=4, min_new_tokens=4))  # warm-up
        for _ in range(args.rounds):
            for name, procs in variants.items():
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                model.generate(prompts, logits_processor=procs, **kw)
                torch.cuda.synchronize()
                per_step[name].append((time.perf_counter() - t0) / args.new_tokens)
    base = statistics.median(per_step["none"])
    rows = []
    for name, ts in per_step.items():
        m = statistics.median(ts)
        rows.append(
            [name, f"{m * 1e3:.2f}", f"{(m - base) * 1e3:+.3f}", f"{(m / base - 1) * 100:+.2f}%"]
        )
        print(rows[-1], flush=True)
    table = markdown_table(["processor", "ms / step (median)", "added ms", "added"], rows)
    notes = (
        f"{torch.cuda.get_device_name()}; Llama-3.2-1B-shaped model ({n_params / 1e9:.2f}B "
        f"params, random bf16 weights), batch {args.batch}, prompt {args.prompt}, "
        f"{args.new_tokens} new tokens, sampling; median over {args.rounds} interleaved rounds. "
        "The step includes transformers' own per-step Python overhead."
    )
    record(
        "GPU: decode step with and without the watermark (`generate`)",
        table,
        notes,
        Path(args.out) if args.out else None,
    )


if __name__ == "__main__":
    main()
