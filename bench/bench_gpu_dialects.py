"""Dialect detection on a CUDA device (vLLM, SynthID-Text), against the peers' own detectors and
ours on the CPU, in the same run (issue 12's GPU rows).

    TOKENMARK_VLLM_WHEEL=PEER python bench/bench_gpu_dialects.py [--out FILE]
    # PEER: vLLM 0.33.0's wheel, or the zip of the seven files its detector needs, made where the
    # wheel is (the zip is small enough to travel to a GPU machine):
    python -m pip download --no-deps vllm==0.33.0 -d .peers/whl
    python bench/bench_gpu_dialects.py --pack-peer .peers/whl/vllm-0.33.0-*.whl \
        .peers/vllm_detector.zip
    rm -r .peers/whl  # .peers/ is ignored by git; only the zip needs to travel

vLLM's config module imports pydantic, which the GPU image lacks: the loader
(tests/dialects/vllm_source.py) then stands in for the two names it uses, which detection never
calls, and the table's note says so.

End to end, per case (ids uniform over 32000): the peer's rate on its first 16 documents on
the CPU, ours on the CPU (one thread, as the peer: run with OMP_NUM_THREADS=1) and ours on CUDA
tensors (results back on the host, p-values included; a median of repeated calls,
synchronised). vLLM (context width 4, its context dedup): the peer is its
``GumbelWatermarkDetector.detect``, one document per call. SynthID-Text (transformers' config,
30 keys, n-grams of 5): the peer is what transformers' detectors run (``compute_g_values`` and
the two masks, the mean score in numpy). SGLang's peer needs packages the GPU image lacks, so it
has op rows only.

Then each op alone on the device (``score_vllm`` with and without dedup, ``score_sglang``,
``score_synthid_text``; documents of 1000) at 10^7 and 10^8 tokens, beside a device copy of the
tokens (the memory floor), from CUDA events.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "dialects"))
import tokenmark as tm  # noqa: E402
from _common import markdown_table  # noqa: E402
from bench_gpu_kgw import median_ms  # noqa: E402
from tokenmark import ops  # noqa: E402

KEY, WIDTH, PEER_DOCS = 31337, 4, 16


def pack_peer(wheel: str, out: str) -> None:
    """The files tests/dialects/vllm_source.py reads, copied from the wheel into a small zip."""
    import vllm_source

    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for f in vllm_source.FILES:
            dst.writestr(f, src.read(f))
    print(f"{out}: {len(vllm_source.FILES)} files of {Path(wheel).name}")


def wall(fn) -> float:
    """Median wall seconds per call (after a warm-up), the device synchronised after each."""
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(max(3, min(50, int(0.5 / max(_once(fn), 1e-6))))):
        times.append(_once(fn))
    return float(np.median(times))


def _once(fn) -> float:
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def detect_rows(v, n_docs: int, rng) -> list[list[object]]:
    x = rng.integers(0, 32000, size=(n_docs, 512))
    wm = tm.dialects.vllm(key=KEY, context_width=WIDTH)
    row = [f"{n_docs} x 512"]
    peer = None
    if v is not None:
        det = v.GumbelWatermarkDetector(KEY, WIDTH)
        sub = [r.tolist() for r in x[:PEER_DOCS]]
        t0 = time.perf_counter()
        want = [det.detect(d) for d in sub]
        peer = sum(map(len, sub)) / (time.perf_counter() - t0)
        got = wm.detect(x[:PEER_DOCS])
        np.testing.assert_allclose(got.score, [w.score for w in want], rtol=1e-12)
    torch.set_num_threads(1)
    t_cpu = wall(lambda: wm.detect(x, backend="cpu"))
    x_dev = torch.from_numpy(x).cuda()
    want = wm.detect(x, backend="cpu")
    got = wm.detect(x_dev)
    np.testing.assert_array_equal(got.n_scored, want.n_scored)
    np.testing.assert_allclose(got.score, want.score, rtol=1e-12)
    t_gpu = wall(lambda: wm.detect(x_dev))
    n = x.size
    row += [f"{peer:,.0f}" if peer else "n/a", f"{n / t_cpu:,.0f}", f"{n / t_gpu:,.0f}"]
    row += [f"{n / t / peer:,.0f}x" if peer else "n/a" for t in (t_gpu, t_cpu)]
    return [row]


def synthid_text_rows(n_docs: int, rng) -> list[list[object]]:
    from transformers import SynthIDTextWatermarkingConfig

    x = rng.integers(0, 32000, size=(n_docs, 512))
    cfg = SynthIDTextWatermarkingConfig(keys=list(range(654, 684)), ngram_len=5)
    proc = cfg.construct_processor(32000, "cpu")
    sub = torch.as_tensor(x[:PEER_DOCS])
    t0 = time.perf_counter()
    g = proc.compute_g_values(sub).numpy()
    mask = proc.compute_context_repetition_mask(sub).numpy()
    mask = mask * proc.compute_eos_token_mask(sub, 2).numpy()[:, 4:]
    want = (g * mask[:, :, None]).sum(axis=(1, 2)) / (g.shape[-1] * mask.sum(1))
    peer = sub.numel() / (time.perf_counter() - t0)
    wm = tm.dialects.SynthIDText.from_config(cfg, eos_token_id=2)
    np.testing.assert_allclose(wm.detect(x[:PEER_DOCS]).mean_score, want, rtol=1e-12)
    torch.set_num_threads(1)
    t_cpu = wall(lambda: wm.detect(x, backend="cpu"))
    x_dev = torch.from_numpy(x).cuda()
    on_host = wm.detect(x, backend="cpu")
    np.testing.assert_array_equal(wm.detect(x_dev).ones, on_host.ones)
    t_gpu = wall(lambda: wm.detect(x_dev))
    n = x.size
    return [[f"{n_docs} x 512", f"{peer:,.0f}", f"{n / t_cpu:,.0f}", f"{n / t_gpu:,.0f}",
             f"{n / t_gpu / peer:,.0f}x", f"{n / t_cpu / peer:,.0f}x"]]  # fmt: skip


def op_calls(tokens, offsets) -> dict[str, object]:
    """Each dialect op on device tokens, by row label (SGLang always dedups; SynthID-Text masks
    repeated contexts, its default)."""
    keys, weights = np.array([KEY], np.uint64), np.ones(1)
    table = np.random.default_rng(1).integers(0, 2, 2**16).astype(np.uint8)
    st_keys = np.arange(654, 684, dtype=np.uint64)
    return {
        "score_vllm, no dedup": lambda: ops.score_vllm(
            tokens, offsets, keys=keys, weights=weights, context_width=WIDTH, dedup=False),
        "score_vllm, dedup": lambda: ops.score_vllm(
            tokens, offsets, keys=keys, weights=weights, context_width=WIDTH, dedup=True),
        "score_sglang": lambda: ops.score_sglang(tokens, offsets, keys=keys, context_width=WIDTH),
        "score_synthid_text (30 layers)": lambda: ops.score_synthid_text(
            tokens, offsets, keys=st_keys, table=table, ngram_len=5),
    }  # fmt: skip


def op_rows(rng) -> list[list[object]]:
    rows = []
    for n_tokens in (10**7, 10**8):
        tokens = torch.from_numpy(rng.integers(0, 32000, n_tokens).astype(np.int32)).cuda()
        offsets = torch.arange(0, n_tokens + 1, 1000, dtype=torch.int64, device="cuda")
        floor = median_ms(lambda tokens=tokens: tokens.clone())
        for label, call in op_calls(tokens, offsets).items():
            ms = median_ms(call)
            g = n_tokens / ms / 1e6
            rows.append([f"{n_tokens:.0e}", label, f"{ms:.3f}", f"{g:.1f}", f"{floor:.3f}",
                         f"{ms / floor:.1f}"])  # fmt: skip
        del tokens, offsets
    return rows


def vllm_note(v) -> str:
    stand_in = " (pydantic missing here: the loader's stand-in)" if v.pydantic_stand_in else ""
    return "0.33.0's GumbelWatermarkDetector" + stand_in


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="append the markdown tables to this file")
    ap.add_argument("--pack-peer", nargs=2, metavar=("WHEEL", "ZIP"))
    args = ap.parse_args()
    if args.pack_peer:
        pack_peer(*args.pack_peer)
        return
    v, peer_note = None, "not given (TOKENMARK_VLLM_WHEEL)"
    if os.environ.get("TOKENMARK_VLLM_WHEEL"):
        import vllm_source

        try:
            v = vllm_source.load(os.environ["TOKENMARK_VLLM_WHEEL"])
        except ImportError as e:  # its config module needs packages this machine may lack
            peer_note = f"not loaded here ({e})"
    rng = np.random.default_rng(0)
    detect = [r for n_docs in (16, 1000) for r in detect_rows(v, n_docs, rng)]
    synthid = [r for n_docs in (16, 1000) for r in synthid_text_rows(n_docs, rng)]
    header = ["docs x len", "peer tok/s (CPU)", "tokenmark CPU tok/s", "tokenmark CUDA tok/s",
              "CUDA / peer", "CPU / peer"]  # fmt: skip
    text = [
        "", f"## Dialect detection on {torch.cuda.get_device_name()}", "",
        "vLLM gumbel:", "", markdown_table(header, detect), "",
        "SynthID-Text (peer: transformers' g-values and masks):", "",
        markdown_table(header, synthid), "",
        markdown_table(["tokens", "op", "ms", "G tokens/s", "copy ms", "/ copy"],
                       op_rows(rng)),
        "", "vLLM's peer: " + (vllm_note(v) if v else peer_note), "",
    ]  # fmt: skip
    print("\n".join(text))
    if args.out:
        with args.out.open("a") as f:
            f.write("\n".join(text) + "\n")


if __name__ == "__main__":
    main()
