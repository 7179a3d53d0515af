"""A generated corpus for scan tests: human text from the demo model's held-out play, and
documents watermarked by the demo model under several keys and schemes, some pasted into human
text. Seeded, so the corpus is the same on every run."""

from __future__ import annotations

import numpy as np
import tokenmark as tm
import torch
from tokenmark import demo_model

# key id -> (key material, scheme config). "unused" is looked for but planted nowhere.
KEYS = {"alpha": "alpha secret", "beta": "beta secret", "gamma": "gamma secret", "delta": "d s"}
UNUSED = {"unused": "never planted"}


def watermark_config() -> dict:
    return {
        "watermarks": [
            {"name": "kgw-alpha", "key_id": "alpha", "window": 60,
             **tm.KGW(key=KEYS["alpha"], gamma=0.25, delta=3.0, context_width=2).to_dict()},
            {"name": "kgw-beta-minhash", "key_id": "beta",
             **tm.KGW(key=KEYS["beta"], gamma=0.5, delta=3.0, context_width=3,
                      seeding="minhash").to_dict()},
            {"name": "gumbel-gamma", "key_id": "gamma", "window": 60,
             **tm.Gumbel(key=KEYS["gamma"], context_width=2).to_dict()},
            {"name": "synthid-delta", "key_id": "delta", "window": 60,
             **tm.SynthID(key=KEYS["delta"], layers=20, context_width=2).to_dict()},
            {"name": "kgw-unused", "key_id": "unused", "scheme": "kgw", "context_width": 2},
        ]
    }  # fmt: skip


def schemes() -> dict[str, object]:
    """name -> scheme object (with key) for generation."""
    out = {}
    for entry in watermark_config()["watermarks"]:
        d = dict(entry)
        name, key_id = d.pop("name"), d.pop("key_id")
        d.pop("window", None)
        key = {**KEYS, **UNUSED}[key_id]
        cls = {"kgw": tm.KGW, "gumbel": tm.Gumbel, "synthid": tm.SynthID}[d.get("scheme", "kgw")]
        out[name] = cls.from_dict(d, key=key)
    return out


def generate(model, tok, wm, n: int, new_tokens: int, seed: int) -> list[str]:
    """``n`` watermarked continuations (text of the new tokens) of held-out prompts."""
    prompts = torch.tensor(demo_model.prompts(tok, n + seed % 7, 16)[-n:])
    torch.manual_seed(seed)
    out = model.generate(
        prompts,
        attention_mask=torch.ones_like(prompts),
        do_sample=True,
        top_k=0,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        pad_token_id=tok.pad_token_id,
        eos_token_id=None,
        logits_processor=[wm.logits_processor()],
    )
    return [tok.decode(row[prompts.shape[1] :]) for row in out]


def human_docs(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` passages of 2-6 consecutive paragraphs of the held-out play."""
    paras = [p for p in demo_model.heldout_text().split("\n\n") if p.strip()]
    docs = []
    for _ in range(n):
        i = int(rng.integers(0, len(paras) - 6))
        docs.append("\n\n".join(paras[i : i + int(rng.integers(2, 7))]))
    return docs


def build(n_human: int = 60, per_scheme: int = 3, new_tokens: int = 160, seed: int = 0):
    """(documents, planted) where documents is a list of (id, text) and planted maps each
    watermarked id to its watermark's name. Per planted watermark, one of the ``per_scheme``
    documents is pasted into the middle of a human passage."""
    model, tok = demo_model.load()
    rng = np.random.default_rng(seed)
    docs = [(f"human-{i}", t) for i, t in enumerate(human_docs(n_human, rng))]
    planted: dict[str, str] = {}
    for j, (name, wm) in enumerate(schemes().items()):
        if name == "kgw-unused":
            continue
        texts = generate(model, tok, wm, per_scheme, new_tokens, seed=100 * seed + j)
        for i, text in enumerate(texts):
            doc_id = f"{name}-{i}"
            if i == 0:
                host = human_docs(1, rng)[0]
                cut = len(host) // 2
                text = host[:cut] + text + host[cut:]
                doc_id += "-pasted"
            docs.append((doc_id, text))
            planted[doc_id] = name
    order = rng.permutation(len(docs))
    return [docs[i] for i in order], planted
