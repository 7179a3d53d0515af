"""Building blocks of bench/distill_study.py: small Llamas on Shakespeare, watermarked teachers,
probability-averaged ensembles, students distilled on soft labels (KL) or sampled text (CE), and
the detectors run on them. Everything is seeded; torch runs on one device given by the caller."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))

from tokenmark.suspect import radioactivity  # noqa: E402

Z_1E6 = 4.753424308817087  # one-sided normal quantile of 1e-6


# -- data ----------------------------------------------------------------------------------------


def corpus(vocab: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) token streams of the demo model's Shakespeare split, under a byte-level
    BPE tokenizer of ``vocab`` ids trained on the training split (bench/train_demo_model.py's)."""
    from _corpus import split
    from train_demo_model import encode_stream, train_tokenizer

    train, held = split()
    tok = train_tokenizer(train, vocab)
    return encode_stream(tok, train), encode_stream(tok, held)


def windows(stream: np.ndarray, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random windows ``[n, length]`` of a token stream."""
    starts = rng.integers(0, len(stream) - length, n)
    return np.stack([stream[s : s + length] for s in starts])


# -- models --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelConfig:
    d_model: int
    d_ff: int
    layers: int
    heads: int
    context: int


def make_model(vocab: int, cfg: ModelConfig, seed: int, device: str):
    """The demo model's architecture (train_demo_model.make_model) at ``cfg``'s sizes, seeded."""
    from train_demo_model import make_model as llama

    torch.manual_seed(seed)
    return llama(vocab, cfg).to(device)


def _lr(step: int, steps: int, lr: float) -> float:
    warm = max(1, steps // 20)
    if step < warm:
        return lr * (step + 1) / warm
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm))))


def train_lm(model, stream, *, steps, batch, length, lr, seed, device, constant_lr=False):
    """Next-token training on random windows of a human token stream."""
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    model.train()
    for step in range(steps):
        x = torch.from_numpy(windows(stream, batch, length, rng)).to(device)
        for g in opt.param_groups:
            g["lr"] = lr if constant_lr else _lr(step, steps, lr)
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    model.eval()
    return model


@torch.no_grad()
def perplexity(model, ids: np.ndarray, start: int = 0) -> np.ndarray:
    """Per-row perplexity of ``ids [n, L]`` from position ``start + 1`` on."""
    model.eval()
    dev = next(model.parameters()).device
    out = []
    for s in range(0, len(ids), 64):
        x = torch.from_numpy(ids[s : s + 64]).to(dev)
        logp = torch.log_softmax(model(input_ids=x).logits.float(), -1)
        nll = -logp[:, :-1].gather(-1, x[:, 1:, None])[..., 0]
        out.append(nll[:, start:].mean(1).exp().cpu().numpy())
    return np.concatenate(out)


# -- watermarks as the teacher serves them ------------------------------------------------------


class GinsewTorch:
    """The GINSEW perturbation in torch for a whole batch of rows (the study's hot path; the
    reference backend is one row at a time). Checked against ``tm.GINSEW.apply_(...,
    backend="reference")`` by :func:`check_ginsew_torch`. context_width 1: the time of a row is
    a table lookup of its last id."""

    def __init__(self, wm, vocab: int, device: str):
        if wm.context_width != 1 or wm.t_source != "context":
            raise ValueError("GinsewTorch: context_width 1, t_source='context' only")
        self.wm = wm
        self.g0 = torch.from_numpy(wm.group_flags(vocab)).to(device)
        t = wm.times(np.arange(vocab, dtype=np.int64)[:, None])
        self.cos = torch.from_numpy(np.cos(wm.frequency * t)).to(device)

    def log_probs(self, logits: torch.Tensor, last_ids: torch.Tensor) -> torch.Tensor:
        """Watermarked log-probabilities of ``logits [..., V]`` after ``last_ids [...]``."""
        x = logits.double()
        neg = torch.tensor(-math.inf, dtype=x.dtype, device=x.device)
        l0 = torch.logsumexp(torch.where(self.g0, x, neg), -1)
        l1 = torch.logsumexp(torch.where(self.g0, neg, x), -1)
        d = l1 - l0
        eps = self.wm.epsilon
        c = self.cos[last_ids]
        scale = math.log1p(2 * eps)
        lq0 = torch.logaddexp(-F.softplus(d), torch.log(eps * (1 + c))) - scale
        lq1 = torch.logaddexp(-F.softplus(-d), torch.log(eps * (1 - c))) - scale
        out = torch.where(
            self.g0, x - l0[..., None] + lq0[..., None], x - l1[..., None] + lq1[..., None]
        )
        return out.float()


def check_ginsew_torch(wm, vocab: int, device: str, seed: int = 0) -> float:
    """Max |difference| of log-probs between :class:`GinsewTorch` and the numpy reference."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(64, vocab, generator=g) * 3
    ids = torch.randint(0, vocab, (64, 5), generator=g)
    ref = logits.clone().numpy()
    wm.apply_(ref, ids.numpy(), backend="reference")
    ours = GinsewTorch(wm, vocab, "cpu").log_probs(logits, ids[:, -1])
    return float(np.abs(ours.numpy() - ref).max())


class Served:
    """How the owner's teacher T1 serves tokens under one watermark (or none).

    ``log_probs`` (GINSEW, KGW, none): the served next-token distribution after each context.
    ``sample`` (Gumbel, SynthID): the served token (those schemes change sampling, not the
    distribution, so their soft labels carry no watermark and are not distilled)."""

    def __init__(self, name: str, wm, vocab: int, device: str):
        self.name, self.wm = name, wm
        self.kind = "none" if wm is None else wm.scheme_name
        self.gt = GinsewTorch(wm, vocab, device) if self.kind == "ginsew" else None

    @property
    def has_soft_labels(self) -> bool:
        return self.kind in ("none", "ginsew", "kgw")

    def log_probs(self, logits: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        """``logits [N, V]`` after contexts ``ctx [N, >=1]`` -> served log-probs ``[N, V]``."""
        if self.kind == "ginsew":
            return self.gt.log_probs(logits, ctx[:, -1])
        x = logits.float().contiguous().clone()
        if self.kind == "kgw":
            self.wm.apply_(x, ctx[:, -self.wm.context_width :].contiguous())
        return torch.log_softmax(x, -1)

    def sample(self, logits: torch.Tensor, ctx: torch.Tensor, rng: np.random.Generator):
        x = logits.float().cpu().numpy()
        ids = ctx.cpu().numpy()
        return torch.from_numpy(np.asarray(self.wm.sample(x, ids, rng=rng), dtype=np.int64))


def ensemble_log_probs(models, served: Served, ids: torch.Tensor) -> torch.Tensor:
    """log of the probability average over teachers, T1 (``models[0]``) served watermarked;
    ``ids [B, L]`` -> ``[B, L, V]``. Soft-label schemes only."""
    with torch.no_grad():
        B, L = ids.shape
        ps = []
        for j, m in enumerate(models):
            logits = m(input_ids=ids).logits.float()
            if j == 0:
                flat = served.log_probs(logits.reshape(B * L, -1), ids.reshape(B * L, 1))
                ps.append(flat.reshape(B, L, -1))
            else:
                ps.append(torch.log_softmax(logits, -1))
        return torch.logsumexp(torch.stack(ps), 0) - math.log(len(models))


@torch.no_grad()
def generate(models, served: Served, prompts: np.ndarray, new: int, seed: int, batch: int = 256):
    """Sample ``new`` tokens after each prompt from the ensemble (KV caches, temperature 1, full
    vocabulary). T1 (``models[0]``) is served watermarked; Gumbel / SynthID ensembles take T1's
    watermarked token with probability 1/k and a sample of the other teachers' average otherwise
    (the probability average of T1's one-hot and theirs)."""
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    dev = next(models[0].parameters()).device
    k = len(models)
    outs = []
    for s in range(0, len(prompts), batch):
        ids = torch.from_numpy(prompts[s : s + batch]).to(dev)
        pasts = [None] * k
        step_in = ids
        for _ in range(new):
            logits = []
            for j, m in enumerate(models):
                o = m(input_ids=step_in, past_key_values=pasts[j], use_cache=True)
                pasts[j] = o.past_key_values
                logits.append(o.logits[:, -1].float())
            if served.has_soft_labels:
                lp = [served.log_probs(logits[0], ids)] + [
                    torch.log_softmax(x, -1) for x in logits[1:]
                ]
                p = torch.stack(lp).exp().mean(0)
                nxt = torch.multinomial(p.cpu(), 1, generator=gen)[:, 0].to(dev)
            else:
                own = served.sample(logits[0], ids, rng).to(dev)
                if k > 1:
                    p = torch.stack([torch.softmax(x, -1) for x in logits[1:]]).mean(0)
                    other = torch.multinomial(p.cpu(), 1, generator=gen)[:, 0].to(dev)
                    pick = torch.from_numpy(rng.random(len(own)) < 1.0 / k).to(dev)
                    nxt = torch.where(pick, own, other)
                else:
                    nxt = own
            ids = torch.cat([ids, nxt[:, None]], 1)
            step_in = nxt[:, None]
        outs.append(ids.cpu().numpy())
    return np.concatenate(outs)


# -- students ------------------------------------------------------------------------------------


def distill(
    student,
    *,
    mode: str,
    teachers=None,
    served: Served | None = None,
    stream=None,
    texts=None,
    prompt_len: int = 0,
    steps: int,
    batch: int,
    length: int,
    lr: float,
    seed: int,
    checkpoints: tuple[int, ...],
    on_checkpoint,
    device: str,
):
    """Train ``student`` for ``steps`` (constant learning rate, one pass over fresh data) and
    call ``on_checkpoint(step, student)`` after each step in ``checkpoints``: the checkpoints are
    students of growing data sizes. ``mode="kl"``: soft labels of the ensemble on random windows
    of human text (``stream``); ``mode="ce"``: cross-entropy on the ensemble's sampled ``texts``
    (their ``prompt_len`` human tokens not trained on)."""
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(student.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    order = rng.permutation(len(texts)) if texts is not None else None
    for step in range(1, steps + 1):
        student.train()
        if mode == "kl":
            x = torch.from_numpy(windows(stream, batch, length, rng)).to(device)
            target = ensemble_log_probs(teachers, served, x)
            logq = torch.log_softmax(student(input_ids=x).logits.float(), -1)
            loss = (target.exp() * (target - logq)).sum(-1).mean()
        else:
            rows = order[((step - 1) * batch + np.arange(batch)) % len(texts)]
            x = torch.from_numpy(texts[rows]).to(device)
            labels = x.clone()
            labels[:, :prompt_len] = -100
            loss = student(input_ids=x, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        if step in checkpoints:
            student.eval()
            on_checkpoint(step, student)
    student.eval()
    return student


# -- detectors -----------------------------------------------------------------------------------


class CachedProbs:
    """A ``fn(ids) -> probabilities`` that answers from precomputed rows (the suspect's outputs do
    not depend on the key, so many keys are tested on one forward pass)."""

    def __init__(self, probes: np.ndarray, probs: np.ndarray):
        self.rows = {p.tobytes(): i for i, p in enumerate(np.ascontiguousarray(probes))}
        self.probs = probs

    def __call__(self, ids):
        a = np.ascontiguousarray(np.asarray(ids, dtype=np.int64))
        return self.probs[[self.rows[r.tobytes()] for r in a]]


@torch.no_grad()
def next_probs(model, probes: np.ndarray) -> np.ndarray:
    dev = next(model.parameters()).device
    out = []
    for s in range(0, len(probes), 512):
        x = torch.from_numpy(probes[s : s + 512]).to(dev)
        logits = model(input_ids=x, logits_to_keep=1).logits[:, -1]
        out.append(torch.softmax(logits.double(), -1).cpu().numpy())
    return np.concatenate(out)


def pooled(kind: str, wm, gen: np.ndarray, prompt_len: int) -> tuple[float, float, int]:
    """(z, p, n) of the scheme's own detector over all of a suspect's texts pooled (each text
    de-duplicated on its own, as ``detect`` does)."""
    from scipy import stats

    res = wm.detect(gen, prefix_lengths=prompt_len)
    n = int(res.n_scored.sum())
    if n == 0:
        return 0.0, 1.0, 0
    if kind == "kgw":
        g = wm.gamma_effective
        k = int(res.n_green.sum())
        return (k - n * g) / math.sqrt(n * g * (1 - g)), radioactivity.kgw_pvalue(k, n, g), n
    if kind == "gumbel":
        s = float(res.score.sum())
        return (s - n) / math.sqrt(n), radioactivity.gumbel_pvalue(s, n), n
    ones = int(res.ones.sum())
    m = n * res.ones.shape[1]
    z = (ones - m / 2) / math.sqrt(m / 4)
    return z, float(stats.binom.sf(ones - 1, m, 0.5)), n
