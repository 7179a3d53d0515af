"""Conversion of user token sequences into the flat (tokens, offsets) form the kernels take."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._tokenizers import NOT_UNICODE, first_not_unicode
from ._validate import (
    contiguous_ids,
    host_array,
    ids_in_range,
    is_cuda,
    is_torch,
    torch_to_numpy,
)

_TOKEN_MAX = 2**31 - 1
# Text, never token ids: bytes-like objects included (a bytearray iterates as small ints, which
# would be scored as ids without this).
_TEXT_TYPES = (str, bytes, bytearray, memoryview)


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


def split_docs(values: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    """Per-token ``values`` as one array per document (none for no document: ``np.split`` would
    give one empty array).

    >>> [a.tolist() for a in split_docs(np.arange(4), np.array([0, 3, 3, 4]))], split_docs([], [0])
    ([[0, 1, 2], [], [3]], [])
    """
    return np.split(values, offsets[1:-1]) if len(offsets) > 1 else []


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
    arr = contiguous_ids(arr, name)
    narrowed = _narrow(arr)  # int64: checked and narrowed in one pass on all threads
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
    if type(sequences) is np.ndarray and sequences.ndim == 2:
        fast = _rows_fast(sequences)
        if fast is not None:
            return fast
    if isinstance(sequences, Ragged):
        tokens = _to_numpy(sequences.tokens, f"{name}.tokens")
        if tokens.ndim != 1:
            raise ValueError(f"{name}.tokens: expected [n_tokens] (1-D), got shape {tokens.shape}")
        tokens = check_token_range(tokens, f"{name}.tokens")
        return Ragged(tokens, check_offsets(sequences.offsets, len(tokens), f"{name}.offsets"))
    if isinstance(sequences, _TEXT_TYPES):
        raise TypeError(f"{name}: expected token id sequences, got a string (use detect_text)")
    if hasattr(sequences, "ndim") and sequences.ndim == 2:
        arr = check_token_range(_to_numpy(sequences, name), name)
        n, length = arr.shape
        offsets = np.arange(n + 1, dtype=np.int64) * length
        return Ragged(np.ascontiguousarray(arr).reshape(-1), offsets)
    if (not isinstance(sequences, Sequence) and not hasattr(sequences, "__iter__")) or (
        getattr(sequences, "ndim", None) == 0
    ):
        raise TypeError(f"{name}: expected a sequence of token id sequences")
    sequences = list(sequences)
    fast = _flat_fast(sequences)
    return fast if fast is not None else _flat_per_document(sequences, name)


def _flat_per_document(seqs: list, name: str) -> Ragged:
    """The flat form, document by document: any sequence type, each checked on its own, so that
    an error names the document."""
    parts = []
    for i, seq in enumerate(seqs):
        if isinstance(seq, _TEXT_TYPES):
            raise TypeError(f"{name}[{i}]: expected token ids, got a string (use detect_text)")
        arr = _to_numpy(seq, f"{name}[{i}]")
        if arr.dtype.kind in "iu" and isinstance(seq, (list, tuple)):
            # numpy reads [1, True] as the ints [1, 1]; a bool is not a token id
            if any(isinstance(v, (bool, np.bool_)) for v in seq):
                raise TypeError(f"{name}[{i}]: token ids must be integers, got a bool")
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
            narrowed = _narrow(part)
            if narrowed is None and not ids_in_range(part):
                return None
            tokens[offsets[i] : offsets[i] + part.size] = part if narrowed is None else narrowed
    return Ragged(tokens, offsets)


def _rows_fast(arr: np.ndarray) -> Ragged | None:
    """The flat form of a C-contiguous native int64 [n_docs, length] array with every id in
    range, with nothing checked twice (the commonest input, e.g. a tokenizer's padded batch); None
    for anything else (the general path then checks it and names what is wrong)."""
    tokens = _narrow(arr)
    if tokens is None:
        return None
    n, length = arr.shape
    offsets = np.arange(n + 1, dtype=np.int64)
    if length != 1:
        offsets *= length
    return Ragged(tokens, offsets)


def _narrow(arr: np.ndarray) -> np.ndarray | None:
    """C-contiguous native int64 ids as int32 [n] in one pass on all threads (``_C.narrow_ids``);
    None for other arrays, or when any id is outside [0, 2^31) (the caller then finds and names
    it)."""
    if arr.dtype != np.int64 or not arr.dtype.isnative or not arr.flags.c_contiguous:
        return None
    from . import _C

    return _C.narrow_ids(arr.reshape(-1))


_GROUP = 256  # documents per group of the narrowing copy in _flat_fast
_NATIVE_ID_DTYPES = {np.dtype(np.int32), np.dtype(np.int64)}


def device_ragged(sequences) -> Ragged | None:
    """A 2-D CUDA tensor, or a Ragged of CUDA tokens, stays on its device (scored there), as int32
    tokens and int64 offsets there. The scoring ops check the values (offsets, ids >= 0) on the
    device; what a cast would hide is refused here: ids that are not integers, int64 ids past
    int32 (one host sync), offsets that are not integers."""
    on_device = is_cuda(sequences) or (isinstance(sequences, Ragged) and is_cuda(sequences.tokens))
    if not on_device:
        return None
    import torch

    if isinstance(sequences, Ragged):
        tokens, name = sequences.tokens, "sequences.tokens"
        if tokens.dim() != 1:
            raise ValueError(f"{name}: expected a 1-D tensor, got {tokens.dim()}-D")
        offsets = _device_offsets(sequences.offsets, tokens.device)
    else:
        tokens, name = sequences, "sequences"
        if tokens.dim() != 2:
            raise ValueError(
                f"{name}: a CUDA tensor must be [n_docs, length], got {tokens.dim()}-D"
            )
        n, length = tokens.shape
        offsets = torch.arange(n + 1, dtype=torch.int64, device=tokens.device) * length
        tokens = tokens.reshape(-1)
    if tokens.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"{name}: expected integer token ids (int32 or int64), got {tokens.dtype}")
    if tokens.dtype == torch.int64 and tokens.numel():  # must fit int32 before the cast
        lo, hi = torch.stack(torch.aminmax(tokens)).tolist()
        if lo < 0 or hi > _TOKEN_MAX:
            raise ValueError(f"{name}: token ids must be in [0, 2^31), got {lo} .. {hi}")
    return Ragged(tokens.to(torch.int32).contiguous(), offsets)


def check_ragged_values(tokens, offsets, prefix_lengths=None, prefix_name="prefix_lengths"):
    """Range checks of a ragged batch in torch tensors on one device (their dtypes and shapes
    already checked), with one host synchronisation: offsets from 0 to the number of tokens,
    non-decreasing; ids and prefix lengths >= 0. The device scorers and the dialects that count
    with torch ops call it before any value is used (a negative id would index from the end)."""
    import torch

    if offsets.dim() != 1 or offsets.shape[0] < 1:
        raise ValueError("offsets: expected a 1-D tensor with at least one entry (0)")
    zero = torch.zeros((), dtype=torch.bool, device=offsets.device)
    n_docs = offsets.shape[0] - 1
    bad = torch.stack([
        offsets[0] != 0,
        offsets[-1] != tokens.shape[0],
        (offsets[1:] < offsets[:-1]).any() if n_docs > 0 else zero,
        tokens.min() < 0 if tokens.shape[0] > 0 else zero,
        (prefix_lengths < 0).any() if prefix_lengths is not None and n_docs > 0 else zero,
    ]).tolist()  # fmt: skip  # the one host sync
    messages = (
        "offsets: must start at 0",
        "offsets: last entry must equal the number of tokens",
        "offsets: must be non-decreasing",
        "tokens: token ids must be >= 0",
        f"{prefix_name}: must be >= 0",
    )
    for failed, message in zip(bad, messages, strict=True):
        if failed:
            raise ValueError(message)


def _device_offsets(offsets, device):
    """A device Ragged's offsets as int64 on the tokens' device (host offsets are moved there)."""
    import torch

    if isinstance(offsets, torch.Tensor):
        if offsets.dtype not in (torch.int32, torch.int64):
            raise TypeError(f"sequences.offsets: expected integers, got {offsets.dtype}")
        if offsets.dim() != 1 or offsets.shape[0] < 1:
            raise ValueError(
                "sequences.offsets: expected [n_docs + 1] (at least one entry), "
                f"got shape {tuple(offsets.shape)}"
            )
        return offsets.to(device=device, dtype=torch.int64).contiguous()
    arr = np.asarray(offsets)
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise TypeError(f"sequences.offsets: expected a 1-D array of integers, got {arr.dtype}")
    if arr.size < 1:
        raise ValueError("sequences.offsets: expected [n_docs + 1] (at least one entry), got (0,)")
    if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ValueError("sequences.offsets: values past int64")
    return torch.from_numpy(arr.astype(np.int64)).to(device)


def encode_texts(texts, tokenizer) -> Ragged:
    """Token ids of ``texts`` without special tokens, from any supported tokenizer."""
    if isinstance(texts, (str, bytes)) or not hasattr(texts, "__iter__"):
        raise TypeError("texts: expected a str or a list of str")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}]: expected a str, got {type(t).__name__}")
    if isinstance(tokenizer, (str, os.PathLike)):
        from ._tokenizers import load_tokenizer

        tokenizer = load_tokenizer(os.fspath(tokenizer))
    if not texts:
        return Ragged(np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64))
    bad = first_not_unicode(texts)
    if bad is not None:
        raise ValueError(f"texts[{bad}]: {NOT_UNICODE}")
    if hasattr(tokenizer, "encode_batch"):  # tokenizers.Tokenizer
        ids = [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
    elif callable(tokenizer):  # transformers tokenizer
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    else:
        raise TypeError(
            "tokenizer: expected a transformers tokenizer, tokenizers.Tokenizer or path"
        )
    return as_ragged([np.asarray(i, dtype=np.int64) for i in ids], "texts")
