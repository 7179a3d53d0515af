"""The bundled demo model: a 3.7M-parameter Llama trained on Shakespeare (see README.md here).

Its files (config.json, model.safetensors, tokenizer.json) load offline with the standard
transformers API; ``bench/train_demo_model.py`` re-trains it from the ``shakespeare`` package.

Example
-------
>>> from tokenmark import demo_model
>>> model, tokenizer = demo_model.load()
>>> model.config.model_type
'llama'
"""

from __future__ import annotations

from pathlib import Path

PATH = Path(__file__).resolve().parent


def load(dtype=None):
    """``(model, tokenizer)`` from the bundled files, in eval mode, float32 unless ``dtype``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(
        PATH, dtype=dtype or torch.float32, local_files_only=True
    )
    tokenizer = AutoTokenizer.from_pretrained(PATH, local_files_only=True)
    return model.eval(), tokenizer


def heldout_text() -> str:
    """A passage of Twelfth Night, a play held out of training (prompts and the perplexity test)."""
    return (PATH / "heldout.txt").read_text(encoding="utf-8")


def prompts(tokenizer, n: int, length: int, text: str | None = None) -> list[list[int]]:
    """``n`` prompts of ``length`` tokens each, cut from held-out text at line starts.

    Parameters
    ----------
    tokenizer : the demo tokenizer (or any with ``encode``).
    n, length : how many prompts, and tokens per prompt.
    text : held-out text to cut from (default :func:`heldout_text`).

    Example
    -------
    >>> from tokenmark import demo_model
    >>> _, tok = demo_model.load()
    >>> [len(p) for p in demo_model.prompts(tok, 2, 16)]
    [16, 16]
    """
    if n < 0 or length < 1:
        raise ValueError(f"n, length: need n >= 0 and length >= 1, got {n}, {length}")
    text = heldout_text() if text is None else text
    lines = text.split("\n")
    # Candidate starts: every line start, so prompts begin like the text does (a speaker, a verse).
    offsets, pos = [], 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    out: list[list[int]] = []
    step = max(1, len(offsets) // max(n, 1))
    for i in range(0, len(offsets), step):
        # 16 characters per token is far more than enough for a BPE token of English.
        chunk = text[offsets[i] : offsets[i] + 16 * length]
        ids = tokenizer.encode(chunk, add_special_tokens=False)[:length]
        if len(ids) == length:
            out.append(ids)
        if len(out) == n:
            return out
    raise ValueError(f"n: the text holds fewer than {n} prompts of {length} tokens")
