"""K keys in one pass against K separate passes, and detect() end to end against the scoring op.

    python bench/bench_multikey.py [--keys-tokens N] [--tokens N] [--keys 1,8,64] [--no-record]

1. K keys: `score_{kgw,gumbel,synthid}_keys` (one pass: context hashes, scored positions and
   dedup once, the PRF per key) against K calls of the single-key op, same documents, same run;
   the outputs are checked equal first. Rates are key-tokens/s (tokens x keys per second).
2. The way in: `KGW.detect` end to end (validation, flattening, kernel, exact p-values) from a
   list of Python int lists, a list of int32 / int64 arrays, a 2-D int64 array and a `Ragged`,
   against the raw op `score_kgw` on the prepared flat int32 arrays, with and without dedup
   (the issue's 10,000 x 1,000 tokens by default).
3. Windows: `detect(window=W)` against `detect()` of the same scheme on the same documents
   (KGW, Gumbel, SynthID): what the best window and its p-value cost on top of the scores.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import tokenmark as tm  # noqa: E402
from _common import markdown_table, median_time, record  # noqa: E402


def _docs(rng, tokens: int, doc_len: int) -> tm.Ragged:
    n_docs = tokens // doc_len
    flat = rng.integers(0, 50000, n_docs * doc_len).astype(np.int32)
    return tm.Ragged(flat, np.arange(n_docs + 1, dtype=np.int64) * doc_len)


def _schemes(keys: np.ndarray):
    """name -> (K-key call, single-key call(key)); context width 4, dedup on (the defaults)."""
    common = dict(context_width=4, seeding=0, dedup=True)
    return {
        "KGW": (
            lambda d: tm.score_kgw_keys(d.tokens, d.offsets, keys=keys, threshold=2**30, **common),
            lambda d, k: tm.score_kgw(d.tokens, d.offsets, key=k, threshold=2**30, **common),
        ),
        "Gumbel": (
            lambda d: tm.score_gumbel_keys(d.tokens, d.offsets, keys=keys, **common),
            lambda d, k: tm.score_gumbel(d.tokens, d.offsets, key=k, **common),
        ),
        "SynthID (30 layers)": (
            lambda d: tm.score_synthid_keys(d.tokens, d.offsets, keys=keys, layers=30, **common),
            lambda d, k: tm.score_synthid(d.tokens, d.offsets, key=k, layers=30, **common),
        ),
    }


def multikey_table(docs: tm.Ragged, key_counts: list[int]) -> str:
    n = len(docs.tokens)
    rows = []
    for k_count in key_counts:
        keys = np.stack([tm.Key(i).words for i in range(k_count)])
        for name, (many, one) in _schemes(keys).items():
            got = many(docs)
            for k, key in enumerate(keys):  # correctness before speed
                want = one(docs, key)
                assert np.array_equal(got[0], want[0]) and np.array_equal(got[1][k], want[1])
            # interleaved rounds, so that the load of a shared machine hits both alike
            reps = 1 if k_count > 8 else 3
            ones, seps = [], []
            for _ in range(5):
                ones.append(median_time(lambda many=many: many(docs), min_time=0, max_reps=reps))
                seps.append(
                    median_time(
                        lambda one=one, keys=keys: [one(docs, key) for key in keys],
                        min_time=0,
                        max_reps=reps,
                    )
                )
            t_one, t_sep = float(np.median(ones)), float(np.median(seps))
            rows.append(
                [
                    name,
                    k_count,
                    f"{n:,}",
                    f"{t_one * 1e3:.1f}",
                    f"{t_sep * 1e3:.1f}",
                    f"{n * k_count / t_one / 1e6:.0f}M",
                    f"{n * k_count / t_sep / 1e6:.0f}M",
                    f"{t_sep / t_one:.2f}x",
                ]
            )
            print(rows[-1], flush=True)
    header = ["scheme", "keys K", "tokens", "one pass ms", "K passes ms", "one pass key-tok/s",
              "K passes key-tok/s", "speed-up"]  # fmt: skip
    return markdown_table(header, rows)


def way_in_table(docs: tm.Ragged, doc_len: int) -> str:
    n = len(docs.tokens)
    arr64 = docs.tokens.astype(np.int64).reshape(-1, doc_len)
    inputs = {
        "list of int lists": arr64.tolist(),
        "list of int32 arrays": list(arr64.astype(np.int32)),
        "list of int64 arrays": list(arr64),
        "2-D int64 array": arr64,
        "Ragged (int32)": docs,
    }
    rows = []
    for dedup in (True, False):
        wm = tm.KGW(key=b"bench", context_width=4, dedup=dedup)

        def op(wm=wm, dedup=dedup):
            kw = dict(key=wm.key.words, threshold=wm.threshold, context_width=4, seeding=0)
            return tm.score_kgw(docs.tokens, docs.offsets, dedup=dedup, **kw)

        want = op()[1]
        for name, x in inputs.items():
            assert np.array_equal(wm.detect(x).n_green, want)
            # interleaved, so that the load of a shared machine hits both alike
            t_op, t_det = [], []
            for _ in range(5):
                t_op.append(median_time(op, min_time=0.0, max_reps=3))
                t_det.append(median_time(lambda x=x, wm=wm: wm.detect(x), min_time=0.0, max_reps=3))
            t_op_m, t_det_m = float(np.median(t_op)), float(np.median(t_det))
            rows.append(
                [
                    "yes" if dedup else "no",
                    name,
                    f"{n:,}",
                    f"{t_op_m * 1e3:.1f}",
                    f"{t_det_m * 1e3:.1f}",
                    f"{n / t_op_m / 1e6:.0f}M",
                    f"{n / t_det_m / 1e6:.0f}M",
                    f"{t_det_m / t_op_m:.2f}",
                ]
            )
            print(rows[-1], flush=True)
    header = ["dedup", "input", "tokens", "op ms", "detect ms", "op tok/s", "detect tok/s",
              "detect / op"]  # fmt: skip
    return markdown_table(header, rows)


def window_table(docs: tm.Ragged, window: int) -> str:
    n = len(docs.tokens)
    rows = []
    for wm in (tm.KGW(key=b"bench", context_width=4), tm.Gumbel(key=b"bench", context_width=4),
               tm.SynthID(key=b"bench", context_width=4)):  # fmt: skip
        with_w = wm.detect(docs, window=window)
        assert np.array_equal(with_w.p_value, wm.detect(docs).p_value)
        t_plain, t_win = [], []
        for _ in range(5):  # interleaved, so that the load of a shared machine hits both alike
            t_plain.append(median_time(lambda wm=wm: wm.detect(docs), min_time=0.0, max_reps=3))
            t_win.append(median_time(lambda wm=wm: wm.detect(docs, window=window), min_time=0.0,
                                     max_reps=3))  # fmt: skip
        tp, tw = float(np.median(t_plain)), float(np.median(t_win))
        rows.append([type(wm).__name__, f"{n:,}", window, f"{tp * 1e3:.1f}", f"{tw * 1e3:.1f}",
                     f"{n / tp / 1e6:.0f}M", f"{n / tw / 1e6:.0f}M", f"{tw / tp:.2f}"])  # fmt: skip
        print(rows[-1], flush=True)
    header = ["scheme", "tokens", "window", "detect ms", "detect(window) ms", "detect tok/s",
              "detect(window) tok/s", "window / plain"]  # fmt: skip
    return markdown_table(header, rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys-tokens", type=int, default=1_000_000)
    ap.add_argument("--tokens", type=int, default=10_000_000)
    ap.add_argument("--doc-len", type=int, default=1000)
    ap.add_argument("--keys", default="1,8,64")
    ap.add_argument("--skip-keys", action="store_true")
    ap.add_argument("--skip-way-in", action="store_true")
    ap.add_argument("--window-tokens", type=int, default=1_000_000)
    ap.add_argument("--skip-window", action="store_true")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    out = []
    if not args.skip_keys:
        table = multikey_table(
            _docs(rng, args.keys_tokens, args.doc_len), [int(k) for k in args.keys.split(",")]
        )
        notes = (
            f"Random ids (vocabulary 50000), documents of {args.doc_len} tokens, context width 4, "
            "dedup on. 'K passes': the single-key op called once per key on the same arrays; "
            "outputs checked equal before timing. Medians of 5 interleaved rounds; all threads."
        )
        out.append(("CPU: K keys in one pass against K passes (`score_*_keys`)", table, notes))
    if not args.skip_way_in:
        load_before = os.getloadavg()[0]
        table = way_in_table(_docs(rng, args.tokens, args.doc_len), args.doc_len)
        notes = (
            f"`KGW.detect` (context width 4, gamma 0.25) end to end on {args.tokens:,} random ids "
            f"in documents of {args.doc_len}, against `score_kgw` on the flat int32 arrays it "
            "scores; medians of 5 interleaved rounds of 3 calls each; load average "
            f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after (on {os.cpu_count()} CPUs)."
        )
        out.append(("CPU: `detect()` end to end against the scoring op (the way in)", table, notes))
    if not args.skip_window:
        table = window_table(_docs(rng, args.window_tokens, args.doc_len), 100)
        notes = (
            f"Random ids, documents of {args.doc_len} tokens, context width 4, dedup on, host "
            "(C++) backend; the p-values checked equal with and without the window first. "
            "Medians of 5 interleaved rounds of 3 calls each; all threads."
        )
        out.append(("CPU: `detect(window=100)` against `detect()`", table, notes))
    for title, table, notes in out:
        record(title, table, notes, dry_run=args.no_record)


if __name__ == "__main__":
    main()
