"""Tokenizers from a path: a ``tokenizer.json`` file, or a folder that encodes as transformers'
``AutoTokenizer`` would (through ``tokenizers`` alone where the folder's config changes nothing);
and whether a text is one a tokenizer can take (valid Unicode)."""

from __future__ import annotations

import os

# tokenizer_config.json. The classes that encode with tokenizer.json as it is (transformers 5's
# generic backend, 4's generic fast class): any other class (GPT2Tokenizer, LlamaTokenizer,
# T5Tokenizer, BertTokenizer, ...) rebuilds the normalizer, pre-tokenizer or added tokens from its
# own definition and the config. And the keys with which transformers changes how text is
# encoded: a prefix space, Llama / T5 `legacy`, BERT's lower-casing and accents, special tokens
# split as text. Keys that only decode (clean_up_tokenization_spaces) or only matter with special
# tokens added (add_bos_token) are not among them.
_PLAIN_TOKENIZER_CLASSES = frozenset({"TokenizersBackend", "PreTrainedTokenizerFast"})
_ENCODING_KEYS = (
    "add_prefix_space",
    "legacy",
    "do_lower_case",
    "strip_accents",
    "tokenize_chinese_chars",
    "split_special_tokens",
    "from_slow",
)
_SPECIAL_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                 "mask_token")  # fmt: skip
# Texts on which transformers' tokenizer and its backend tokenizer are compared once at load time.
_PROBES = ["Hello world", " leading", "  two  spaces ", "line\nbreak\ttab", "UPPER lower",
           "caf\u00e9 na\u00efve \u00dcber", "\u4e2d\u6587", "it's 1,234.5!", "", " "]  # fmt: skip


def tokenizer_config_keys(folder: str) -> list[str]:
    """What in ``folder/tokenizer_config.json`` makes transformers' ``AutoTokenizer`` encode text
    differently from the folder's ``tokenizer.json`` alone ([] when nothing does, or when there
    is no such file): a model-specific ``tokenizer_class``, keys such as ``add_prefix_space`` or
    ``legacy``, and added or special tokens that ``tokenizer.json`` does not hold as declared.

    >>> from tokenmark import demo_model
    >>> tokenizer_config_keys(str(demo_model.PATH))
    []
    """
    import json

    path = os.path.join(folder, "tokenizer_config.json")
    if not os.path.isfile(path):
        return []
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"tokenizer: {path} is not a JSON file ({e})") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"tokenizer: {path} is not a JSON object")
    keys = []
    cls = cfg.get("tokenizer_class")
    if cls is not None and cls not in _PLAIN_TOKENIZER_CLASSES:
        keys.append(f"tokenizer_class={cls}")
    keys += [k for k in _ENCODING_KEYS if k in cfg]
    held = _added_tokens(os.path.join(folder, "tokenizer.json"))
    declared = cfg.get("added_tokens_decoder") or {}
    if isinstance(declared, dict) and any(
        not isinstance(t, dict) or _token_tuple(t) not in held for t in declared.values()
    ):
        keys.append("added_tokens_decoder")
    contents = {t[0] for t in held}
    named = [cfg.get(k) for k in _SPECIAL_KEYS]
    for k in ("additional_special_tokens", "extra_special_tokens"):
        v = cfg.get(k)
        named += list(v.values()) if isinstance(v, dict) else list(v) if isinstance(v, list) else []
    named = [t.get("content") if isinstance(t, dict) else t for t in named if t is not None]
    if any(t not in contents for t in named):
        keys.append("special tokens missing from tokenizer.json")
    return keys


def _token_tuple(t: dict) -> tuple:
    flags = ("lstrip", "rstrip", "single_word", "normalized", "special")
    return (t.get("content"), *(bool(t.get(f, False)) for f in flags))


def _added_tokens(json_file: str) -> set:
    """The added tokens of a ``tokenizer.json`` (content and flags); empty if unreadable."""
    import json

    try:
        with open(json_file, encoding="utf-8") as f:
            added = json.load(f).get("added_tokens") or []
        return {_token_tuple(t) for t in added if isinstance(t, dict)}
    except (OSError, ValueError, AttributeError):
        return set()


def load_tokenizer(path: str):
    """A local tokenizer that encodes as transformers does, offline; a clear error otherwise.

    A ``tokenizer.json`` file loads through HF ``tokenizers`` as it is (fast: no transformers
    import; truncation and padding off, so a detector sees every token). So does a folder
    holding one, unless its ``tokenizer_config.json`` changes how transformers encodes (see
    :func:`tokenizer_config_keys`): then the folder loads through transformers'
    ``AutoTokenizer`` and its ``tokenizers`` backend is returned (the same ids as
    ``AutoTokenizer.from_pretrained(folder)(text, add_special_tokens=False)``, checked on a few
    texts at load time), or a ValueError names the keys when transformers is not installed. A
    folder that transformers loads only as a slow tokenizer gives that tokenizer.
    """
    if not os.path.exists(path):
        raise ValueError(f"tokenizer: no such file or folder: {path}")
    json_file = os.path.join(path, "tokenizer.json") if os.path.isdir(path) else path
    keys = tokenizer_config_keys(path) if os.path.isdir(path) else []
    if os.path.isfile(json_file) and not keys:
        return _tokenizer_file(json_file)
    try:
        from transformers import AutoTokenizer
    except ImportError:
        if not keys:
            raise ValueError(
                f"tokenizer: {path} holds no tokenizer.json (a slow tokenizer's files need "
                "transformers: pip install transformers)"
            ) from None
        raise ValueError(
            f"tokenizer: {os.path.join(path, 'tokenizer_config.json')} sets "
            f"{', '.join(keys)}, with which transformers encodes text differently from "
            f"tokenizer.json alone; install transformers to encode as it does, or pass "
            f"{json_file} to use that file as it is"
        ) from None
    try:
        auto = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, TypeError, KeyError) as e:
        err = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise ValueError(f"tokenizer: cannot load a tokenizer from {path} ({err})") from None
    backend = getattr(auto, "backend_tokenizer", None)
    if backend is None:
        return auto  # a slow tokenizer: encode_texts calls it
    want = auto(_PROBES, add_special_tokens=False)["input_ids"]
    if [e.ids for e in backend.encode_batch(_PROBES, add_special_tokens=False)] != want:
        return auto  # the class does more than its backend: call transformers itself
    backend.no_truncation()
    backend.no_padding()
    return backend


def _tokenizer_file(json_file: str):
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(json_file)
    except Exception as e:  # noqa: BLE001 - the tokenizers library raises its own types
        err = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
    else:
        tok.no_truncation()
        tok.no_padding()
        return tok
    raise ValueError(f"tokenizer: {json_file} is not a tokenizer.json file ({err})")


def is_unicode(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8: False for a lone surrogate (JSON's ``"\\ud800"``), which
    tokenizers and Arrow refuse with errors that name no argument."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def first_not_unicode(texts) -> int | None:
    """The index of the first text that is not valid Unicode, or None."""
    return next((i for i, t in enumerate(texts) if not is_unicode(t)), None)


NOT_UNICODE = "not valid Unicode text (a lone surrogate)"


def not_unicode_field(fields) -> str | None:
    """The reason a record is refused, naming the first of its ``(name, value)`` fields whose
    value is a str that is not valid Unicode; None when there is none."""
    return next(
        (
            f"field {n!r}: {NOT_UNICODE}"
            for n, v in fields
            if isinstance(v, str) and not is_unicode(v)
        ),
        None,
    )
