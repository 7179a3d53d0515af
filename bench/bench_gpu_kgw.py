"""GPU benchmark of the KGW operations: apply_kgw_bias_ and score_kgw against same-run floors.

Bias: bytes moved = batch * vocab * itemsize read + the same written (an upper bound: groups
with no green entry are not written back). Floors measured in the same run on the same bytes:
a device-to-device copy (``dst.copy_(src)``), ``torch.add(x, y, out=x)``, and the latency of an
empty kernel launch (a one-element ``add_``) for batch 1. Peer: transformers'
``WatermarkLogitsProcessor`` at batch 64, vocab 128256 (skipped when transformers is missing).
Scoring: tokens/s on 10^8 tokens in documents of about 1000 tokens, with and without dedup, as
a fraction of the copy bandwidth over the 4 bytes a token occupies.

Timing: CUDA events around each call after warm-up; medians. Usage::

    python bench/bench_gpu_kgw.py --backends cuda,triton --out bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import statistics
import subprocess
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

BIAS_BATCHES = (1, 8, 64, 256)
BIAS_VOCABS = (32000, 128256, 151936)
BIAS_DTYPES = (torch.bfloat16, torch.float32)
# Scoring fills the device, launch cost apart (the Gumbel and SynthID benches use these too).
SCORE_TOKENS = 10**8
SCORE_DOC_LEN = 1000
DETECT_TOKENS = 10**7  # detect() also computes each document's p-value on the host
GAMMA_25 = 1 << 30
WIDTH, SEEDING = 4, 0  # tokenmark.KGW defaults: 4 previous tokens, ordered chain
BACKEND_MODULES = {"cuda": "tokenmark.backends.cuda.kgw", "triton": "tokenmark.backends.triton.kgw"}


def median_ms(fn: Callable[[], object], warmup: int = 5, iters: int = 30) -> float:
    """Median time of one call in milliseconds, from CUDA events around each call."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    for start, end in zip(starts, ends, strict=True):
        start.record()
        fn()
        end.record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in zip(starts, ends, strict=True))


def load_backends(
    names: list[str], modules: dict[str, str] = BACKEND_MODULES
) -> tuple[dict[str, object], list[str]]:
    """The importable modules among ``names`` (keys of ``modules``), and notes on the others."""
    backends, notes = {}, []
    for name in names:
        if name not in modules:
            raise SystemExit(f"--backends: unknown backend {name!r}, expected cuda or triton")
        try:
            backends[name] = importlib.import_module(modules[name])
        except ImportError as e:
            notes.append(f"backend {name} skipped: {modules[name]} not importable ({e})")
    return backends, notes


