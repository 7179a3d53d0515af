"""Regenerate tests/data/sglang_golden.json from SGLang 0.5.23's OWN code (not ours).

Every expected value in the file is computed by SGLang's ``detector.py`` (hash_context,
watermark_hash, position_coin, WatermarkDetector) and ``core.py`` (_hash_contexts,
select_watermark_tokens_torch, force_watermark_tokens: the CPU selector), loaded from the SGLang
wheel by tests/dialects/sglang_source.py; tokenmark is not imported. The generated sequences are
sampled on a tiny random Llama (seeded; logits / 0.7) with SGLang's ``force_watermark_tokens``
choosing each watermarked token and the loop around it re-stating ``WatermarkState.force`` on
the CPU: contexts = the last ``context_window`` tokens, the prompt included; a context hash
already forced is sampled plainly.

    pip download --no-deps sglang==0.5.23 -d /some/dir
    pip install msgspec
    TOKENMARK_SGLANG_WHEEL=/some/dir/sglang-0.5.23-...whl python tests/data/make_sglang_golden.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "dialects"))
import sglang_source  # noqa: E402

VOCAB = 1031


def signed(key: int) -> int:
    return key - 2**64 if key >= 2**63 else key


def stats(s) -> dict:
    return {"n": s.num_contexts, "score": s.score, "z": s.z_score, "p_value": s.p_value,
            "log_p_value": s.log_p_value}  # fmt: skip


def generate(sg, key: str, key_b, mixing, width, n_seqs, length, seed, temperature=0.7):
    from transformers import LlamaConfig, LlamaForCausalLM

    core = sg.core
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
    )).eval()  # fmt: skip
    gen = torch.Generator().manual_seed(seed)
    k_a = torch.tensor([sg.config.parse_watermark_key(key)])
    k_b = None if key_b is None else torch.tensor([sg.config.parse_watermark_key(key_b)])
    thr = None if key_b is None else torch.tensor([int(mixing * 2**32)])
    one = torch.ones(1)
    out = []
    for _ in range(n_seqs):
        ids = torch.randint(0, VOCAB, (1, 1 + int(torch.randint(0, 6, (1,), generator=gen))),
                            generator=gen)  # fmt: skip
        prompt_len, history = ids.shape[1], set()
        for _ in range(length):
            with torch.no_grad():
                logits = model(ids).logits[:, -1, :].float()
            ctx = ids[:, -width:]
            h = core._hash_contexts(ctx, torch.tensor([ctx.shape[1]]))
            eligible = torch.tensor([int(h) not in history])
            forced = core.force_watermark_tokens(
                logits, h, eligible, one * temperature, torch.tensor([VOCAB]), one, one * 0,
                k_a, k_b, thr,
            )  # fmt: skip
            if bool(forced[0]):
                history.add(int(h))
                tok = int(logits.argmax())
            else:
                tok = int(torch.multinomial(torch.softmax(logits / temperature, -1), 1,
                                            generator=gen))  # fmt: skip
            ids = torch.cat([ids, torch.tensor([[tok]])], 1)
        out.append({"prompt_length": prompt_len, "tokens": ids[0].tolist()})
    return out


def main():
    sg = sglang_source.load(os.environ["TOKENMARK_SGLANG_WHEEL"])
    det = sg.detector
    rng = np.random.default_rng(2026)
    contexts = [rng.integers(0, 2**31, size=n).tolist() for n in (1, 2, 3, 4, 5, 8, 64)]
    keys = [0, 1, 0x0123456789ABCDEF, 2**63, 2**64 - 1]
    hashes = {
        "contexts": contexts,
        "context_hash": [det.hash_context(c) for c in contexts],
        "keys": [str(k) for k in keys],
        "ctx_hashes": [int(x) for x in rng.integers(0, 2**32, size=6)],
        "tokens": [int(x) for x in rng.integers(0, 2**31, size=6)],
    }
    hashes["token_hash"] = [
        [det.watermark_hash(signed(k), c, t) for c, t in zip(hashes["ctx_hashes"],
                                                              hashes["tokens"])]
        for k in keys
    ]  # fmt: skip
    hashes["coin"] = [
        [det.position_coin(signed(a), signed(b), c) for c in hashes["ctx_hashes"]]
        for a, b in zip(keys, keys[::-1])
    ]  # fmt: skip
    docs = [rng.integers(0, hi, size=n).tolist()
            for hi, n in ((40, 0), (40, 1), (3, 5), (5, 30), (40, 60), (1000, 300))]  # fmt: skip
    prompts = [0, 1, 2, 0, 3, 9]
    detections = []
    for key, key_b, mixing, width, max_contexts in (
        ("0123456789abcdef", None, 0.5, 4, 4096), ("ffffffffffffffff", None, 0.5, 1, 4096),
        ("7", None, 0.5, 3, 7), ("0x0123456789abcdef", "fedcba9876543210", 0.5, 4, 4096),
        ("abc", "def", 0.3, 2, 4096), ("abc", "def", 0.9, 5, 20),
    ):  # fmt: skip
        d = det.WatermarkDetector(key, key_b=key_b, mixing_probability=mixing,
                                  context_window=width, max_contexts=max_contexts)  # fmt: skip
        res = [d.detect_tokens(doc[p:], prompt_token_ids=doc[:p]) for doc, p in zip(docs, prompts)]
        case = {"key": key, "key_b": key_b, "mixing_probability": mixing,
                "context_window": width, "max_contexts": max_contexts,
                "combined": [stats(r.combined) for r in res]}  # fmt: skip
        if key_b is not None:
            for f in ("key_a_all_positions", "key_b_all_positions", "key_a_partition",
                      "key_b_partition"):  # fmt: skip
                case[f] = [stats(getattr(r, f)) for r in res]
        detections.append(case)
    selections = []
    for key, key_b, mixing, vocab in (("0123456789abcdef", None, 0.5, 17),
                                      ("ffffffffffffffff", None, 0.5, 1019),
                                      ("abc", "def", 0.3, 4099)):  # fmt: skip
        # eighths: exact in float32 and short in JSON
        logits = torch.from_numpy((rng.integers(-24, 25, size=(4, vocab)) / 8).astype(np.float32))
        logits[1, ::2] = -torch.inf
        probs = torch.softmax(logits, -1)
        ctx_hashes = torch.from_numpy(rng.integers(0, 2**32, size=4))
        k_b = None if key_b is None else torch.full((4,), sg.config.parse_watermark_key(key_b))
        thr = None if key_b is None else torch.full((4,), int(mixing * 2**32))
        chosen = sg.core.select_watermark_tokens_torch(
            probs, ctx_hashes, torch.full((4,), sg.config.parse_watermark_key(key)), k_b, thr
        )
        selections.append({"key": key, "key_b": key_b, "mixing_probability": mixing,
                           "logits": logits.tolist(), "ctx_hashes": ctx_hashes.tolist(),
                           "tokens": chosen.tolist()})  # fmt: skip
    generated = []
    for key, key_b, mixing, width in (("5eed", None, 0.5, 4), ("5eed", "b0b", 0.5, 2)):
        seqs = generate(sg, key, key_b, mixing, width, n_seqs=3, length=60, seed=len(generated))
        d = det.WatermarkDetector(key, key_b=key_b, mixing_probability=mixing,
                                  context_window=width)  # fmt: skip
        for s in seqs:
            p = s["prompt_length"]
            r = d.detect_tokens(s["tokens"][p:], prompt_token_ids=s["tokens"][:p])
            s["combined"] = stats(r.combined)
        generated.append({"key": key, "key_b": key_b, "mixing_probability": mixing,
                          "context_window": width, "sequences": seqs})  # fmt: skip
    out = {
        "about": "computed by SGLang 0.5.23's own code (tests/data/make_sglang_golden.py)",
        "hashes": hashes,
        "detections": {"documents": docs, "prompt_lengths": prompts, "cases": detections},
        "selections": selections,
        "generated": generated,
    }
    path = Path(__file__).with_name("sglang_golden.json")
    path.write_text(json.dumps(out) + "\n")
    print("wrote", path, path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
