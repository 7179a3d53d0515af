"""``tokenmark demo``: the bundled Shakespeare model writes with and without the watermark.

Each prompt is a passage of a play the model never saw. The watermarked and the plain
continuation are shown side by side with their scores; green tokens are highlighted (ANSI colour
on a terminal, ``[brackets]`` otherwise). Generation is seeded, so a run repeats exactly.
"""

from __future__ import annotations

import shutil
import sys
import textwrap

import numpy as np

_GREEN, _RESET = "\033[1;32m", "\033[0m"


def _lines(tokenizer, ids, green, width: int, colour: bool) -> list[str]:
    """The tokens' text wrapped to ``width`` visible characters, breaking only between tokens,
    scored green tokens marked (``green``: 1 green, 0 red, -1 unscored)."""
    lines, line, used = [], "", 0
    for t, g in zip(ids, green):
        for k, piece in enumerate(tokenizer.decode([int(t)]).split("\n")):
            if k:  # the token holds a line break
                lines.append(line)
                line, used = "", 0
            if not piece:
                continue
            if used + len(piece) > width and used:
                lines.append(line)
                line, used = "", 0
                piece = piece.lstrip(" ") or piece
            shown = piece if g != 1 else (f"{_GREEN}{piece}{_RESET}" if colour else f"[{piece}]")
            line += shown
            used += len(piece) + (2 if g == 1 and not colour else 0)
    return [*lines, line]


def _columns(a: list[str], b: list[str], width: int) -> str:
    """Two columns of pre-wrapped lines; padding counts visible characters only."""
    a = a + [""] * (len(b) - len(a))
    b = b + [""] * (len(a) - len(b))
    return "\n".join(f"{x}{' ' * max(0, width - _visible_len(x))} | {y}" for x, y in zip(a, b))


def _visible_len(s: str) -> int:
    for code in (_GREEN, _RESET):
        s = s.replace(code, "")
    return len(s)


def run_demo(n: int = 3, new_tokens: int = 80, seed: int = 0, colour: bool | None = None) -> int:
    """Generate ``n`` watermarked and ``n`` plain continuations, print them and their scores."""
    import torch

    from . import demo_model
    from .kgw import KGW

    if n < 1 or new_tokens < 1:
        raise ValueError(f"n, new_tokens: must be >= 1, got {n}, {new_tokens}")
    colour = sys.stdout.isatty() if colour is None else colour
    model, tok = demo_model.load()
    prompt_len = 32
    prompts = torch.tensor(demo_model.prompts(tok, n, prompt_len))
    wm = KGW(key=b"tokenmark demo key", gamma=0.25, delta=2.0, context_width=4)
    kwargs = dict(
        attention_mask=torch.ones_like(prompts),
        do_sample=True,
        top_k=50,  # stated, not left to the library's default: a bit more readable than none
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        pad_token_id=tok.pad_token_id,
        eos_token_id=None,
    )
    torch.manual_seed(seed)
    marked = model.generate(prompts, logits_processor=[wm.logits_processor()], **kwargs)
    torch.manual_seed(seed)
    plain = model.generate(prompts, **kwargs)
    seqs = [s.numpy() for s in marked] + [s.numpy() for s in plain]
    res = wm.detect(seqs, prefix_lengths=prompt_len, return_flags=True)

    width = max(30, min(70, (shutil.get_terminal_size((120, 24)).columns - 3) // 2))
    print(f"scheme: {wm}")
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"model: bundled demo Llama ({n_params / 1e6:.1f}M parameters, trained on Shakespeare); "
        f"{n} held-out prompts x {new_tokens} new tokens, seed {seed}"
    )
    mark = "green" if colour else "[green]"
    print(f"tokens shown {mark} are in their green list; the detector never sees the prompt.\n")
    for i in range(n):
        prompt = tok.decode(prompts[i].tolist())
        print(f"--- prompt {i} " + "-" * (2 * width - 11))
        print(textwrap.indent(prompt.strip("\n"), "  "))
        heads = []
        for d, kind in ((i, "watermarked"), (n + i, "plain")):
            heads.append(
                f"{kind}: green {res.n_green[d]}/{res.n_scored[d]}"
                f" ({res.green_fraction[d]:.0%}), z {res.z[d]:.1f}, p {res.p_value[d]:.1e}"
            )
        body = [
            _lines(tok, seqs[d][prompt_len:], res.green[d][prompt_len:], width, colour)
            for d in (i, n + i)
        ]
        print(_columns([heads[0], "-" * width], [heads[1], "-" * width], width))
        print(_columns(*body, width) + "\n")
    flagged = res.is_watermarked(1e-3)
    print(
        f"at p <= 1e-3: flagged {flagged[:n].sum()}/{n} watermarked and {flagged[n:].sum()}/{n} "
        f"plain texts; median z {np.median(res.z[:n]):.1f} vs {np.median(res.z[n:]):.1f}"
    )
    return 0
