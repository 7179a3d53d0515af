"""Regenerate tests/data/prf_golden.json from the numpy reference.

Run ONLY for a deliberate, versioned change of the PRF or a scheme: the golden vectors freeze
which tokens are green in text that users have already watermarked.

    python tests/data/make_golden.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tokenmark import Key
from tokenmark.reference import gumbel, kgw, prf, synthid

# Random123 known-answer vectors for Philox4x32-10 (kat_vectors): counter, key -> output.
# These come from the Random123 distribution, not from our code.
PHILOX_KAT = [
    {"ctr": [0, 0, 0, 0], "key": [0, 0], "out": [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]},
    {
        "ctr": [0xFFFFFFFF] * 4,
        "key": [0xFFFFFFFF] * 2,
        "out": [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD],
    },
    {
        "ctr": [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
        "key": [0xA4093822, 0x299F31D0],
        "out": [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1],
    },
]


def build() -> dict:
    rng = np.random.default_rng(20261126)
    keys = {"bytes": b"my secret", "str": "my secret", "int": 123456789}
    out: dict = {"philox_kat": PHILOX_KAT, "keys": {}, "context_hash": [], "prf_word": []}
    for name, material in keys.items():
        out["keys"][name] = {"material": repr(material), "hex": Key(material).to_hex()}
    for seeding in (prf.SEEDING_PREV, prf.SEEDING_MINHASH):
        for width in (0, 1, 2, 4, 8):
            window = rng.integers(0, 2**31, width)
            out["context_hash"].append(
                {
                    "seeding": seeding,
                    "window": window.tolist(),
                    "hash": int(prf.context_hash(window, seeding)),
                }
            )
    key = Key(b"my secret")
    for domain in (prf.DOMAIN_KGW_GREEN, prf.DOMAIN_SYNTHID_G, prf.DOMAIN_GUMBEL):
        ctx = rng.integers(0, 2**32, 8, dtype=np.uint64)
        tok = rng.integers(0, 2**31, 8)
        words = prf.prf_word(key.words, ctx, tok, domain)
        out["prf_word"].append(
            {"domain": domain, "ctx": ctx.tolist(), "token": tok.tolist(), "word": words.tolist()}
        )
    # A whole scoring run: documents, flags and counts (KGW, gamma 0.25, width 4, dedup).
    lens = [0, 1, 4, 5, 40, 120]
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    tokens = rng.integers(0, 60, offsets[-1]).astype(np.int32)
    threshold = int(0.25 * 2**32)
    n_scored, n_green, green, counted = kgw.score_kgw(
        tokens, offsets, None, key.words, threshold, 4, prf.SEEDING_PREV, True
    )
    out["kgw_score"] = {
        "key_hex": key.to_hex(),
        "threshold": threshold,
        "width": 4,
        "seeding": 0,
        "dedup": True,
        "tokens": tokens.tolist(),
        "offsets": offsets.tolist(),
        "n_scored": n_scored.tolist(),
        "n_green": n_green.tolist(),
        "green": green.tolist(),
        "counted": counted.tolist(),
    }
    # The green list of one context over a small vocabulary.
    ids = np.array([[11, 22, 33, 44]])
    logits = np.zeros((1, 257), dtype=np.float32)
    biased = kgw.apply_kgw_bias(logits, ids, key.words[None], [threshold], [2.0], None, 4, 0)
    out["kgw_green_list"] = {
        "key_hex": key.to_hex(),
        "input_ids": ids.tolist(),
        "vocab": 257,
        "threshold": threshold,
        "green_ids": np.flatnonzero(biased[0]).tolist(),
    }
    # Distortion-free schemes (appended: the draws above stay as they were).
    logits = (rng.standard_normal((4, 257)) * 2).astype(np.float32)
    logits[2, ::3] = -np.inf
    ids = rng.integers(0, 257, (4, 6))
    tokens_g = gumbel.sample_gumbel(logits, ids, key.words, [0], None, 4, 0, True)
    uniforms = rng.random(4)
    tokens_s, marked = synthid.sample_synthid(
        logits, ids, key.words, uniforms, None, 4, 0, 30, 0, 1024
    )
    tokens_k, _ = synthid.sample_synthid(logits, ids, key.words, uniforms, None, 4, 0, 30, 7, 0)
    out["distortion_free_sample"] = {
        "key_hex": key.to_hex(),
        "logits": [[float(v) for v in row] for row in logits],
        "input_ids": ids.tolist(),
        "gumbel_tokens": tokens_g.tolist(),
        "uniforms": uniforms.tolist(),
        "synthid_tokens": tokens_s.tolist(),
        "synthid_top7_tokens": tokens_k.tolist(),
    }
    n_g, score_g, _ = gumbel.score_gumbel(tokens, offsets, None, key.words, [0], 4, 0, True)
    n_s, ones, _ = synthid.score_synthid(tokens, offsets, None, key.words, 4, 0, 30, True)
    out["distortion_free_score"] = {
        "key_hex": key.to_hex(),
        "tokens": tokens.tolist(),
        "offsets": offsets.tolist(),
        "gumbel_n_scored": n_g.tolist(),
        "gumbel_score": score_g.tolist(),
        "synthid_n_scored": n_s.tolist(),
        "synthid_ones": ones.tolist(),
    }
    return out


if __name__ == "__main__":
    path = Path(__file__).with_name("prf_golden.json")
    path.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {path}")