def run_scheme_bench(scheme: str, doc: str, modules: dict[str, str], steps) -> None:
    """The command line of a scheme's GPU benchmark: ``--backends`` and ``--out``; runs each
    ``step(backends, rows)`` and prints (and appends) the markdown."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--backends", default="cuda", help="comma-separated: cuda,triton")
    parser.add_argument("--out", type=Path, help="append the markdown table to this file")
    args = parser.parse_args()
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    backends, notes = load_backends(names, modules)
    if not backends:
        raise SystemExit("no backend to benchmark: " + "; ".join(notes))
    rows = ["", f"## {scheme} on {torch.cuda.get_device_name()}", ""]
    rows += [f"- {note}" for note in notes]
    for step in steps:
        step(backends, rows)
    text = "\n".join(rows) + "\n"
    print(text)
    if args.out:
        with args.out.open("a") as f:
            f.write(text)


def score_step(op: str, n_tokens: int, doc_len: int, params: Callable[[torch.device], tuple]):
    """A step of :func:`run_scheme_bench`: each backend module's ``op`` on ``n_tokens`` random
    ids in documents of ``doc_len``, with and without dedup; ``params(device)`` gives the
    arguments between the key words and ``dedup``."""

    def bench_score(backends: dict[str, object], rows: list[str]) -> None:
        dev = torch.device("cuda")
        gen = torch.Generator(device=dev).manual_seed(1)
        tokens = torch.randint(0, 128256, (n_tokens,), device=dev, generator=gen,
                               dtype=torch.int32)  # fmt: skip
        offsets = torch.arange(0, n_tokens + 1, doc_len, device=dev)
        args = params(dev)
        rows += [
            "",
            "| op | backend | tokens | dedup | ms | Mtokens/s |",
            "|---|---|---|---|---|---|",
        ]
        for backend, mod in backends.items():
            fn = getattr(mod, op)
            for dedup in (False, True):
                ms = median_ms(
                    lambda fn=fn, dedup=dedup: fn(
                        tokens, offsets, None, (1, 2, 3, 4), *args, dedup, False
                    ),
                    warmup=2,
                    iters=10,
                )
                rate = n_tokens / ms / 1e3
                rows.append(f"| {op} | {backend} | {n_tokens} | {dedup} | {ms:.3f} | {rate:.0f} |")

    return bench_score


def detect_step(scheme: str, tokens: int, doc_len: int):
    """A step of :func:`run_scheme_bench`: ``tm.<scheme>.detect`` on a CUDA tensor of ``tokens``
    random ids in documents of ``doc_len``, per backend (scored on the device, only per-document
    counts come back)."""

    def bench_detect(backends: dict[str, object], rows: list[str]) -> None:
        import tokenmark as tm

        dev = torch.device("cuda")
        gen = torch.Generator(device=dev).manual_seed(3)
        docs = torch.randint(0, 128256, (tokens // doc_len, doc_len), device=dev, generator=gen)
        wm = getattr(tm, scheme)(key=tm.Key(b"bench"))
        rows += ["", "| op | tokens | backend | ms | Mtokens/s |", "|---|---|---|---|---|"]
        for backend in ("auto", *backends):
            ms = median_ms(lambda backend=backend: wm.detect(docs, dedup=False, backend=backend),
                           warmup=2, iters=10)  # fmt: skip
            rows.append(
                f"| {scheme}.detect (CUDA tensor, no dedup) | {tokens} | {backend} | {ms:.3f} "
                f"| {tokens / ms / 1e3:.0f} |"
            )

    return bench_detect


def bias_args(batch: int, vocab: int, dtype: torch.dtype, gen: torch.Generator):
    dev = torch.device("cuda")
    logits = torch.randn(batch, vocab, device=dev, generator=gen).to(dtype)
    ids = torch.randint(0, vocab, (batch, 16), device=dev, generator=gen)
    keys = torch.randint(-(2**31), 2**31 - 1, (batch, 4), device=dev, generator=gen,
                         dtype=torch.int32)  # fmt: skip
    thresholds = torch.full((batch,), GAMMA_25, dtype=torch.int32, device=dev)
    deltas = torch.full((batch,), 2.0, dtype=torch.float32, device=dev)
    return logits, ids, keys, thresholds, deltas


def bias_ms(mod, args) -> float:
    """Median ms of a backend module's apply_kgw_bias_ on :func:`bias_args` (no enabled flags)."""
    return median_ms(partial(mod.apply_kgw_bias_, *args, None, WIDTH, SEEDING))


def bench_bias(backends: dict[str, object], rows: list[str]) -> None:
    gen = torch.Generator(device="cuda").manual_seed(0)
    tiny = torch.zeros(1, device="cuda")
    launch_us = median_ms(partial(tiny.add_, 0), iters=100) * 1e3
    rows.append(f"Empty kernel launch (1-element add_): {launch_us:.1f} us\n")
    rows.append(
        "| backend | batch | vocab | dtype | median us | GB/s | copy us | copy GB/s "
        "| add(out=) us | copy time / time |"
    )
    rows.append("|---|---|---|---|---|---|---|---|---|---|")
    for dtype in BIAS_DTYPES:
        name = str(dtype).removeprefix("torch.")
        for vocab in BIAS_VOCABS:
            for batch in BIAS_BATCHES:
                args = bias_args(batch, vocab, dtype, gen)
                logits = args[0]
                nbytes = logits.numel() * logits.element_size()
                src = logits.clone()
                copy_ms = median_ms(partial(logits.copy_, src))
                add_ms = median_ms(partial(torch.add, logits, src, out=logits))
                copy_gbs = 2 * nbytes / copy_ms / 1e6
                for backend, mod in backends.items():
                    ms = bias_ms(mod, args)
                    rows.append(
                        f"| {backend} | {batch} | {vocab} | {name} | {ms * 1e3:.1f} "
                        f"| {2 * nbytes / ms / 1e6:.0f} | {copy_ms * 1e3:.1f} | {copy_gbs:.0f} "
                        f"| {add_ms * 1e3:.1f} | {copy_ms / ms:.2f} |"
                    )


