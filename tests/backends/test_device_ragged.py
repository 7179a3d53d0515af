"""``device_ragged``: CUDA input kept on its device is checked before its cast to int32, so a
value the cast would change (an int64 id past int32, a float id) is refused, never scored as
another token. CPU torch tensors stand in for CUDA ones (``is_cuda`` patched): the function only
uses torch ops that run on both."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tokenmark import _inputs
from tokenmark._inputs import Ragged, device_ragged


@pytest.fixture(autouse=True)
def tensors_count_as_cuda(monkeypatch):
    monkeypatch.setattr(_inputs, "is_cuda", lambda x: isinstance(x, torch.Tensor))


def test_two_d_and_ragged_forms_give_int32_tokens_and_int64_offsets():
    x = torch.tensor([[1, 2, 3], [4, 5, 6]])
    rag = device_ragged(x)
    assert rag.tokens.dtype == torch.int32 and rag.offsets.dtype == torch.int64
    assert rag.tokens.tolist() == [1, 2, 3, 4, 5, 6] and rag.offsets.tolist() == [0, 3, 6]
    for offsets in (torch.tensor([0, 1, 3], dtype=torch.int32), np.array([0, 1, 3], np.uint32)):
        r = device_ragged(Ragged(torch.tensor([7, 8, 9]), offsets))
        assert r.tokens.tolist() == [7, 8, 9] and r.offsets.tolist() == [0, 1, 3]
        assert r.offsets.dtype == torch.int64 and isinstance(r.offsets, torch.Tensor)
    assert device_ragged(np.zeros((2, 3), np.int32)) is None  # host input: the host path


@pytest.mark.parametrize("bad", [2**32 + 5, 2**31, -(2**32) + 5, -1])
def test_int64_ids_that_int32_would_wrap_are_refused(bad):
    """2^32 + 5 cast to int32 is 5: a valid id, a silently wrong score, were it not refused."""
    for seqs in (torch.tensor([[1, bad]]), Ragged(torch.tensor([1, bad]), torch.tensor([0, 2]))):
        with pytest.raises(ValueError, match=r"sequences(\.tokens)?: token ids must be in"):
            device_ragged(seqs)


def test_non_integer_tokens_and_offsets_are_refused_by_name():
    with pytest.raises(TypeError, match="sequences: expected integer token ids"):
        device_ragged(torch.tensor([[1.0, 2.5]]))
    with pytest.raises(TypeError, match=r"sequences\.tokens: expected integer token ids"):
        device_ragged(Ragged(torch.tensor([1.0, 2.5]), torch.tensor([0, 2])))
    with pytest.raises(TypeError, match=r"sequences\.offsets: expected integers"):
        device_ragged(Ragged(torch.tensor([1, 2]), torch.tensor([0.0, 2.0])))
    with pytest.raises(TypeError, match=r"sequences\.offsets: expected a 1-D array of integers"):
        device_ragged(Ragged(torch.tensor([1, 2]), np.array([0.0, 2.0])))
    with pytest.raises(ValueError, match=r"sequences\.tokens: expected a 1-D tensor"):
        device_ragged(Ragged(torch.tensor([[1, 2]]), torch.tensor([0, 2])))
    with pytest.raises(ValueError, match="sequences: a CUDA tensor must be"):
        device_ragged(torch.tensor([1, 2]))
    for empty in (torch.zeros(0, dtype=torch.int64), torch.tensor(0), np.zeros(0, np.int64)):
        with pytest.raises(ValueError, match=r"sequences\.offsets: expected \[n_docs \+ 1\]"):
            device_ragged(Ragged(torch.zeros(0, dtype=torch.int32), empty))
