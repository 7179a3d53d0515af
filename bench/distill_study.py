"""Do model watermarks survive (ensemble) distillation? Writes bench/DISTILL.md and its plots.

    python bench/distill_study.py --seed 0              # the CPU study (under an hour, 1 core)
    python bench/distill_study.py --seed 0 --scale gpu  # larger models, more data and seeds
    python bench/distill_study.py --seed 0 --scale tiny --out /tmp/d   # a smoke test

Teachers T1..T5: small Llamas trained on the demo model's Shakespeare split from different seeds
(T1 the owner's), plus a base model B (another seed) that every student starts from. T1 serves
under one watermark at a time: GINSEW (eps 0.05, 0.1, 0.2), KGW (delta 1, 2), Gumbel, SynthID, or
none (the null). Ensembles of k teachers (T1 watermarked, the others clean) average their
next-token probabilities. Students are distilled from B on soft labels (KL on human contexts) or
on the ensemble's sampled text (CE), one pass over fresh data; their checkpoints are the data
sizes. The k = 1 students are then washed (fine-tuned on human text). Every model is tested with
every detector under the owners' keys; the null models (T2..T5, B, students of clean ensembles)
also under fresh random keys. Everything is seeded from ``--seed``.
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

import _distill as D  # noqa: E402
import tokenmark as tm  # noqa: E402
from tokenmark.suspect import radioactivity  # noqa: E402

HERE = Path(__file__).resolve().parent

SCALES = {
    "tiny": dict(
        vocab=256,
        model=D.ModelConfig(32, 96, 1, 2, 64),
        teacher_steps=10,
        batch=8,
        length=48,
        student_steps=6,
        checkpoints=(2, 4, 6),
        seeds=2,
        ks=(1, 2, 3),
        probes=128,
        open_docs=8,
        gen_docs=8,
        quality_docs=8,
        null_keys=3,
        wash_steps=2,
        lr=3e-3,
        student_lr=2e-3,
    ),
    "cpu": dict(
        vocab=512,
        model=D.ModelConfig(64, 192, 2, 2, 48),
        teacher_steps=250,
        batch=12,
        length=48,
        student_steps=60,
        checkpoints=(15, 30, 60),
        seeds=2,
        ks=(1, 2, 3, 5),
        probes=1024,
        open_docs=24,
        gen_docs=32,
        quality_docs=32,
        null_keys=10,
        wash_steps=20,
        lr=5e-3,
        student_lr=5e-3,
        ce_schemes=("none", "GINSEW eps=0.2", "KGW delta=2", "Gumbel", "SynthID"),
    ),
    "gpu": dict(
        vocab=4096,
        model=D.ModelConfig(192, 576, 6, 6, 128),
        teacher_steps=1000,
        batch=32,
        length=128,
        student_steps=800,
        checkpoints=(100, 300, 800),
        seeds=5,
        ks=(1, 2, 3, 5),
        probes=4096,
        open_docs=256,
        gen_docs=256,
        quality_docs=256,
        null_keys=50,
        wash_steps=200,
        lr=3e-3,
        student_lr=1e-3,
    ),
}

PROMPT_LEN = 8
# GINSEW's probes and the students' prompts are human text, never text the watermarked teacher
# wrote: every probe and token is scored (the seen-window rules guard against a suspect copying
# teacher-written probes; here they would only drop probes).
HUMAN_PROBES = {"skip_seen_windows": False}
HUMAN_PROMPTS = {"skip_prompt_windows": False}


def schemes(seed: int) -> dict:
    """The owner's watermark configurations (context width 1 everywhere: the time / green list /
    draw of a token depends on the previous token), keyed per study seed."""

    def key(name):
        return f"owner {name} study seed {seed}".encode()

    return {
        "none": None,
        "GINSEW eps=0.05": tm.GINSEW(key=key("g"), epsilon=0.05, frequency=16.0, context_width=1),
        "GINSEW eps=0.1": tm.GINSEW(key=key("g"), epsilon=0.1, frequency=16.0, context_width=1),
        "GINSEW eps=0.2": tm.GINSEW(key=key("g"), epsilon=0.2, frequency=16.0, context_width=1),
        "KGW delta=1": tm.KGW(key=key("k"), gamma=0.25, delta=1.0, context_width=1),
        "KGW delta=2": tm.KGW(key=key("k"), gamma=0.25, delta=2.0, context_width=1),
        "Gumbel": tm.Gumbel(key=key("u"), context_width=1),
        "SynthID": tm.SynthID(key=key("s"), context_width=1),
    }


# Which (scheme, mode) cells run: GINSEW and KGW change the distribution, so both routes; Gumbel
# and SynthID change only sampling (their soft labels are the plain distribution): text only.
def modes_of(kind: str) -> tuple[str, ...]:
    return ("kl", "ce") if kind in ("none", "ginsew", "kgw") else ("ce",)


def detectors_of(name: str, wm) -> list[str]:
    kind = wm.scheme_name
    if kind == "ginsew":
        return ["probe", "text"]
    if kind in ("kgw", "gumbel"):
        return ["direct", "closed", "open"]
    return ["direct"]


def null_key(tag: str, seed: int, i: int) -> bytes:
    """The ``i``-th fresh key of the null model named ``tag``: distinct per model, so the fresh-key
    p-values of different null models are independent draws over keys."""
    return f"null key {tag} {seed} {i}".encode()


class Evaluator:
    """Runs every detector of every owner scheme on one suspect model."""

    def __init__(self, sch: dict, teacher1, held, vocab, sc, seed, device):
        rng = np.random.default_rng(seed + 7)
        self.sch = {n: w for n, w in sch.items() if w is not None}
        self.probes = D.windows(held, sc["probes"], 16, rng)
        self.gen_prompts = D.windows(held, sc["gen_docs"], PROMPT_LEN, rng)
        self.new = sc["length"] - PROMPT_LEN
        self.device = device
        # The owner's watermarked texts (T1 alone) for the open-mode radioactivity test.
        self.open_texts = {}
        open_prompts = D.windows(held, sc["open_docs"], PROMPT_LEN, rng)
        for n, w in self.sch.items():
            if w.scheme_name in ("kgw", "gumbel"):
                served = D.Served(n, w, vocab, device)
                self.open_texts[n] = D.generate([teacher1], served, open_prompts, self.new, seed)
        self.held_eval = D.windows(held, 64, sc["length"], rng)

    def generate_plain(self, model, seed):
        return D.generate(
            [model], D.Served("none", None, 0, self.device), self.gen_prompts, self.new, seed
        )

    def run(self, model, seed: int, extra_keys: int = 0, tag: str | None = None) -> dict:
        """Every owner detector on ``model``; with ``extra_keys``, also that many fresh keys, built
        from ``tag`` (the null model's name) and ``seed`` so that no two null models share one."""
        if extra_keys and not tag:
            raise ValueError("tag: fresh null keys need the null model's name")
        out: dict = {"ppl": float(np.exp(np.log(D.perplexity(model, self.held_eval)).mean()))}
        probs = D.next_probs(model, self.probes)
        fn = D.CachedProbs(self.probes, probs)
        gen = self.generate_plain(model, seed)
        preds = {
            n: radioactivity.predict_argmax(model, t, batch_size=64)
            for n, t in self.open_texts.items()
        }
        for n, w in self.sch.items():
            out[n] = self._detect(w, n, fn, gen, preds.get(n))
        if extra_keys:
            out["null_keys"] = self._null_keys(fn, gen, extra_keys, seed, tag)
        return out

    def _detect(self, w, name, fn, gen, preds) -> dict:
        kind = w.scheme_name
        r: dict = {}
        if kind == "ginsew":
            pr = w.detect_model(fn, self.probes, batch_size=512, **HUMAN_PROBES)
            tx = w.detect(gen, prefix_lengths=PROMPT_LEN, **HUMAN_PROMPTS)
            r["probe"] = dict(z=pr.z, p=pr.p_value, n=pr.n, amplitude=pr.amplitude, p_snr=pr.p_snr)
            r["text"] = dict(z=tx.z, p=tx.p_value, n=tx.n_observations, amplitude=tx.amplitude)
            return r
        z, p, n = D.pooled(kind, w, gen, PROMPT_LEN)
        r["direct"] = dict(z=z, p=p, n=n)
        if kind in ("kgw", "gumbel"):
            c = radioactivity.test_closed(w, gen[:, PROMPT_LEN:], prompts=gen[:, :PROMPT_LEN])
            o = radioactivity.test_open(w, None, self.open_texts[name], predictions=preds)
            r["closed"] = dict(z=c.z, p=c.p_value, n=c.n_scored)
            r["open"] = dict(z=o.z, p=o.p_value, n=o.n_scored)
        return r

    def _null_keys(self, fn, gen, n_keys, seed, tag: str) -> dict:
        """p-values under fresh keys (open mode needs text watermarked per key: not here)."""
        out: dict = {
            "GINSEW probe": [],
            "GINSEW text": [],
            "KGW direct": [],
            "KGW closed": [],
            "Gumbel direct": [],
            "Gumbel closed": [],
            "SynthID direct": [],
        }
        for i in range(n_keys):
            key = null_key(tag, seed, i)
            g = tm.GINSEW(key=key, epsilon=0.2, frequency=16.0, context_width=1)
            pr = g.detect_model(fn, self.probes, batch_size=512, **HUMAN_PROBES)
            out["GINSEW probe"].append(pr.p_value)
            tx = g.detect(gen, prefix_lengths=PROMPT_LEN, **HUMAN_PROMPTS)
            out["GINSEW text"].append(tx.p_value)
            for fam, w in (
                ("KGW", tm.KGW(key=key, gamma=0.25, context_width=1)),
                ("Gumbel", tm.Gumbel(key=key, context_width=1)),
            ):
                out[f"{fam} direct"].append(D.pooled(w.scheme_name, w, gen, PROMPT_LEN)[1])
                c = radioactivity.test_closed(w, gen[:, PROMPT_LEN:], prompts=gen[:, :PROMPT_LEN])
                out[f"{fam} closed"].append(c.p_value)
            s = tm.SynthID(key=key, context_width=1)
            out["SynthID direct"].append(D.pooled("synthid", s, gen, PROMPT_LEN)[1])
        return out


def quality(sch, teacher, held, vocab, sc, seed, device) -> dict:
    """Paired perplexity under the plain teacher of its watermarked vs plain continuations."""
    prompts = D.windows(held, sc["quality_docs"], PROMPT_LEN, np.random.default_rng(seed + 11))
    new = sc["length"] - PROMPT_LEN
    plain = D.generate([teacher], D.Served("none", None, 0, device), prompts, new, seed + 1)
    lp = np.log(D.perplexity(teacher, plain, start=PROMPT_LEN - 1))
    out = {}
    for n, w in sch.items():
        if w is None:
            continue
        marked = D.generate([teacher], D.Served(n, w, vocab, device), prompts, new, seed + 1)
        lw = np.log(D.perplexity(teacher, marked, start=PROMPT_LEN - 1))
        d = lw - lp
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
        out[n] = dict(
            ppl_plain=float(np.exp(lp.mean())),
            ppl_wm=float(np.exp(lw.mean())),
            ratio=float(np.exp(d.mean())),
            lo=float(np.exp(d.mean() - half)),
            hi=float(np.exp(d.mean() + half)),
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", choices=sorted(SCALES), default="cpu")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: best on a shared machine)"
    )
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="re-render DISTILL.md and the plots from the run's distill_results.json in --out",
    )
    args = ap.parse_args()
    if args.report_only:
        import _distill_report

        res = json.loads((args.out / "distill_results.json").read_text())
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip()
        note = f"(Tables re-rendered from that run's JSON by `--report-only` at git {sha}.)"
        _distill_report.write(
            args.out, res["meta"], res["quality"], res["rows"], res["nulls"], note=note
        )
        return 0
    sc = SCALES[args.scale]
    torch.set_num_threads(args.threads)
    dev = args.device
    t0 = time.perf_counter()
    log = lambda *a: print(f"[{time.perf_counter() - t0:7.1f} s]", *a, flush=True)  # noqa: E731

    vocab = sc["vocab"]
    train, held = D.corpus(vocab)
    log(f"corpus: {len(train)} train / {len(held)} held-out tokens, vocab {vocab}")
    sch = schemes(args.seed)

    gcheck = D.check_ginsew_torch(sch["GINSEW eps=0.2"], vocab, dev)
    log(f"GINSEW torch vs numpy reference: max |d log p| = {gcheck:.2e}")
    assert gcheck < 1e-4, gcheck

    cfg = sc["model"]
    models = {}
    for j, name in enumerate(["T1", "T2", "T3", "T4", "T5", "B"]):
        m = D.make_model(vocab, cfg, 1000 * args.seed + j, dev)
        models[name] = D.train_lm(
            m,
            train,
            steps=sc["teacher_steps"],
            batch=sc["batch"],
            length=sc["length"],
            lr=sc["lr"],
            seed=1000 * args.seed + j,
            device=dev,
        )
        log(f"trained {name}")
    n_params = sum(p.numel() for p in models["T1"].parameters())

    qual = quality(sch, models["T1"], held, vocab, sc, args.seed, dev)
    log("quality done")
    ev = Evaluator(sch, models["T1"], held, vocab, sc, args.seed, dev)
    log("evaluator ready")

    rows: list[dict] = []
    nulls: list[dict] = []
    for name in ["T2", "T3", "T4", "T5", "B"]:
        r = ev.run(models[name], args.seed, extra_keys=sc["null_keys"], tag=name)
        nulls.append(dict(model=name, kind="trained from scratch", **r))
    log("null models evaluated")

    teachers = [models[n] for n in ["T1", "T2", "T3", "T4", "T5"]]
    tokens_per_step = sc["batch"] * sc["length"]
    for s in range(sc["seeds"]):
        for name, w in sch.items():
            kind = "none" if w is None else w.scheme_name
            served = D.Served(name, w, vocab, dev)
            for mode in modes_of(kind):
                if mode == "ce" and name not in sc.get("ce_schemes", sch):
                    continue
                for k in sc["ks"]:
                    seed = 100_000 * args.seed + 1000 * s + 10 * k + (mode == "ce")
                    texts = None
                    if mode == "ce":
                        n_rows = sc["student_steps"] * sc["batch"]
                        prompts = D.windows(train, n_rows, PROMPT_LEN, np.random.default_rng(seed))
                        texts = D.generate(
                            teachers[:k], served, prompts, sc["length"] - PROMPT_LEN, seed
                        )
                    student = copy.deepcopy(models["B"])

                    def on_ck(step, st, name=name, mode=mode, k=k, s=s, seed=seed):
                        last = step == sc["checkpoints"][-1]
                        if not last and k not in (1, 3):
                            return  # data size is reported at k = 1 and 3 only
                        r = ev.run(
                            st,
                            seed,
                            extra_keys=sc["null_keys"] if (name == "none" and last) else 0,
                            tag=f"student of clean k={k} ({mode})",
                        )
                        row = dict(
                            scheme=name,
                            mode=mode,
                            k=k,
                            seed=s,
                            step=step,
                            tokens=step * tokens_per_step,
                            stage="distilled",
                            **r,
                        )
                        rows.append(row)
                        if name == "none" and last:
                            nulls.append(
                                dict(
                                    row,
                                    model=f"student of clean k={k} ({mode})",
                                    kind="student of a clean ensemble",
                                )
                            )
                        if k == 1 and last and name != "none":
                            washed = D.train_lm(
                                copy.deepcopy(st),
                                train,
                                steps=sc["wash_steps"],
                                batch=sc["batch"],
                                length=sc["length"],
                                lr=sc["student_lr"],
                                seed=seed + 5,
                                device=dev,
                                constant_lr=True,
                            )
                            rows.append(dict(row, stage="washed", **ev.run(washed, seed)))

                    D.distill(
                        student,
                        mode=mode,
                        teachers=teachers[:k],
                        served=served,
                        stream=train,
                        texts=texts,
                        prompt_len=PROMPT_LEN,
                        steps=sc["student_steps"],
                        batch=sc["batch"],
                        length=sc["length"],
                        lr=sc["student_lr"],
                        seed=seed,
                        checkpoints=sc["checkpoints"],
                        on_checkpoint=on_ck,
                        device=dev,
                    )
                    log(f"seed {s} {name} {mode} k={k}")

    minutes = (time.perf_counter() - t0) / 60
    meta = dict(
        seed=args.seed,
        scale=args.scale,
        minutes=round(minutes, 1),
        threads=args.threads,
        device=dev,
        params=n_params,
        vocab=vocab,
        config=cfg.__dict__,
        scale_params={
            k: (v if not isinstance(v, D.ModelConfig) else v.__dict__) for k, v in sc.items()
        },
        ginsew_check=gcheck,
        # Fresh null keys are built from the null model's name as well as the seed (before this
        # field, T2..T5 and B shared one set of keys).
        null_keys_per_model=True,
        tokens_per_step=tokens_per_step,
        teacher_ppl={
            n: float(np.exp(np.log(D.perplexity(m, ev.held_eval)).mean()))
            for n, m in models.items()
        },
        torch=torch.__version__,
        machine=platform.processor() or platform.machine(),
        git=subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip(),
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "distill_results.json").write_text(
        json.dumps(dict(meta=meta, quality=qual, rows=rows, nulls=nulls), default=float) + "\n"
    )
    import _distill_report

    _distill_report.write(args.out, meta, qual, rows, nulls)
    log(f"wrote DISTILL.md and the plots ({minutes:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
