"""KGW green lists drawn from a torch generator (transformers, TGI), kept per distinct seed.

A list is ``torch.randperm(vocab, generator=g.manual_seed(seed))[:green_size]``. On a CPU
generator that is MT19937 on the seed's low 32 bits (:func:`tokenmark.ops.torch_cpu_green_lists`:
C++, or the numpy spec :mod:`tokenmark.reference.torch_mt`); a CUDA generator draws other lists,
made here with torch on a GPU when one is present and refused otherwise (scoring them as CPU
lists would be silently wrong). Lists are stored as bitsets (``ceil(vocab / 8)`` bytes each) in
one array, up to ``max_bytes``; when a batch needs more distinct seeds than fit, the store
starts over.
"""

from __future__ import annotations

import numpy as np

from .. import _C, ops
from ..ops._common import resolve_host

DEVICES = ("cpu", "cuda")
BACKENDS = ("auto", "cpu", "reference")


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    return backend


def _require_cuda():
    import torch

    if not torch.cuda.is_available():
        raise ValueError(
            "device: these green lists were drawn on a CUDA generator (torch's CUDA randperm, "
            "not the CPU's MT19937); reproducing them needs torch with a CUDA device, and none "
            "is present. Refusing rather than scoring with the wrong lists."
        )
    return torch


def randperm(seed: int, n: int, device: str = "cpu", backend: str = "auto") -> np.ndarray:
    """``torch.randperm(n)`` after ``manual_seed(seed)`` on a ``device`` generator, as int64."""
    if device == "cuda":
        torch = _require_cuda()
        g = torch.Generator(device="cuda").manual_seed(int(seed))
        return torch.randperm(n, generator=g, device="cuda").cpu().numpy()
    return ops.torch_cpu_randperm(seed, n, backend=check_backend(backend))


