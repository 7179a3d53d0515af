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


def dialect_op_targets(A, ragged):
    """The dialects' public ops (tm.ops.score_vllm, score_sglang, score_synthid_text,
    synthid_text_g_values, synthid_text_layer_bits, torch_cpu_randperm, torch_cpu_green_lists)
    on the C++ and numpy backends."""
    import numpy as np
    from tokenmark import ops

    TOK = A("array", el="int", lo=0, hi=2**31 - 1, rank=1, names=("tokens",))
    OFF = A("array", el="int", lo=0, hi=None, rank=1, offsets=True, names=("offsets",))
    PRE = A("array", el="int", lo=0, hi=None, rank=1, scalar_ok=True, names=("prefix_lengths",))
    KEYS = A("array", el="int", lo=0, hi=2**64 - 1, rank=1, names=("keys",))
    LAYER_KEYS = A("array", el="int", lo=0, hi=2**64 - 1, rank=1, any_len=True, names=("keys",))
    TABLE = A("array", el="int", lo=0, hi=255, rank=1, any_len=True, names=("table",))
    BACK = A("backend")
    U64 = np.uint64

    def docs(rng, **extra):
        tokens, offsets = ragged(rng)
        a = dict(
            tokens=tokens,
            offsets=offsets,
            want_flags=bool(rng.random() < 0.5),
            prefix_lengths=rng.integers(0, 6, len(offsets) - 1).astype(np.int64),
        )
        a.update(extra)
        return a

    def table(rng):
        return rng.integers(0, 2, int(rng.choice([1, 16, 100]))).astype(np.uint8)

    common = dict(tokens=TOK, offsets=OFF, prefix_lengths=PRE, want_flags=A("bool"), backend=BACK)
    t = {}
    for backend in ("cpu", "reference"):
        t[f"dialect_score_vllm@{backend}"] = (
            lambda rng, b=backend: docs(
                rng, keys=np.array([DIALECT_KEY, 5], U64), weights=np.array([0.75, 0.25]),
                context_width=int(rng.integers(1, 5)), dedup=bool(rng.random() < 0.5), backend=b,
            ),  # fmt: skip
            lambda a: ops.score_vllm(**a),
            dict(common, keys=KEYS, context_width=A("int", lo=1, hi=1024), dedup=A("bool"),
                 weights=A("array", el="float", rank=1, finite=True, names=("weights",))),
        )  # fmt: skip
        for n_keys in (1, 2):  # one key: a second is dual key, a valid call (free length)
            t[f"dialect_score_sglang{n_keys}@{backend}"] = (
                lambda rng, b=backend, n=n_keys: docs(
                    rng, keys=np.array([DIALECT_KEY, 9], U64)[:n],
                    context_width=int(rng.integers(1, 5)), threshold=int(rng.integers(0, 2**32)),
                    max_contexts=int(rng.integers(1, 5000)), backend=b,
                ),  # fmt: skip
                lambda a: ops.score_sglang(**a),
                dict(common, keys=LAYER_KEYS if n_keys == 1 else KEYS,
                     context_width=A("int", lo=1, hi=1024),
                     threshold=A("int", lo=0, hi=2**32 - 1),
                     max_contexts=A("int", lo=1, hi=2**62)),
            )  # fmt: skip
        t[f"dialect_score_synthid_text@{backend}"] = (
            lambda rng, b=backend: docs(
                rng, keys=np.array([DIALECT_KEY, 3, 4], U64), table=table(rng),
                ngram_len=int(rng.integers(1, 5)), context_history_size=int(rng.integers(0, 9)),
                mask_repeated_contexts=bool(rng.random() < 0.7),
                eos_token_id=int(rng.integers(0, 50)), backend=b,
            ),  # fmt: skip
            lambda a: ops.score_synthid_text(**a),
            dict(common, keys=LAYER_KEYS, table=TABLE, ngram_len=A("int", lo=1, hi=1024),
                 context_history_size=A("int", lo=0, hi=2**63 - 1),
                 mask_repeated_contexts=A("bool"),
                 eos_token_id=A("int", lo=-1, hi=2**31 - 1, optional=True)),
        )  # fmt: skip
        t[f"dialect_synthid_text_g_values@{backend}"] = (
            lambda rng, b=backend: dict(
                hashes=rng.integers(0, 2**63, int(rng.integers(0, 9))).astype(U64),
                keys=np.array([DIALECT_KEY, 3], U64), table=table(rng), backend=b),
            lambda a: ops.synthid_text_g_values(**a),
            dict(hashes=A("array", el="int", lo=0, hi=2**64 - 1, rank=1, any_len=True,
                           names=("hashes",)), keys=LAYER_KEYS, table=TABLE, backend=BACK),
        )  # fmt: skip
        t[f"dialect_torch_cpu_randperm@{backend}"] = (
            lambda rng, b=backend: dict(seed=int(rng.integers(0, 2**40)),
                                        n=int(rng.integers(0, 40)), backend=b),
            lambda a: ops.torch_cpu_randperm(**a),
            dict(seed=A("int", lo=-(2**63), hi=2**64 - 1),
                 n=A("int", lo=0, hi=(2**32 - 1) // 20 - 1), backend=BACK),
        )  # fmt: skip
        t[f"dialect_torch_cpu_green_lists@{backend}"] = (  # vocab 37: green_size in [0, 37]
            lambda rng, b=backend: dict(seeds=rng.integers(0, 2**40, 3).astype(U64), vocab=37,
                                        green_size=int(rng.integers(0, 38)), backend=b),
            lambda a: ops.torch_cpu_green_lists(**a),
            dict(seeds=A("array", el="int", lo=-(2**63), hi=2**64 - 1, rank=1, any_len=True,
                           names=("seeds",)),
                 vocab=A("int", lo=1, hi=(2**32 - 1) // 20 - 1),
                 green_size=A("int", lo=0, hi=37), backend=BACK),
        )  # fmt: skip
    t["dialect_synthid_text_layer_bits"] = (
        lambda rng: dict(keys=np.array([DIALECT_KEY, 3], U64), table=table(rng)),
        lambda a: repr(ops.synthid_text_layer_bits(**a)),
        dict(keys=LAYER_KEYS, table=TABLE),
    )
    return t
