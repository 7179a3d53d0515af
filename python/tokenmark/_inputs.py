"""Conversion of user token sequences into the flat (tokens, offsets) form the kernels take."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._validate import host_array, ids_in_range, is_cuda, is_torch, torch_to_numpy

_TOKEN_MAX = 2**31 - 1


@dataclass(frozen=True)
class Ragged:
    """Token sequences stored flat: document ``d`` is ``tokens[offsets[d]:offsets[d+1]]``.

    Pass one to :meth:`tokenmark.KGW.detect` to score millions of documents without building a list.

    >>> r = Ragged.from_sequences([[1, 2, 3], [], [4]])
    >>> r.offsets.tolist(), len(r)
    ([0, 3, 3, 4], 3)
    """

    tokens: np.ndarray  # int32 [n_tokens]
    offsets: np.ndarray  # int64 [n_docs + 1]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __getitem__(self, d: int) -> np.ndarray:
        """Document ``d`` (negative ``d`` counts from the end, as for a list)."""
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"d: expected an int document index, got {type(d).__name__}")
        n = len(self)
        if not -n <= d < n:
            raise IndexError(f"d: document index {int(d)} out of range for {n} documents")
        d = int(d) % n
        return self.tokens[self.offsets[d] : self.offsets[d + 1]]

    @classmethod
    def from_sequences(cls, sequences) -> Ragged:
        """Build from a list of sequences, a 2-D array or tensor (one row per document)."""
        return as_ragged(sequences)


def _to_numpy(x, name: str) -> np.ndarray:
    try:
        # A torch tensor on any real device (a meta tensor or an odd dtype: a clear error).
        arr = torch_to_numpy(x, name) if is_torch(x) else np.asarray(x)
    except (TypeError, ValueError, OverflowError) as e:
        if str(e).startswith(name):
            raise
        arr = None
    if arr is None:
        raise ValueError(f"{name}: expected token ids (a rectangular array of integers)")
    if arr.dtype == object:
        raise ValueError(f"{name}: expected integer token ids, got ragged or mixed values")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: token ids must be integers, got dtype {arr.dtype}")
    if arr.size and arr.dtype.kind not in "iu":
        if arr.dtype.kind == "b" or not np.all(np.isfinite(arr)) or np.any(arr != np.floor(arr)):
            raise TypeError(f"{name}: token ids must be integers, got dtype {arr.dtype}")
    return arr


def check_token_range(arr: np.ndarray, name: str) -> np.ndarray:
    """Return ``arr`` as int32 after checking every id is in [0, 2^31)."""
    if arr.dtype == np.int64 and arr.dtype.isnative and arr.flags.c_contiguous:
        narrowed = _narrow(arr)  # checked and narrowed in one pass on all threads
        if narrowed is not None:
            return narrowed.reshape(arr.shape)
    if arr.size and not ids_in_range(arr):
        lo, hi = arr.min(), arr.max()
        if lo < 0:
            raise ValueError(f"{name}: token ids must be >= 0, found {int(lo)}")
        raise ValueError(f"{name}: token ids must be < 2^31, found {int(hi)}")
    return arr.astype(np.int32, copy=False)


def check_offsets(offsets, n_tokens: int, name: str = "offsets") -> np.ndarray:
    """Offsets of a ragged batch as int64 ``[n_docs + 1]``: integers (never truncated floats),
    starting at 0, non-decreasing, ending at ``n_tokens``."""
    off = host_array(offsets, name)
    if off.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integers, got dtype {off.dtype}")
    if off.ndim != 1 or off.shape[0] < 1:
        raise ValueError(f"{name}: expected [n_docs + 1] (at least one entry), got {off.shape}")
    if off.dtype == np.uint64 and off.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name}: entries must be <= the number of tokens ({n_tokens})")
    off = np.ascontiguousarray(off, dtype=np.int64)
    if off[0] != 0 or off[-1] != n_tokens:
        raise ValueError(
            f"{name}: must start at 0 and end at the number of tokens ({n_tokens}), "
            f"got {int(off[0])} and {int(off[-1])}"
        )
    if (np.diff(off) < 0).any():
        raise ValueError(f"{name}: must be non-decreasing")
    return off


def as_ragged(sequences, name: str = "sequences") -> Ragged:
    """Accept a :class:`Ragged`, a 2-D array/tensor (rows are documents), or a sequence of 1-D
    sequences (lists, arrays, tensors) and return the flat form with validated int32 ids."""
    if isinstance(sequences, Ragged):
        tokens = _to_numpy(sequences.tokens, f"{name}.tokens")
        if tokens.ndim != 1:
            raise ValueError(f"{name}.tokens: expected [n_tokens] (1-D), got shape {tokens.shape}")
        tokens = check_token_range(tokens, f"{name}.tokens")
        return Ragged(tokens, check_offsets(sequences.offsets, len(tokens), f"{name}.offsets"))
    if isinstance(sequences, (str, bytes)):
        raise TypeError(f"{name}: expected token id sequences, got a string (use detect_text)")
    if hasattr(sequences, "ndim") and sequences.ndim == 2:
        arr = check_token_range(_to_numpy(sequences, name), name)
        n, length = arr.shape
        offsets = np.arange(n + 1, dtype=np.int64) * length
        return Ragged(np.ascontiguousarray(arr).reshape(-1), offsets)
    if not isinstance(sequences, Sequence) and not hasattr(sequences, "__iter__"):
        raise TypeError(f"{name}: expected a sequence of token id sequences")
    sequences = list(sequences)
    fast = _flat_fast(sequences)
    return fast if fast is not None else _flat_per_document(sequences, name)


def _flat_per_document(seqs: list, name: str) -> Ragged:
    """The flat form, document by document: any sequence type, each checked on its own, so that
    an error names the document."""
    parts = []
    for i, seq in enumerate(seqs):
        if isinstance(seq, (str, bytes)):
            raise TypeError(f"{name}[{i}]: expected token ids, got a string (use detect_text)")
        arr = _to_numpy(seq, f"{name}[{i}]")
        if arr.ndim != 1:
            raise ValueError(f"{name}[{i}]: expected a 1-D sequence, got shape {arr.shape}")
        parts.append(check_token_range(arr, f"{name}[{i}]"))
    lengths = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    tokens = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
    return Ragged(tokens.astype(np.int32, copy=False), offsets)


def _flat_fast(seqs: list) -> Ragged | None:
    """The flat form of the common inputs in one pass: every document a 1-D integer numpy
    array (C-contiguous int32 / int64: ``_C.flatten_id_arrays``, in C++; others: one
    ``np.concatenate``, the ids' range checked once on the flat array), or every document a list
    or tuple of Python ints (``_C.flatten_id_lists``, in C++). None whenever a document needs the
    per-document path of :func:`as_ragged`, which names the document in its error: other types,
    booleans, floats, ids out of range."""
    from . import _C

    if not seqs:
        return None
    if type(seqs[0]) in (list, tuple):
        flat = _C.flatten_id_lists(seqs)
        return None if flat is None else Ragged(*flat)
    if not all(type(s) is np.ndarray and s.ndim == 1 for s in seqs):
        return None
    dtypes = {s.dtype for s in seqs}  # one pass over the documents, a few distinct dtypes
    # uint64 is left out: together with a signed dtype it would promote to float64
    if any(dt.kind not in "iu" or dt == np.uint64 for dt in dtypes):
        return None
    if dtypes <= _NATIVE_ID_DTYPES:  # copied, narrowed and checked in C++ on all threads
        flat = _C.flatten_id_arrays(seqs)  # None: a layout it does not take, or a bad id
        if flat is not None:
            return Ragged(*flat)
    lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if dtypes == {np.dtype(np.int32)}:
        tokens = np.concatenate(seqs)
        return None if tokens.size and not ids_in_range(tokens) else Ragged(tokens, offsets)
    # Other dtypes: checked and narrowed group by group into the int32 result, so that no
    # full-size wider copy is made.
    tokens = np.empty(int(offsets[-1]), dtype=np.int32)
    for i in range(0, len(seqs), _GROUP):
        part = np.concatenate(seqs[i : i + _GROUP])
        if part.size:
            narrowed = _narrow(part) if part.dtype == np.int64 else None
            if narrowed is None and not ids_in_range(part):
                return None
            tokens[offsets[i] : offsets[i] + part.size] = part if narrowed is None else narrowed
    return Ragged(tokens, offsets)


def _narrow(arr: np.ndarray) -> np.ndarray | None:
    """C-contiguous native int64 ids as int32 [n] in one pass on all threads (``_C.narrow_ids``),
    or None when any is outside [0, 2^31) (the caller then finds and names it)."""
    from . import _C

    return _C.narrow_ids(arr.reshape(-1))


_GROUP = 256  # documents per group of the narrowing copy in _flat_fast
_NATIVE_ID_DTYPES = {np.dtype(np.int32), np.dtype(np.int64)}


def device_ragged(sequences) -> Ragged | None:
    """A 2-D CUDA tensor, or a Ragged of CUDA tensors, stays on its device (scored there)."""
    on_device = is_cuda(sequences) or (isinstance(sequences, Ragged) and is_cuda(sequences.tokens))
    if not on_device:
        return None
    import torch

    if isinstance(sequences, Ragged):
        return Ragged(sequences.tokens.to(torch.int32), sequences.offsets.to(torch.int64))
    if sequences.dim() != 2:
        raise ValueError(
            f"sequences: a CUDA tensor must be [n_docs, length], got {sequences.dim()}-D"
        )
    if sequences.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"sequences: expected integer token ids, got {sequences.dtype}")
    n, length = sequences.shape
    offsets = torch.arange(n + 1, dtype=torch.int64, device=sequences.device) * length
    # The scoring op checks the int32 ids on the device; int64 ids must fit int32 first.
    if sequences.dtype == torch.int64 and sequences.numel():
        lo, hi = torch.aminmax(sequences)
        if int(lo) < 0 or int(hi) >= 2**31:
            raise ValueError("sequences: token ids must be in [0, 2^31)")
    return Ragged(sequences.reshape(-1).to(torch.int32).contiguous(), offsets)


def encode_texts(texts, tokenizer) -> Ragged:
    """Token ids of ``texts`` without special tokens, from any supported tokenizer."""
    if isinstance(texts, (str, bytes)) or not hasattr(texts, "__iter__"):
        raise TypeError("texts: expected a str or a list of str")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}]: expected a str, got {type(t).__name__}")
    if isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = load_tokenizer(os.fspath(tokenizer))
    if not texts:
        return Ragged(np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64))
    if hasattr(tokenizer, "encode_batch"):  # tokenizers.Tokenizer
        ids = [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
    elif callable(tokenizer):  # transformers tokenizer
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    else:
        raise TypeError(
            "tokenizer: expected a transformers tokenizer, tokenizers.Tokenizer or path"
        )
    return as_ragged([np.asarray(i, dtype=np.int64) for i in ids], "texts")


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