def draw_green_bits(
    seeds: np.ndarray, vocab: int, green_size: int, device: str = "cpu", backend: str = "auto"
) -> np.ndarray:
    """Bitsets ``[len(seeds), ceil(vocab / 8)]`` uint8 of the green lists of ``seeds``
    (uint64: a CPU generator uses the low 32 bits, a CUDA one all 64)."""
    seeds = np.asarray(seeds, dtype=np.uint64)
    if device == "cuda":
        torch = _require_cuda()
        g = torch.Generator(device="cuda")
        out = np.zeros((len(seeds), (vocab + 7) // 8), dtype=np.uint8)
        for i, s in enumerate(seeds.tolist()):
            g.manual_seed(s)
            perm = torch.randperm(vocab, generator=g, device="cuda")
            mask = torch.zeros(vocab, dtype=torch.bool, device="cuda")
            mask[perm[:green_size]] = True
            out[i] = np.packbits(mask.cpu().numpy(), bitorder="little")
        return out
    return ops.torch_cpu_green_lists(
        seeds, vocab=int(vocab), green_size=int(green_size), backend=check_backend(backend)
    )


class GreenListCache:
    """Green lists of one (vocab, green_size, device) kept per distinct seed."""

    def __init__(self, vocab: int, green_size: int, device: str, max_bytes: int = 256 << 20):
        self.vocab, self.green_size, self.device = int(vocab), int(green_size), device
        self.row_bytes = (self.vocab + 7) // 8
        self.capacity = max(1, int(max_bytes) // self.row_bytes)
        self._rows: dict[int, int] = {}
        self._store = np.zeros((0, self.row_bytes), dtype=np.uint8)
        self.lists_drawn = 0  # how many lists this cache has drawn (its cost, reported apart)
        self.generation = 0  # how many times the store started over (rows of before are void)

    def __len__(self) -> int:
        return len(self._rows)

    def _key(self, s: int) -> int:
        return s if self.device == "cuda" else s & 0xFFFFFFFF

    def _rows_for(self, uniq: list[int], backend: str) -> np.ndarray:
        missing = list(dict.fromkeys(k for k in uniq if k not in self._rows))  # once each
        if len(self._rows) + len(missing) > self.capacity:
            self._rows.clear()
            self.generation += 1
            missing = list(dict.fromkeys(uniq))
        if missing:
            start = len(self._rows)
            need = start + len(missing)
            if need > len(self._store):  # rows past `need` are never read: no zeroing
                grown = np.empty((min(self.capacity, max(need, 2 * len(self._store))),
                                  self.row_bytes), dtype=np.uint8)  # fmt: skip
                grown[:start] = self._store[:start]
                self._store = grown
            self._draw_into(np.array(missing, dtype=np.uint64), self._store[start:need], backend)
            self._rows.update(zip(missing, range(start, need)))
            self.lists_drawn += len(missing)
        return np.array([self._rows[k] for k in uniq], dtype=np.int64)

    def _draw_into(self, seeds: np.ndarray, out: np.ndarray, backend: str) -> None:
        """The lists of ``seeds`` into the store's rows ``out``: C++ draws them there directly
        (no second buffer of the batch's lists to fill and copy); the others are copied."""
        if self.device == "cpu" and resolve_host("torch_cpu_green_lists", backend)[0] == "cpu":
            low = (seeds & np.uint64(0xFFFFFFFF)).astype(np.uint32)
            _C.torch_cpu_green_lists_into(low, self.vocab, self.green_size, out)
            return
        out[:] = draw_green_bits(seeds, self.vocab, self.green_size, self.device, backend)

    def rows(self, seeds: np.ndarray, backend: str = "auto") -> np.ndarray:
        """The store rows (int64) of the lists of ``seeds`` (at most ``capacity`` distinct),
        drawing the missing ones; valid until :attr:`generation` changes."""
        seeds = np.asarray(seeds, dtype=np.uint64)
        if self.device != "cuda":
            seeds = seeds & np.uint64(0xFFFFFFFF)
        return self._rows_for(seeds.tolist(), backend)

    def counts_at(self, tokens, offsets, first, row_of_prev):
        """Per document, ``(n_scored, n_green)`` of the positions from ``first`` (absolute) on,
        each scored against the stored list of its previous token (``row_of_prev[id]``: its
        store row, or < 0), in one C++ pass (``_C.score_kgw_stored_rows``); None where some
        previous token has no stored row."""
        store, vocab = self._store, self.vocab
        return _C.score_kgw_stored_rows(tokens, offsets, first, row_of_prev, store, vocab)

    def flags_at(self, rows: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """uint8 flags: ``tokens[i]`` is in the list at store row ``rows[i]`` (tokens at or past
        ``vocab``: never)."""
        tokens = np.asarray(tokens, dtype=np.int64)
        if not tokens.size or tokens.max() < self.vocab:  # the usual batch: no id to mask
            return (self._store[rows, tokens >> 3] >> (tokens & 7).astype(np.uint8)) & 1
        inside = tokens < self.vocab
        safe = np.where(inside, tokens, 0)
        bit = (self._store[rows, safe >> 3] >> (safe & 7).astype(np.uint8)) & 1
        return (bit & inside).astype(np.uint8)

    def is_green(self, seeds: np.ndarray, tokens: np.ndarray, backend: str = "auto") -> np.ndarray:
        """uint8 flags: ``tokens[i]`` is in the green list of ``seeds[i]`` (uint64). Tokens at or
        past ``vocab`` are never green (the list is a permutation of ``range(vocab)``)."""
        seeds = np.asarray(seeds, dtype=np.uint64)
        if not len(seeds):
            return np.zeros(len(tokens), dtype=np.uint8)
        uniq, inverse = np.unique(seeds, return_inverse=True)
        return self.is_green_grouped(uniq, inverse.reshape(-1), tokens, backend)

    def is_green_grouped(
        self, seeds: np.ndarray, inverse: np.ndarray, tokens: np.ndarray, backend: str = "auto"
    ) -> np.ndarray:
        """:meth:`is_green` of ``seeds[inverse]``: the seeds of the positions given as a set of
        seeds (uint64, any order, repeats allowed) and each position's index into it, so that a
        caller who has them grouped already (by previous token) saves the sort."""
        seeds = np.asarray(seeds, dtype=np.uint64)
        if self.device != "cuda":
            seeds = seeds & np.uint64(0xFFFFFFFF)
        tokens = np.asarray(tokens, dtype=np.int64)
        out = np.zeros(len(tokens), dtype=np.uint8)
        if len(tokens) == 0:
            return out
        inside = tokens < self.vocab
        safe = np.where(inside, tokens, 0)
        shift = (safe & 7).astype(np.uint8)
        for lo in range(0, len(seeds), self.capacity):
            chunk = seeds[lo : lo + self.capacity].tolist()
            rows = self._rows_for(chunk, backend)
            if lo == 0 and len(seeds) <= self.capacity:  # one chunk: every position at once
                r = rows[inverse]
                out[:] = ((self._store[r, safe >> 3] >> shift) & 1) & inside
                return out
            sel = (inverse >= lo) & (inverse < lo + len(chunk))
            r = rows[inverse[sel] - lo]
            t = safe[sel]
            bit = (self._store[r, t >> 3] >> shift[sel]) & 1
            out[sel] = bit & inside[sel]
        return out
