"""Hostile-input targets of the dialects (tm.dialects): each dialect's detect() with its own
arguments, and the SynthID-Text and vLLM constructors, in the harness's form (see
fuzz_harness.py). Their keys are the peers' integers (or SGLang's hex string): DIALECT_KEY, whose
decimal and hex forms join the canary strings."""

from __future__ import annotations

import dataclasses

DIALECT_KEY = 0x7C1D_C0DE_5EED_4321  # a canary integer key: never in a message or output


def canary_forms() -> list[str]:
    return [str(DIALECT_KEY), f"{DIALECT_KEY:x}", f"{DIALECT_KEY:#x}"]


def _result(r):
    return dataclasses.asdict(r) if dataclasses.is_dataclass(r) else r


def dialect_targets(A, seqs):
    import tokenmark as tm

    SEQS = A("seqs", names=("sequences",))
    PRE = A("array", el="int", lo=0, hi=None, rank=1, scalar_ok=True, names=("prefix_lengths",))
    BACK = A("backend")

    def base(rng, **extra):
        a = dict(sequences=seqs(rng), return_flags=bool(rng.random() < 0.5))
        a["prefix_lengths"] = rng.integers(0, 6, len(a["sequences"])).astype("int64")
        a.update(extra)
        return a

    common = dict(sequences=SEQS, prefix_lengths=PRE, return_flags=A("bool"))
    kgw = tm.dialects.transformers_kgw(hashing_key=DIALECT_KEY, vocab_size=60, bos_token_id=1)
    sid = tm.dialects.synthid_text(keys=[DIALECT_KEY, 5, 7], ngram_len=3, sampling_table_size=256)
    vl = tm.dialects.vllm(key=DIALECT_KEY, context_width=2)
    sg = tm.dialects.sglang(f"{DIALECT_KEY:x}", 2)
    uni = tm.dialects.unigram(watermark_key=DIALECT_KEY, vocab_size=60)
    t = {}
    t["dialects.transformers_kgw.detect"] = (
        lambda rng: base(rng, dedup=[None, True, False][int(rng.integers(0, 3))]),
        lambda a: _result(kgw.detect(**a)),
        dict(common, dedup=A("optbool"), backend=BACK),
    )
    t["dialects.synthid_text.detect"] = (
        lambda rng: {
            k: v
            for k, v in base(
                rng,
                eos_token_id=int(rng.integers(0, 50)),
                weights=rng.uniform(0.1, 5, 3),
                mask_repeated_contexts=bool(rng.random() < 0.7),
                dedup=bool(rng.random() < 0.3),
            ).items()
            if k != "return_flags"
        },  # fmt: skip
        lambda a: _result(sid.detect(**a)),
        dict(
            sequences=SEQS,
            prefix_lengths=PRE,
            eos_token_id=A("int", lo=-1, hi=2**31 - 1, optional=True),
            mask_repeated_contexts=A("bool"),
            dedup=A("bool"),
            weights=A(
                "array",
                el="float",
                rank=1,
                lo=0.0,
                hi=None,
                finite=True,
                optional=True,
                names=("weights",),
            ),
            backend=BACK,
        ),  # fmt: skip
    )
    t["dialects.vllm.detect"] = (
        base,
        lambda a: _result(vl.detect(**a)),
        dict(common, backend=BACK),
    )
    t["dialects.sglang.detect"] = (
        base,
        lambda a: _result(sg.detect(**a)),
        dict(common, backend=BACK),
    )
    t["dialects.unigram.detect"] = (
        lambda rng: base(rng, dedup=bool(rng.random() < 0.5)),
        lambda a: _result(uni.detect(**a)),
        dict(common, dedup=A("bool")),
    )
    t["dialects.synthid_text"] = (
        lambda rng: dict(
            keys=[DIALECT_KEY, int(rng.integers(0, 2**40))],
            ngram_len=int(rng.integers(1, 6)),
            context_history_size=int(rng.integers(1, 2000)),
            sampling_table_size=int(rng.choice([2, 256, 1000])),
        ),
        lambda a: repr(tm.dialects.synthid_text(**a)),
        dict(
            ngram_len=A("int", lo=1, hi=1024),
            context_history_size=A("int", lo=1, hi=2**31 - 1),
            sampling_table_size=A("int", lo=1, hi=2**24),
        ),  # fmt: skip
    )
    t["dialects.vllm"] = (
        lambda rng: dict(
            key=DIALECT_KEY,
            context_width=int(rng.integers(1, 6)),
            alpha=float(rng.uniform(0.01, 0.5)),
        ),
        lambda a: repr(tm.dialects.vllm(**a)),
        dict(
            context_width=A("int", lo=1, hi=1024),
            alpha=A("prob", closed=True),
            deduplicate_contexts=A("bool"),
        ),
    )
    t["dialects.transformers_kgw"] = (
        lambda rng: dict(
            hashing_key=DIALECT_KEY,
            vocab_size=int(rng.integers(50, 5000)),
            greenlist_ratio=float(rng.uniform(0.1, 0.9)),
            bias=float(rng.normal() * 3),
            context_width=int(rng.integers(1, 4)),
            ignore_repeated_ngrams=bool(rng.random() < 0.5),
        ),
        lambda a: repr(tm.dialects.transformers_kgw(**a)),
        dict(
            vocab_size=A("int", lo=1, hi=2**31 - 1),
            greenlist_ratio=A("prob"),
            bias=A("real"),
            context_width=A("int", lo=1, hi=1024),
            ignore_repeated_ngrams=A("bool"),
        ),
    )
    t["dialects.unigram"] = (
        lambda rng: dict(
            watermark_key=DIALECT_KEY,
            vocab_size=int(rng.integers(50, 5000)),
            fraction=float(rng.uniform(0.1, 0.9)),
            strength=float(rng.normal()),
        ),
        lambda a: repr(tm.dialects.unigram(**a)),
        dict(fraction=A("prob"), strength=A("real")),
    )
    t["dialects.sglang"] = (
        lambda rng: dict(
            key=f"{DIALECT_KEY:x}",
            context_width=int(rng.integers(1, 6)),
            mixing_probability=float(rng.uniform(0.1, 0.9)),
            max_probability=float(rng.uniform(0.1, 1.0)),
        ),
        lambda a: repr(tm.dialects.sglang(**a)),
        dict(mixing_probability=A("prob"), max_probability=A("prob", closed=True)),
    )
    return t
