"""Hostile-input fuzzing of the public API and the CLI, every case in a child process.

A *case* is a JSON-able spec ``{"t": target, "a": argument, "m": mutation, "s": seed}``: the
child builds the target's canonical valid arguments from ``seed`` (random sizes, including
empty ones), replaces ``argument`` by ``mutation`` of it and calls the target. The mutation says
what must happen:

- ``bad``: a clear error: a ``ValueError``/``TypeError`` (``IndexError`` for an index) whose
  message names the argument and what it accepts ("expected" / "must" ...). Returning is
  *silent* acceptance of a bad value.
- ``same``: the same value in another representation (a list, a torch tensor, another integer
  dtype, a strided or Fortran-ordered view, a read-only or big-endian copy): either the result
  of the canonical call, bit for bit, or a clear error naming the argument. Another result is a
  *silent* wrong answer.
- ``any``: a result or a clear error (edge values whose answer is not compared).

Every case runs with a canary key: its material, derived words (decimal and hex) and hex key
are grepped for in every exception (with its chain), repr, warning, log record and stdout /
stderr line, in the child and in the raw output of the child process.

Outcomes: ``ok`` (returned as expected), ``clear`` (clear error), and the failures ``crash``
(the child died of a signal), ``hang`` (the child passed its time limit), ``leak``, ``silent``
(bad value accepted, or a different result), ``unclear`` (another exception type, or a message
not naming the argument).

Run as a script, this module is the child: specs as JSON on stdin, one ``S i`` line before and
one ``R {...}`` line after each case on stdout.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import os
import subprocess
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

CANARY = "CANARY-7c1d-hostile-key"
FAILURES = ("crash", "hang", "leak", "silent", "unclear")
HERE = Path(__file__).resolve().parent


# -- the canary ----------------------------------------------------------------------------


def canary_strings() -> list[str]:
    """Every form of the canary key that must never appear in a message or output."""
    import tokenmark as tm

    k = tm.Key(CANARY)
    words = [int(w) for w in k.words]
    out = [CANARY, CANARY.encode().hex(), k.to_hex()]
    out += [str(w) for w in words if w >= 10**6]
    out += [f"{w:08x}" for w in words] + [f"{w:#x}" for w in words]
    from fuzz_dialects import canary_forms

    return out + canary_forms()


def find_canary(text: str, needles: list[str]) -> str | None:
    low = text.lower()
    for n in needles:
        if n.lower() in low:
            return n
    return None


# -- the targets: canonical arguments, call, argument kinds --------------------------------


def _key():
    import tokenmark as tm

    return tm.Key(CANARY)


def _sizes(rng):
    batch = int(rng.choice([0, 1, 1, 3]))
    vocab = int(rng.choice([1, 17, 64]))
    length = int(rng.choice([0, 1, 3, 6]))
    return batch, vocab, length


def _ragged(rng, max_docs=4, max_len=12, vocab=50):
    n = int(rng.integers(0, max_docs + 1))
    lengths = rng.integers(0, max_len + 1, n)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    tokens = rng.integers(0, vocab, int(offsets[-1])).astype(np.int32)
    return tokens, offsets


def _seqs(rng):
    tokens, offsets = _ragged(rng)
    return [tokens[offsets[d] : offsets[d + 1]].tolist() for d in range(len(offsets) - 1)]


def _logits(rng, batch, vocab):
    x = rng.normal(size=(batch, vocab)).astype(np.float32)
    if x.size and rng.random() < 0.3:
        x[0, 0] = -np.inf  # a masked entry
    return x


def _ids(rng, batch, length, vocab):
    return rng.integers(0, max(vocab, 1), (batch, length)).astype(np.int64)


# Argument kinds: (kind, info). Kinds: int (lo, hi), bool, optbool (None allowed), real,
# choice, backend, key (4 words), keys ([1|B, 4] words), keymat (Key material), array (with
# element kind, range, and which mutations keep its meaning), json, text.
def A(kind, **info):
    return {"kind": kind, **info}


def _op_targets():
    import tokenmark as tm

    W = A("int", lo=0, hi=1024)
    SEED = A("int", lo=0, hi=1)
    TOK = A("array", el="int", lo=0, hi=2**31 - 1, rank=1, names=("tokens",))
    OFF = A("array", el="int", lo=0, hi=None, rank=1, offsets=True, names=("offsets",))
    PRE = A("array", el="int", lo=0, hi=None, rank=1, scalar_ok=True, names=("prefix_lengths",))
    LOG = A("array", el="float", rank=2, logits=True, names=("logits",))
    IDS = A("array", el="int", lo=0, hi=2**31 - 1, rank=2, names=("input_ids",))
    EN = A("array", el="int", lo=0, hi=1, rank=1, scalar_ok=True, boolish=True, names=("enabled",))
    U32 = dict(el="int", lo=0, hi=2**32 - 1, rank=1, scalar_ok=True)
    BACK = A("backend")

    def score_args(rng):
        tokens, offsets = _ragged(rng)
        n = len(offsets) - 1
        return dict(
            tokens=tokens,
            offsets=offsets,
            key=_key().words.copy(),
            context_width=int(rng.integers(0, 4)),
            seeding=int(rng.integers(0, 2)),
            dedup=bool(rng.random() < 0.5),
            prefix_lengths=rng.integers(0, 6, n).astype(np.int64),
            want_flags=bool(rng.random() < 0.5),
        )

    def logit_args(rng):
        batch, vocab, length = _sizes(rng)
        return dict(
            logits=_logits(rng, batch, vocab),
            input_ids=_ids(rng, batch, length, vocab),
            keys=_key().words.copy(),
            context_width=int(rng.integers(0, 4)),
            seeding=int(rng.integers(0, 2)),
            enabled=(rng.random(batch) < 0.7).astype(np.uint8),
        )

    targets = {}
    for backend in ("cpu", "reference"):

        def kgw_bias(rng, backend=backend):
            a = logit_args(rng)
            b = a["logits"].shape[0]
            a.update(
                thresholds=rng.integers(1, 2**32, b).astype(np.uint32),
                deltas=rng.normal(size=b).astype(np.float32) * 3,
                backend=backend,
            )
            return a

        def call_bias(a):
            tm.apply_kgw_bias_(**a)
            return a["logits"]

        targets[f"apply_kgw_bias_@{backend}"] = (
            kgw_bias,
            call_bias,
            dict(
                logits=LOG, input_ids=IDS, keys=A("keys"), context_width=W, seeding=SEED,
                enabled=EN, backend=BACK,
                thresholds=A("array", **U32, names=("thresholds",)),
                deltas=A("array", el="float", rank=1, scalar_ok=True, finite=True,
                         names=("deltas",)),
            ),
        )  # fmt: skip

        def kgw_score(rng, backend=backend):
            a = score_args(rng)
            a.update(threshold=int(rng.integers(1, 2**32)), backend=backend)
            return a

        targets[f"score_kgw@{backend}"] = (
            kgw_score,
            lambda a: tm.score_kgw(**a),
            dict(
                tokens=TOK, offsets=OFF, key=A("key"), threshold=A("int", lo=1, hi=2**32 - 1),
                context_width=W, seeding=SEED, dedup=A("bool"), prefix_lengths=PRE,
                want_flags=A("bool"), backend=BACK,
            ),
        )  # fmt: skip

        def gumbel_sample(rng, backend=backend):
            a = logit_args(rng)
            a.update(
                salts=rng.integers(0, 2**32, a["logits"].shape[0]).astype(np.uint32),
                skip_repeated=bool(rng.random() < 0.5),
                backend=backend,
            )
            a["logits"][:, 0] = 0.0  # a finite entry per row
            return a

        targets[f"sample_gumbel@{backend}"] = (
            gumbel_sample,
            lambda a: tm.sample_gumbel(**a),
            dict(
                logits=LOG, input_ids=IDS, keys=A("keys"), context_width=W, seeding=SEED,
                enabled=EN, backend=BACK, skip_repeated=A("bool"),
                salts=A("array", **U32, names=("salts",)),
            ),
        )  # fmt: skip

        def gumbel_score(rng, backend=backend):
            a = score_args(rng)
            n = max(len(a["offsets"]) - 1, 1)
            a.update(salts=rng.integers(0, 2**32, n).astype(np.uint32), backend=backend)
            return a

        targets[f"score_gumbel@{backend}"] = (
            gumbel_score,
            lambda a: tm.score_gumbel(**a),
            dict(
                tokens=TOK, offsets=OFF, key=A("key"), context_width=W, seeding=SEED,
                dedup=A("bool"), prefix_lengths=PRE, want_flags=A("bool"), backend=BACK,
                salts=A("array", **U32, names=("salts",)),
            ),
        )  # fmt: skip

        def synthid_sample(rng, backend=backend):
            a = logit_args(rng)
            b, v = a["logits"].shape
            a.update(
                uniforms=rng.random(b),
                layers=int(rng.integers(1, 33)),
                top_k=int(rng.choice([0, 1, 3, 100])),
                context_history=int(rng.choice([0, 4, 1024])),
                backend=backend,
            )
            a["logits"][:, 0] = 0.0
            return a

        targets[f"sample_synthid@{backend}"] = (
            synthid_sample,
            lambda a: tm.sample_synthid(**a),
            dict(
                logits=LOG, input_ids=IDS, keys=A("keys"), context_width=W, seeding=SEED,
                enabled=EN, backend=BACK, layers=A("int", lo=1, hi=32),
                top_k=A("int", lo=0, hi=2**31 - 1), context_history=A("int", lo=0, hi=2**62),
                uniforms=A("array", el="float", rank=1, lo=0.0, hi=0.999, finite=True,
                           names=("uniforms",)),
            ),
        )  # fmt: skip

        def synthid_score(rng, backend=backend):
            a = score_args(rng)
            a.update(layers=int(rng.integers(1, 33)), backend=backend)
            return a

        targets[f"score_synthid@{backend}"] = (
            synthid_score,
            lambda a: tm.score_synthid(**a),
            dict(
                tokens=TOK, offsets=OFF, key=A("key"), context_width=W, seeding=SEED,
                layers=A("int", lo=1, hi=32), dedup=A("bool"), prefix_lengths=PRE,
                want_flags=A("bool"), backend=BACK,
            ),
        )  # fmt: skip
    # K keys in one pass: the keys are fixed (the canary among them), the rest is mutated
    for backend in ("cpu", "reference"):

        def keys_args(rng, backend=backend):
            a = score_args(rng)
            del a["key"]
            a.update(keys=[_key(), tm.Key(b"other")], backend=backend)
            return a

        common = dict(tokens=TOK, offsets=OFF, context_width=W, seeding=SEED, dedup=A("bool"),
                      prefix_lengths=PRE, want_flags=A("bool"), backend=BACK)  # fmt: skip
        targets[f"score_kgw_keys@{backend}"] = (
            lambda rng, f=keys_args: {**f(rng), "threshold": int(rng.integers(1, 2**32))},
            lambda a: tm.score_kgw_keys(**a),
            dict(**common, threshold=A("int", lo=1, hi=2**32 - 1)),
        )
        targets[f"score_gumbel_keys@{backend}"] = (
            lambda rng, f=keys_args: (lambda a: {**a, "salts": np.arange(
                max(len(a["offsets"]) - 1, 1), dtype=np.uint32)})(f(rng)),
            lambda a: tm.score_gumbel_keys(**a),
            dict(**common, salts=A("array", **U32, names=("salts",))),
        )  # fmt: skip
        targets[f"score_synthid_keys@{backend}"] = (
            lambda rng, f=keys_args: {**f(rng), "layers": int(rng.integers(1, 33))},
            lambda a: tm.score_synthid_keys(**a),
            dict(**common, layers=A("int", lo=1, hi=32)),
        )
    return targets


def _scheme_targets():
    import tokenmark as tm
    from tokenmark import demo_model, stats

    W = A("int", lo=0, hi=1024)
    SEEDING = A("choice", choices=("prev", "minhash"))
    SEQS = A("seqs", names=("sequences",))
    PRE = A("array", el="int", lo=0, hi=None, rank=1, scalar_ok=True, names=("prefix_lengths",))
    LOG = A("array", el="float", rank=2, logits=True, names=("logits",))
    IDS = A("array", el="int", lo=0, hi=2**31 - 1, rank=2, names=("input_ids",))
    EN = A("array", el="int", lo=0, hi=1, rank=1, scalar_ok=True, boolish=True, names=("enabled",))
    SALT = A("array", el="int", lo=0, hi=2**32 - 1, rank=1, scalar_ok=True, names=("salt",))

    def seqs(rng):
        tokens, offsets = _ragged(rng)
        return [tokens[offsets[d] : offsets[d + 1]].tolist() for d in range(len(offsets) - 1)]

    def result(r):
        return dataclasses.asdict(r) if dataclasses.is_dataclass(r) else r

    t = {}
    t["KGW"] = (
        lambda rng: dict(key=CANARY, gamma=float(rng.uniform(0.05, 0.95)),
                         delta=float(rng.normal() * 3), context_width=int(rng.integers(0, 5)),
                         seeding=str(rng.choice(["prev", "minhash"])),
                         dedup=bool(rng.random() < 0.5)),
        lambda a: tm.KGW(**a).to_json(),
        dict(key=A("keymat"), gamma=A("prob"), delta=A("real"), context_width=W,
             seeding=SEEDING, dedup=A("bool")),
    )  # fmt: skip
    t["Gumbel"] = (
        lambda rng: dict(key=CANARY, context_width=int(rng.integers(0, 5)),
                         seeding=str(rng.choice(["prev", "minhash"])),
                         skip_repeated=bool(rng.random() < 0.5), dedup=bool(rng.random() < 0.5)),
        lambda a: tm.Gumbel(**a).to_json(),
        dict(key=A("keymat"), context_width=W, seeding=SEEDING, skip_repeated=A("bool"),
             dedup=A("bool")),
    )  # fmt: skip
    t["SynthID"] = (
        lambda rng: dict(key=CANARY, layers=int(rng.integers(1, 33)),
                         context_width=int(rng.integers(0, 5)),
                         seeding=str(rng.choice(["prev", "minhash"])),
                         top_k=int(rng.choice([0, 5])), context_history=int(rng.choice([0, 64])),
                         dedup=bool(rng.random() < 0.5)),
        lambda a: tm.SynthID(**a).to_json(),
        dict(key=A("keymat"), layers=A("int", lo=1, hi=32), context_width=W, seeding=SEEDING,
             top_k=A("int", lo=0, hi=2**31 - 1), context_history=A("int", lo=0, hi=2**40),
             dedup=A("bool")),
    )  # fmt: skip

    def detect_args(rng, **extra):
        a = dict(sequences=seqs(rng), dedup=[None, True, False][int(rng.integers(0, 3))],
                 return_flags=bool(rng.random() < 0.5))  # fmt: skip
        a["prefix_lengths"] = rng.integers(0, 6, len(a["sequences"])).astype(np.int64)
        a.update(extra)
        return a

    t["KGW.detect"] = (
        lambda rng: detect_args(rng, window=[None, 1, 3, 50][int(rng.integers(0, 4))]),
        lambda a: result(tm.KGW(key=CANARY, context_width=2).detect(**a)),
        dict(sequences=SEQS, prefix_lengths=PRE, dedup=A("optbool"), return_flags=A("bool"),
             window=A("int", lo=1, hi=2**62, optional=True), backend=A("backend")),
    )  # fmt: skip

    def window(rng):
        return [None, 1, 3, 50][int(rng.integers(0, 4))]

    t["Gumbel.detect"] = (
        lambda rng: detect_args(rng, salt=int(rng.integers(0, 2**32)), window=window(rng)),
        lambda a: result(tm.Gumbel(key=CANARY, context_width=2).detect(**a)),
        dict(sequences=SEQS, prefix_lengths=PRE, dedup=A("optbool"), return_flags=A("bool"),
             salt=SALT, window=A("int", lo=1, hi=2**62, optional=True), backend=A("backend")),
    )  # fmt: skip
    t["SynthID.detect"] = (
        lambda rng: detect_args(rng, eos_token_id=int(rng.integers(0, 50)),
                                weights=rng.uniform(0.1, 5, 6), window=window(rng)),
        lambda a: result(tm.SynthID(key=CANARY, layers=6, context_width=2).detect(**a)),
        dict(sequences=SEQS, prefix_lengths=PRE, dedup=A("optbool"), return_flags=A("bool"),
             eos_token_id=A("int", lo=0, hi=2**31 - 1, optional=True), backend=A("backend"),
             window=A("int", lo=1, hi=2**62, optional=True),
             weights=A("array", el="float", rank=1, lo=0.0, hi=None, finite=True,
                       optional=True, names=("weights",))),
    )  # fmt: skip

    many_keys = [CANARY, b"another key"]
    t["KGW.detect_many"] = (
        lambda rng: {k: v for k, v in detect_args(rng).items() if k != "return_flags"},
        lambda a: [result(r) for r in tm.KGW(key=b"x", context_width=2).detect_many(
            keys=many_keys, **a)],
        dict(sequences=SEQS, prefix_lengths=PRE, dedup=A("optbool"), backend=A("backend")),
    )  # fmt: skip
    t["Gumbel.detect_many"] = (
        lambda rng: {k: v for k, v in detect_args(rng, salt=int(rng.integers(0, 2**32))).items()
                     if k != "return_flags"},
        lambda a: [result(r) for r in tm.Gumbel(key=b"x", context_width=2).detect_many(
            keys=many_keys, **a)],
        dict(sequences=SEQS, prefix_lengths=PRE, dedup=A("optbool"), salt=SALT,
             backend=A("backend")),
    )  # fmt: skip
    t["SynthID.detect_many"] = (
        lambda rng: {k: v for k, v in detect_args(rng, eos_token_id=int(rng.integers(0, 50)),
                                                   weights=rng.uniform(0.1, 5, 6)).items()
                     if k != "return_flags"},
        lambda a: [result(r) for r in tm.SynthID(key=b"x", layers=6, context_width=2)
                   .detect_many(keys=many_keys, **a)],
        dict(sequences=SEQS, prefix_lengths=PRE, dedup=A("optbool"), backend=A("backend"),
             eos_token_id=A("int", lo=0, hi=2**31 - 1, optional=True),
             weights=A("array", el="float", rank=1, lo=0.0, hi=None, finite=True,
                       optional=True, names=("weights",))),
    )  # fmt: skip

    def gen_args(rng):
        batch, vocab, length = _sizes(rng)
        logits = _logits(rng, batch, vocab)
        logits[:, 0] = 0.0
        return dict(logits=logits, input_ids=_ids(rng, batch, length, vocab),
                    enabled=(rng.random(batch) < 0.7).astype(np.uint8))  # fmt: skip

    def kgw_apply(a):
        tm.KGW(key=CANARY, context_width=2).apply_(**a)
        return a["logits"]

    t["KGW.apply_"] = (
        gen_args, kgw_apply,
        dict(logits=LOG, input_ids=IDS, enabled=EN, backend=A("backend")),
    )  # fmt: skip
    t["Gumbel.sample"] = (
        lambda rng: {**gen_args(rng), "salt": 7, "rng": np.random.default_rng(int(rng.integers(9)))},  # noqa: E501
        lambda a: tm.Gumbel(key=CANARY, context_width=2).sample(**a),
        dict(logits=LOG, input_ids=IDS, enabled=EN, salt=SALT, rng=A("rng")),
    )  # fmt: skip

    def synthid_gen(rng):
        a = gen_args(rng)
        a["uniforms"] = rng.random(a["logits"].shape[0])
        a["return_marked"] = bool(rng.random() < 0.5)
        return a

    t["SynthID.sample"] = (
        synthid_gen,
        lambda a: tm.SynthID(key=CANARY, layers=8, context_width=2).sample(**a),
        dict(logits=LOG, input_ids=IDS, enabled=EN, return_marked=A("bool"),
             uniforms=A("array", el="float", rank=1, lo=0.0, hi=0.999, finite=True,
                        optional=True, names=("uniforms",))),
    )  # fmt: skip
    t["to_json"] = (
        lambda rng: dict(include_key=bool(rng.random() < 0.5)),
        lambda a: tm.KGW(key=CANARY).to_json(**a).replace(tm.Key(CANARY).to_hex(), "<hex>"),
        dict(include_key=A("bool")),
    )
    t["from_json"] = (
        lambda rng: dict(s=tm.KGW(key=CANARY, gamma=0.5).to_json()),
        lambda a: tm.KGW.from_json(a["s"], key=CANARY).to_json(),
        dict(s=A("json", names=("version", "dedup", "config", "gamma", "s", "scheme", "seeding",
                                "context_width", "delta", "key"))),
    )  # fmt: skip
    t["Key"] = (lambda rng: dict(material=CANARY), lambda a: tm.Key(**a).fingerprint,
                dict(material=A("keymat", names=("key",))))  # fmt: skip
    t["Key.from_hex"] = (
        lambda rng: dict(hex_words=tm.Key(CANARY).to_hex()),
        lambda a: tm.Key.from_hex(**a).fingerprint,
        dict(hex_words=A("hex", names=("key_hex",))),
    )
    t["Ragged[d]"] = (
        lambda rng: dict(d=0),
        lambda a: tm.Ragged.from_sequences([[1, 2], [3]])[a["d"]],
        dict(d=A("int", lo=-2, hi=1, index=True)),
    )
    t["Ragged.detect"] = (
        lambda rng: dict(zip(("tokens", "offsets"), _ragged(rng))),
        lambda a: result(tm.KGW(key=CANARY, context_width=1).detect(tm.Ragged(**a))),
        dict(tokens=A("array", el="int", lo=0, hi=2**31 - 1, rank=1, names=("tokens",)),
             offsets=A("array", el="int", lo=0, hi=None, rank=1, offsets=True,
                       names=("offsets",))),
    )  # fmt: skip
    t["is_watermarked"] = (
        lambda rng: dict(alpha=float(rng.uniform(0, 1))),
        lambda a: tm.KGW(key=CANARY).detect([[1, 2, 3, 4, 5, 6]]).is_watermarked(**a),
        dict(alpha=A("prob", closed=True)),
    )
    t["windowed_max"] = (
        lambda rng: dict(window=int(rng.integers(1, 6))),
        lambda a: stats.windowed_max(np.array([0, 1, 1, 0, 1]), np.array([0, 3, 5]), p=0.25, **a),
        dict(window=A("int", lo=1, hi=2**62)),
    )
    t["detect_text"] = (
        lambda rng: dict(texts=["To be, or not to be", ""], tokenizer=str(demo_model.PATH)),
        lambda a: result(tm.KGW(key=CANARY, context_width=1).detect_text(**a)),
        dict(texts=A("texts"), tokenizer=A("tokenizer")),
    )
    t["Gumbel.logits_processor"] = (
        lambda rng: dict(salt=3),
        lambda a: repr(tm.Gumbel(key=CANARY).logits_processor(**a)),
        dict(salt=SALT),
    )
    return t


_TARGETS = None


def targets():
    global _TARGETS
    if _TARGETS is None:
        from fuzz_dialects import dialect_op_targets, dialect_targets

        _TARGETS = {**_op_targets(), **_scheme_targets(), **dialect_targets(A, _seqs),
                    **dialect_op_targets(A, _ragged)}  # fmt: skip
    return _TARGETS


# -- mutations -----------------------------------------------------------------------------

BAD, SAME, ANY, BAD_ANY_NAME = "bad", "same", "any", "bad_any_name"


class Skip(Exception):
    """This mutation does not apply to this argument (or this value)."""


def mutation_names(info: dict) -> list[str]:
    kind = info["kind"]
    if kind == "int":
        return ["id", "np_int", "float_frac", "float_int", "bool", "str", "none", "below",
                "above", "huge", "neg_huge", "nan", "list", "zero_d"]  # fmt: skip
    if kind in ("bool", "optbool"):
        return ["id", "np_bool", "none", "str_false", "str_no", "int1", "int0", "float",
                "list", "np_array"]  # fmt: skip
    if kind in ("real", "prob"):
        return ["id", "np_float", "nan", "inf", "neg_inf", "str", "bool", "none", "complex",
                "list", "huge_int", "zero", "one", "neg", "above_one"]  # fmt: skip
    if kind == "choice":
        return ["id", "upper", "empty", "none", "int", "list"]
    if kind == "backend":
        return ["id", "gpu", "empty", "none", "int", "upper", "list", "cuda"]
    if kind in ("key", "keys"):
        return ["id", "list", "int64", "torch", "row", "bytes_material", "str_material", "Key",
                "float", "five", "three", "neg", "big", "none", "empty"]  # fmt: skip
    if kind == "keymat":
        return ["id", "bytes", "bytearray", "Key", "empty_str", "empty_bytes", "none", "bool",
                "float", "neg_int", "surrogate", "list", "dict", "words"]  # fmt: skip
    if kind == "hex":
        return ["id", "upper", "short", "long", "nonhex", "int", "none", "bytes"]
    if kind == "json":
        return ["id", "version999", "version0", "version_str", "dedup_str", "extra", "list",
                "invalid", "deep", "gamma_str", "seeding_bad", "scheme_other", "key_field",
                "not_str", "fingerprint_wrong", "key_hex_bad", "bom"]  # fmt: skip
    if kind == "seqs":
        return ["id", "tuple", "arrays", "torch_list", "int32", "float_int", "str", "list_str",
                "neg", "big", "frac", "nested3", "none", "dict", "bool_el", "meta", "bf16",
                "huge", "nan", "torch2d", "generator", "bytearray_doc"]  # fmt: skip
    if kind == "rng":
        return ["id", "int", "randomstate", "str"]
    if kind == "texts":
        return ["id", "str", "tuple", "bytes", "int", "none", "empty", "int_scalar", "nested"]
    if kind == "tokenizer":
        return ["id", "path", "missing", "int", "none", "not_tokenizer", "json_file"]
    assert kind == "array", kind
    names = ["id", "list", "torch", "torch_noncontig", "strided", "readonly", "bigendian",
             "none", "str", "dict", "object", "ragged", "complex", "meta", "ndim_plus",
             "len_plus", "empty", "zero_d"]  # fmt: skip
    if info["rank"] == 2:
        names.append("fortran")
    if info["el"] == "int":
        names += ["int64", "int32", "uint16", "int8", "frac", "float_int", "bf16", "huge", "nan"]
        names += ["bool"] if not info.get("boolish") else ["bool_same"]
    else:
        names += ["float64", "float32", "int_dtype", "grad"]
        if not info.get("logits"):
            names += ["nan", "inf"]
        else:
            names += ["float16", "torch_bf16"]
    if info.get("lo") is not None:
        names.append("below")
    if info.get("hi") is not None:
        names.append("above")
    if info.get("offsets"):
        names += ["offsets_nonmono", "offsets_start1", "offsets_end"]
    return names


def _torch():
    import torch

    return torch


def _np_to_torch(v):
    torch = _torch()
    return torch.from_numpy(np.array(v, copy=True))


def mutate(m: str, v, info: dict, rng):  # noqa: C901 - one table of cases
    """``(new value, expectation)`` for mutation ``m`` of the canonical value ``v``."""
    import tokenmark as tm

    kind = info["kind"]
    if m == "id":
        return v, SAME
    if kind == "int":
        lo, hi = info["lo"], info["hi"]
        left_out = v is None
        v = max(lo, 1) if v is None else v  # an optional int left out: mutate a valid one
        bad_err = BAD
        table = {
            "np_int": (np.int64(v), SAME),
            "float_frac": (v + 0.5, bad_err),
            "float_int": (float(v), bad_err),
            "bool": (True, bad_err),
            "str": (str(v), bad_err),
            "below": (lo - 1, bad_err),
            "above": (hi + 1, bad_err),
            "huge": (2**70, bad_err),
            "neg_huge": (-(2**70), bad_err),
            "nan": (float("nan"), bad_err),
            "list": ([v], bad_err),
            "zero_d": (np.array(v), ANY),
        }
        if m == "none":
            if info.get("optional"):
                raise Skip
            return None, bad_err
        if left_out and table[m][1] == SAME:
            raise Skip  # the same value as a valid int the canonical call left out: no reference
        return table[m]
    if kind in ("bool", "optbool"):
        if m == "none":
            if kind == "optbool":
                raise Skip
            return None, BAD
        table = {
            "np_bool": (np.bool_(bool(v)) if v is not None else None, SAME),
            "str_false": ("False", BAD),
            "str_no": ("no", BAD),
            "int1": (1, BAD),
            "int0": (0, BAD),
            "float": (1.0, BAD),
            "list": ([True], BAD),
            "np_array": (np.array([True]), BAD),
        }
        return table[m]
    if kind in ("real", "prob"):
        closed = info.get("closed")
        prob = kind == "prob"
        table = {
            "np_float": (np.float64(v), SAME),
            "nan": (float("nan"), BAD),
            "inf": (float("inf"), BAD),
            "neg_inf": (float("-inf"), BAD),
            "str": (str(v), BAD),
            "bool": (True, BAD),
            "none": (None, BAD),
            "complex": (complex(v, 1), BAD),
            "list": ([v], BAD),
            "huge_int": (10**400, BAD),
            "zero": (0.0, ANY if (closed or not prob) else BAD),
            "one": (1.0, ANY if (closed or not prob) else BAD),
            "neg": (-0.1, BAD if prob else ANY),
            "above_one": (1.5, BAD if prob else ANY),
        }
        return table[m]
    if kind in ("choice", "backend"):
        table = {
            "upper": (str(v).upper(), BAD),
            "empty": ("", BAD),
            "none": (None, BAD),
            "int": (0, BAD),
            "list": ([v], BAD),
            "gpu": ("gpu", BAD),
            "cuda": ("cuda", BAD),
        }
        if kind == "backend" and m == "upper":
            return "CPU", BAD
        return table[m]
    if kind in ("key", "keys"):
        w = np.asarray(v)
        table = {
            "list": (w.tolist(), SAME),
            "int64": (w.astype(np.int64), SAME),
            "torch": (_np_to_torch(w.astype(np.int64)), SAME),
            "row": (w.reshape(1, 4), SAME if kind == "keys" else ANY),
            "bytes_material": (CANARY.encode(), BAD),
            "str_material": (CANARY, BAD),
            "Key": (tm.Key(CANARY), BAD),
            "float": (w.astype(np.float64), BAD),
            "five": (np.append(w, 1), BAD),
            "three": (w[:3].copy(), BAD),
            "neg": (np.append(w[:3].astype(np.int64), -1), BAD),
            "big": (np.append(w[:3].astype(np.int64), 2**32), BAD),
            "none": (None, BAD),
            "empty": (np.zeros(0, np.uint32), BAD),
        }
        return table[m]
    if kind == "keymat":
        table = {
            "bytes": (CANARY.encode(), SAME),
            "bytearray": (bytearray(CANARY.encode()), SAME),
            "Key": (tm.Key(CANARY), SAME),
            "empty_str": ("", BAD),
            "empty_bytes": (b"", BAD),
            "none": (None, BAD),
            "bool": (True, BAD),
            "float": (1.5, BAD),
            "neg_int": (-1, BAD),
            "surrogate": (CANARY + "\ud800", BAD),
            "list": ([CANARY], BAD),
            "dict": ({"key": CANARY}, BAD),
            "words": (tm.Key(CANARY).words, BAD),
        }
        return table[m]
    if kind == "hex":
        table = {
            "upper": (v.upper(), SAME),
            "short": (v[:-2], BAD),
            "long": (v + "00", BAD),
            "nonhex": ("z" + v[1:], BAD),
            "int": (int(v, 16), BAD),
            "none": (None, BAD),
            "bytes": (v.encode(), BAD),
        }
        return table[m]
    if kind == "json":
        d = json.loads(v)
        table = {
            "version999": ({**d, "version": 999}, BAD),
            "version0": ({**d, "version": 0}, BAD),
            "version_str": ({**d, "version": "1"}, BAD),
            "dedup_str": ({**d, "dedup": "false"}, BAD),
            "extra": ({**d, "surprise": 1}, BAD),
            "gamma_str": ({**d, "gamma": "0.5"}, BAD),
            "seeding_bad": ({**d, "seeding": ["prev"]}, BAD),
            "scheme_other": ({**d, "scheme": "gumbel"}, BAD),
            "key_field": ({**d, "key": CANARY}, BAD),
            "fingerprint_wrong": ({**d, "key_fingerprint": "00000000"}, BAD),
            "key_hex_bad": ({**d, "key_hex": CANARY}, BAD),
        }
        if m in table:
            obj, exp = table[m]
            return json.dumps(obj), exp
        other = {
            "list": ("[1]", BAD),
            "invalid": ("{", BAD),
            "deep": ("[" * 100000, BAD),
            "not_str": (5, BAD),
            "bom": ("\ufeff" + v, ANY),
        }
        return other[m]
    if kind == "seqs":
        torch = _torch()
        first = [s for s in v if len(s)]
        table = {
            "tuple": (tuple(tuple(s) for s in v), SAME),
            "arrays": ([np.asarray(s, np.int64) for s in v], SAME),
            "torch_list": ([torch.tensor(s, dtype=torch.int64) for s in v], SAME),
            "int32": ([np.asarray(s, np.int32) for s in v], SAME),
            "float_int": ([np.asarray(s, np.float64) for s in v], SAME),
            "str": ("abc", BAD),
            "list_str": (["abc"], BAD),
            "nested3": ([[[1, 2]]], BAD),
            "none": (None, BAD),
            "dict": ({"a": [1]}, BAD),
            "bool_el": ([[True, False]], BAD),
            "meta": ([torch.zeros(3, dtype=torch.int64, device="meta")], BAD),
            "bf16": ([torch.ones(3, dtype=torch.bfloat16)], BAD),
            "bytearray_doc": ([bytearray(b"abc")], BAD),  # text, not ids 97-99
            "generator": ((list(s) for s in v), SAME),
        }
        if m in table:
            return table[m]
        if m == "torch2d":
            if not v or len({len(s) for s in v}) != 1:
                raise Skip
            return torch.tensor(v, dtype=torch.int64).reshape(len(v), -1), SAME
        if not first:
            raise Skip
        bad_el = {"neg": -1, "big": 2**31, "frac": 1.5, "huge": 2**70, "nan": float("nan")}[m]
        out = [list(s) for s in v]
        out[v.index(first[0])][0] = bad_el
        return out, BAD
    if kind == "rng":
        table = {
            "int": (5, BAD),
            "randomstate": (np.random.RandomState(0), BAD),
            "str": ("seed", BAD),
        }
        return table[m]
    if kind == "texts":
        table = {
            "str": ("To be, or not to be", ANY),
            "tuple": (tuple(v), SAME),
            "bytes": ([b"abc"], BAD),
            "int": ([1, 2], BAD),
            "none": (None, BAD),
            "empty": ([], ANY),
            "int_scalar": (5, BAD),
            "nested": ([["a"]], BAD),
        }
        return table[m]
    if kind == "tokenizer":
        table = {
            "path": (Path(v), SAME),
            "missing": (str(Path(v) / "no-such-tokenizer"), BAD),
            "int": (5, BAD),
            "none": (None, BAD),
            "not_tokenizer": (str(Path(v) / "config.json"), BAD),
            "json_file": (str(Path(v) / "tokenizer.json"), SAME),
        }
        return table[m]
    return _mutate_array(m, v, info, rng)


def _mutate_array(m, v, info, rng):
    torch = _torch()
    arr = np.asarray(v)
    el_int = info["el"] == "int"
    if m == "list":
        return arr.tolist(), SAME
    if m == "torch":
        return _np_to_torch(arr), SAME
    if m == "torch_noncontig":
        if arr.ndim == 0:
            raise Skip
        big = np.repeat(arr, 2, axis=-1)
        t = torch.from_numpy(big)[..., ::2]
        return t, SAME
    if m == "strided":
        if arr.ndim == 0:
            raise Skip
        big = np.repeat(arr, 2, axis=-1)
        return big[..., ::2], SAME
    if m == "readonly":
        c = arr.copy()
        c.setflags(write=False)
        return c, SAME
    if m == "bigendian":
        return arr.astype(arr.dtype.newbyteorder(">")), SAME
    if m == "fortran":
        return np.asfortranarray(arr), SAME
    if m == "none" and (info.get("optional") or info["names"][0] in ("prefix_lengths", "enabled")):
        raise Skip  # None is valid there, with another meaning
    simple = {
        "none": (None, BAD),
        "str": ("abc", BAD),
        "dict": ({"a": 1}, BAD),
        "object": (np.array([1, "a"], dtype=object), BAD),
        "ragged": ([[1, 2], [3]], BAD),
        "complex": (arr.astype(np.complex128) + 1j, BAD),
        "meta": (torch.zeros(arr.shape, dtype=torch.float32, device="meta"), BAD),
        "ndim_plus": (arr[None, None] if arr.ndim == 0 else arr[None], BAD),
        "empty": (arr[:0] if arr.ndim else arr.reshape(1)[:0], ANY),
        "zero_d": (
            np.asarray(arr.reshape(-1)[0]) if arr.size else None,
            ANY if info.get("scalar_ok") else BAD,
        ),
    }
    if m in simple:
        out, exp = simple[m]
        if m == "zero_d" and out is None:
            raise Skip
        if m == "ndim_plus" and info.get("scalar_ok") and arr.ndim == 1 and arr.shape[0] == 1:
            exp = ANY  # [1, 1]: still one row
        return out, exp
    if m == "len_plus":
        if arr.ndim == 0:
            raise Skip
        extra = arr[:1] if arr.shape[0] else np.zeros((1, *arr.shape[1:]), arr.dtype)
        if info.get("offsets"):
            return np.concatenate([arr, arr[-1:]]), ANY  # one more, empty, document
        if info.get("scalar_ok") and arr.shape[0] == 0:
            return np.concatenate([arr, extra]), ANY  # one row: broadcast to every (no) row
        if info.get("any_len"):
            return np.concatenate([arr, extra]), ANY  # its length is free (e.g. more layers)
        return np.concatenate([arr, extra]), BAD_ANY_NAME
    if el_int:
        lo = info.get("lo", 0) or 0
        hi = info.get("hi")
        vmax = int(arr.max()) if arr.size else 0
        fits = {"int64": 2**63 - 1, "int32": 2**31 - 1, "uint16": 2**16 - 1, "int8": 127}
        if m in fits:
            if vmax > fits[m]:
                raise Skip
            return arr.astype(m), SAME
        if m == "bool_same":
            return arr.astype(bool), SAME
        if m == "float_int":
            return arr.astype(np.float64), ANY
        if m == "bf16":
            return torch.ones(arr.shape, dtype=torch.bfloat16), BAD
        if m == "bool":
            return arr.astype(bool), BAD
        if not arr.size and m not in ("below", "above", "huge"):
            raise Skip
        if m == "frac":
            return arr.astype(np.float64) + 0.5, BAD
        if m == "nan":
            f = arr.astype(np.float64)
            f.reshape(-1)[0] = np.nan
            return f, BAD
        if m in ("below", "above", "huge"):
            val = {"below": lo - 1, "above": (hi or 0) + 1, "huge": 2**70}[m]
            if info.get("offsets") and m == "above":
                raise Skip
            out = arr.tolist() if arr.ndim else [arr.item()]
            if arr.ndim == 2:
                if not arr.size:
                    raise Skip
                out[0][0] = val
            elif out:
                out[0] = val
            else:
                raise Skip
            return out, BAD
        if m == "offsets_nonmono":
            if arr.size < 3 or arr[-1] == 0:
                raise Skip
            o = arr.copy()
            o[1] = o[-1] + 1
            return o, BAD
        if m == "offsets_start1":
            o = arr.copy()
            o[0] = 1
            return o, BAD
        if m == "offsets_end":
            o = arr.copy()
            o[-1] += 1
            return o, BAD
    else:
        if m == "float64":
            return arr.astype(np.float64), BAD if info.get("logits") else SAME
        if m == "float32":
            return arr.astype(np.float32), SAME if arr.dtype == np.float32 else ANY
        if m == "int_dtype":
            return np.round(arr).astype(np.int32), BAD if info.get("logits") else ANY
        if m == "grad":
            return torch.from_numpy(arr.copy()).requires_grad_(True), SAME
        if m == "float16":
            return arr.astype(np.float16), ANY
        if m == "torch_bf16":
            return torch.from_numpy(arr.copy()).to(torch.bfloat16), ANY
        if not arr.size:
            raise Skip
        if m in ("nan", "inf", "below", "above"):
            f = arr.astype(np.float64).copy()
            lo, hi = info.get("lo"), info.get("hi")
            val = {"nan": np.nan, "inf": np.inf, "below": (lo or 0) - 1.0,
                   "above": (hi or 0) + 1.0}[m]  # fmt: skip
            f.reshape(-1)[0] = val
            return f, BAD
    raise Skip


# -- running one case (in the child) -------------------------------------------------------

ERROR_WORDS = ("expected", "must", "out of range", "needs", "unknown", "no such", "cannot",
               "takes", "not a", "invalid", "no field", "does not match", "holds no")  # fmt: skip


def _norm(x):
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        x = x.float().numpy() if x.dtype == torch.bfloat16 else x.numpy()
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        x = dataclasses.asdict(x)
    if isinstance(x, dict):
        return {k: _norm(v) for k, v in sorted(x.items())}
    if isinstance(x, (list, tuple)):
        return [_norm(v) for v in x]
    if isinstance(x, np.ndarray) or isinstance(x, np.generic):
        a = np.asarray(x)
        return ("array", a.shape, a.astype(np.float64 if a.dtype.kind in "fc" else a.dtype))
    return x


def _equal(a, b) -> bool:
    if isinstance(a, tuple) and a and a[0] == "array":
        if not (isinstance(b, tuple) and b and b[0] == "array") or a[1] != b[1]:
            return False
        x, y = a[2], b[2]
        if x.dtype.kind == "f" or y.dtype.kind == "f":
            return np.array_equal(x.astype(np.float64), y.astype(np.float64), equal_nan=True)
        return np.array_equal(x.astype(np.int64), y.astype(np.int64))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_equal, a, b))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    return a == b


def _exc_texts(e: BaseException) -> list[str]:
    out, seen, todo = [], set(), [e]
    while todo:
        x = todo.pop()
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        out += [str(x), repr(x)] + [repr(a) for a in getattr(x, "args", ())]
        todo += [x.__cause__, x.__context__]
    return out


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[str] = []

    def emit(self, record):
        self.records.append(self.format(record))


def _guarded(fn, needles):
    """Call ``fn()`` capturing stdout, stderr, warnings and logs: (result, exception, leak)."""
    out, err = io.StringIO(), io.StringIO()
    handler = _Capture()
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    result = exc = None
    try:
        with (
            warnings.catch_warnings(record=True) as caught,
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            warnings.simplefilter("always")
            try:
                result = fn()
            except Exception as e:  # noqa: BLE001 - every exception is classified
                exc = e
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    texts = [out.getvalue(), err.getvalue(), *handler.records]
    texts += [str(w.message) for w in caught]
    if exc is not None:
        texts += _exc_texts(exc)
    try:
        texts.append(repr(result)[:200000])
    except Exception:  # noqa: BLE001 - a repr that raises is itself reported below
        texts.append("<repr failed>")
    leak = next((n for t in texts if (n := find_canary(t, needles))), None)
    return result, exc, leak


def _clear(exc, names, info, any_name, all_names) -> str | None:
    """None when ``exc`` is a clear error, else why not."""
    allowed = (ValueError, TypeError) + ((IndexError,) if info.get("index") else ())
    if not isinstance(exc, allowed) or isinstance(exc, UnicodeError):
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    msg = str(exc)
    pool = all_names if any_name else names
    if not any(n in msg for n in pool):
        return f"does not name {names[0]!r}: {type(exc).__name__}: {msg[:200]}"
    if not any(w in msg.lower() for w in ERROR_WORDS):
        return f"does not say what is accepted: {msg[:200]}"
    return None


def _selftest(spec: dict, needles: list[str]) -> dict:
    """Cases that must be caught, to show the harness catches them (never in the catalogue)."""
    m = spec["m"]
    if m == "crash":
        os.abort()
    if m == "hang":
        import time

        time.sleep(3600)
    if m == "print_key":
        print(f"the key is {CANARY}")
        return {"o": "ok"}
    if m == "raw_print_key":
        os.write(2, f"key words {canary_strings()[3]}".encode())
        return {"o": "ok"}
    call = {
        "leak": lambda: (_ for _ in ()).throw(ValueError(f"x: must be valid, got {CANARY}")),
        "context_leak": _context_leak,
        "silent": lambda: None,
        "unclear": lambda: [][1],
        "unnamed": lambda: (_ for _ in ()).throw(ValueError("must be something")),
    }[m]
    result, exc, leak = _guarded(call, needles)
    if leak:
        return {"o": "leak", "why": "selftest"}
    if exc is None:
        return {"o": "silent", "why": "selftest"}
    why = _clear(exc, ("x",), {}, False, ("x",))
    return {"o": "unclear", "why": why} if why else {"o": "clear"}


def _context_leak():
    try:
        raise TypeError(f"inner {CANARY}")
    except TypeError:
        raise ValueError("x: expected something") from None


def run_case(spec: dict, needles: list[str]) -> dict:
    if spec["t"] == "_selftest":
        return _selftest(spec, needles)
    if spec["t"] == "cli":
        from fuzz_cli import run_cli_case

        return run_cli_case(spec, needles)
    build, call, args = targets()[spec["t"]]
    info = args[spec["a"]]
    names = (spec["a"], *info.get("names", ()))
    all_names = tuple(a for k, i in args.items() for a in (k, *i.get("names", ())))
    try:
        kwargs = build(np.random.default_rng(spec["s"]))
        kwargs.setdefault(spec["a"], "auto" if info["kind"] == "backend" else None)
        value, expect = mutate(spec["m"], kwargs[spec["a"]], info, np.random.default_rng(0))
    except Skip:
        return {"o": "skip"}
    if expect == SAME:
        base, base_exc, leak = _guarded(
            lambda: call(build(np.random.default_rng(spec["s"]))), needles
        )
        if leak:
            return {"o": "leak", "why": f"canonical call showed {leak[:4]}..."}
        if base_exc is not None:
            if spec["m"] == "id":
                why = _clear(base_exc, names, info, True, all_names) or str(base_exc)[:200]
                return {"o": "unclear", "why": f"valid input refused: {why}"}
            expect = ANY
    kwargs[spec["a"]] = value
    result, exc, leak = _guarded(lambda: call(kwargs), needles)
    if leak:
        return {"o": "leak", "why": f"{type(exc).__name__ if exc else 'output'} showed a key form"}
    if exc is not None:
        if isinstance(exc, Skip):
            return {"o": "skip"}
        why = _clear(exc, names, info, expect in (BAD_ANY_NAME, ANY), all_names)
        return {"o": "unclear", "why": why} if why else {"o": "clear"}
    if expect in (BAD, BAD_ANY_NAME):
        return {"o": "silent", "why": f"accepted: {repr(result)[:150]}"}
    if expect == SAME and not _equal(_norm(base), _norm(result)):
        return {"o": "silent", "why": "a different result than the canonical call"}
    return {"o": "ok"}


def child_main() -> None:
    specs = json.loads(sys.stdin.read())
    needles = canary_strings()
    real = sys.stdout
    for i, spec in enumerate(specs):
        print(f"S {i}", file=real, flush=True)
        try:
            res = run_case(spec, needles)
        except BaseException as e:  # noqa: BLE001 - the harness itself must report, not die
            res = {"o": "unclear", "why": f"harness: {type(e).__name__}: {str(e)[:200]}"}
        print("R " + json.dumps({"i": i, **res}), file=real, flush=True)


# -- running many cases (in the parent) ----------------------------------------------------


def run_cases(specs: list[dict], per_case_s: float = 2.0, base_s: float = 60.0) -> list[dict]:
    """Run ``specs`` in child processes, restarting after a crash or a hang; one outcome each."""
    needles = canary_strings()
    results: list[dict | None] = [None] * len(specs)
    start = 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    env.pop("TOKENMARK_BACKEND", None)
    while start < len(specs):
        todo = specs[start:]
        timeout = base_s + per_case_s * len(todo)
        try:
            proc = subprocess.run(
                [sys.executable, str(HERE / "fuzz_harness.py")],
                input=json.dumps(todo), capture_output=True, text=True, timeout=timeout,
                env=env, errors="replace",
            )  # fmt: skip
            stdout, stderr, rc, hung = proc.stdout, proc.stderr, proc.returncode, False
        except subprocess.TimeoutExpired as e:
            stdout = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout
            stderr = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr
            stdout, stderr, rc, hung = stdout or "", stderr or "", None, True
        last_started, current = -1, -1
        for line in stdout.splitlines():
            if line.startswith("S "):
                last_started = current = int(line[2:])
            elif line.startswith("R "):
                r = json.loads(line[2:])
                i = start + r.pop("i")
                if results[i] is None or results[i]["o"] != "leak":  # a leak seen in between
                    results[i] = r
                current = -1
            elif current >= 0 and find_canary(line, needles):
                results[start + current] = {"o": "leak", "why": "child stdout showed a key form"}
        if find_canary(stderr, needles) is not None:
            results.append({"o": "leak", "why": "child stderr showed a key form", "spec": None})
        done = [i for i in range(len(todo)) if results[start + i] is not None]
        if len(done) == len(todo):
            break
        if last_started < 0 or results[start + last_started] is not None:
            # The child died before or between cases (an import error, ...): report it once.
            why = f"child exited with {rc} outside a case: {stderr[-500:]}"
            for i in range(len(todo)):
                if results[start + i] is None:
                    results[start + i] = {"o": "crash", "why": why}
            break
        outcome = "hang" if hung else "crash"
        why = "time limit" if hung else f"exit status {rc} ({stderr.strip()[-300:]})"
        results[start + last_started] = {"o": outcome, "why": why}
        start += last_started + 1
    for spec, r in zip(specs, results):
        if r is not None:
            r["spec"] = spec
    return [r for r in results if r is not None]


def tally(results: list[dict]) -> Counter:
    c = Counter(r["o"] for r in results)
    c["tried"] = sum(v for k, v in c.items() if k != "skip")
    return c


def grid_specs(seeds=(0,)) -> list[dict]:
    """Every (target, argument, mutation) of the catalogue, for each seed."""
    out = []
    for t, (_, _, args) in targets().items():
        for a, info in args.items():
            for m in mutation_names(info):
                out += [{"t": t, "a": a, "m": m, "s": s} for s in seeds]
    return out


OPS = ("apply_kgw_bias_@", "score_kgw@", "sample_gumbel@", "score_gumbel@", "sample_synthid@",
       "score_synthid@")  # fmt: skip


def failures(results: list[dict]) -> list[dict]:
    return [r for r in results if r["o"] in FAILURES]


if __name__ == "__main__":
    child_main()