def bench_transformers(backends: dict[str, object], rows: list[str]) -> None:
    try:
        from transformers.generation.logits_process import WatermarkLogitsProcessor
    except ImportError as e:
        rows.append(f"\ntransformers WatermarkLogitsProcessor skipped: not importable ({e})\n")
        return
    batch, vocab = 64, 128256
    rows.append("\n| peer | batch | vocab | dtype | median us | ours us (backend) | speedup |")
    rows.append("|---|---|---|---|---|---|---|")
    gen = torch.Generator(device="cuda").manual_seed(1)
    for dtype in BIAS_DTYPES:
        name = str(dtype).removeprefix("torch.")
        args = bias_args(batch, vocab, dtype, gen)
        logits, ids = args[:2]
        proc = WatermarkLogitsProcessor(
            vocab_size=vocab,
            device="cuda",
            greenlist_ratio=0.25,
            bias=2.0,
            seeding_scheme="lefthash",
            context_width=1,
        )
        ms = median_ms(partial(proc, ids, logits), warmup=2, iters=10)
        for backend, mod in backends.items():
            ours = bias_ms(mod, args)
            rows.append(
                f"| transformers WatermarkLogitsProcessor | {batch} | {vocab} | {name} "
                f"| {ms * 1e3:.0f} | {ours * 1e3:.1f} ({backend}) | {ms / ours:.1f}x |"
            )


def bench_score(backends: dict[str, object], rows: list[str]) -> None:
    dev = torch.device("cuda")
    gen = torch.Generator(device="cuda").manual_seed(2)
    n = SCORE_TOKENS
    # A 50k vocabulary, so (context, token) pairs repeat now and then as in text.
    tokens = torch.randint(0, 50000, (n,), device=dev, dtype=torch.int32, generator=gen)
    n_lens = 2 * n // SCORE_DOC_LEN
    lens = torch.randint(SCORE_DOC_LEN // 2, 3 * SCORE_DOC_LEN // 2, (n_lens,), device=dev,
                         generator=gen)  # fmt: skip
    ends = torch.cumsum(lens, 0)
    ends = ends[ends < n]
    zero = torch.zeros(1, dtype=torch.int64, device=dev)
    offsets = torch.cat([zero, ends, torch.tensor([n], device=dev)])
    n_docs = offsets.numel() - 1
    copy_ms = median_ms(partial(torch.empty_like(tokens).copy_, tokens))
    copy_gbs = 2 * n * 4 / copy_ms / 1e6
    rows.append(
        f"\nScoring {n:.0e} tokens in {n_docs} documents; device copy of the tokens: "
        f"{copy_ms:.3f} ms ({copy_gbs:.0f} GB/s).\n"
    )
    rows.append("| backend | dedup | median ms | G tokens/s | GB/s (4 B/token) | of copy GB/s |")
    rows.append("|---|---|---|---|---|---|")
    key = (0x01234567, 0x89ABCDEF, 0xDEADBEEF, 0x0BADF00D)
    for backend, mod in backends.items():
        for dedup in (False, True):
            call = partial(
                mod.score_kgw, tokens, offsets, None, key, GAMMA_25, WIDTH, SEEDING, dedup, False
            )
            ms = median_ms(call, warmup=2, iters=10)
            gbs = n * 4 / ms / 1e6
            rows.append(
                f"| {backend} | {dedup} | {ms:.2f} | {n / ms / 1e6:.1f} | {gbs:.0f} "
                f"| {gbs / copy_gbs:.2f} |"
            )


def header(notes: list[str]) -> list[str]:
    try:
        git = ["git", "rev-parse", "--short", "HEAD"]
        here = Path(__file__).parent
        sha = subprocess.run(git, capture_output=True, text=True, check=True, cwd=here).stdout
        sha = sha.strip()
    except (OSError, subprocess.CalledProcessError):
        sha = "unknown"
    from tokenmark import _cuda

    info = _cuda.info()
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"\n## bench_gpu_kgw ({when})\n",
        f"{torch.cuda.get_device_name()}; torch {torch.__version__}; CUDA archs {info['archs']}, "
        f"runtime {info['cuda_runtime_version']}, driver {info['cuda_driver_version']}; "
        f"git {sha}. Context width {WIDTH}, seeding {SEEDING}, gamma 0.25.\n",
    ]
    return lines + [f"- {note}" for note in notes] + ([""] if notes else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="cuda", help="comma-separated: cuda,triton")
    parser.add_argument("--out", type=Path, help="append the markdown table to this file")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu_kgw: no CUDA device")
    backends, notes = load_backends([b.strip() for b in args.backends.split(",") if b.strip()])
    if not backends:
        raise SystemExit("bench_gpu_kgw: no backend available: " + "; ".join(notes))
    rows = header(notes)
    bench_bias(backends, rows)
    bench_transformers(backends, rows)
    bench_score(backends, rows)
    text = "\n".join(rows) + "\n"
    print(text)
    if args.out:
        with args.out.open("a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
