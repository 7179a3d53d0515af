"""Hostile input to the fine-tuning loop (``tokenmark.suspect._train.train``): a clear error
naming the argument, before any step is taken; never a silently different training set."""

import numpy as np
import pytest
import torch
from finetune_helpers import tiny_model
from tokenmark.suspect.fingerprint import train

OK = {"input_ids": [1, 2, 3, 4], "labels": [-100, -100, 3, 4]}


@pytest.fixture(scope="module")
def model():
    return tiny_model(0, vocab_size=32)


@pytest.mark.parametrize(
    "examples, err, match",
    [([{"input_ids": [1, 2, 3]}], ValueError, r"examples\[0\]: has no 'labels'"),
     ([OK, {"labels": [1, 2]}], ValueError, r"examples\[1\]: has no 'input_ids'"),
     ([{"input_ids": [1, 2, 3], "labels": [1, 2, 3, 4]}], ValueError, r"\[0\]: 4 labels for 3"),
     ([{"input_ids": [1, 2, 3], "labels": [1]}], ValueError, r"examples\[0\]: 1 labels for 3"),
     ([OK, {"input_ids": [1, 2, 3], "labels": [1, 2]}], ValueError, r"examples\[1\]: 2 labels"),
     ([{"input_ids": [], "labels": []}], ValueError, r"examples\[0\]: input_ids is empty"),
     ([{"input_ids": [1.5, 2.0], "labels": [1, 2]}], TypeError, r"examples\[0\]\['input_ids'\]"),
     ([{"input_ids": [1, 2], "labels": "ab"}], TypeError, r"examples\[0\]\['labels'\]"),
     ([[1, 2, 3]], TypeError, r"examples\[0\]: must be a dict"),
     ([], ValueError, "examples: empty"),
     ((e for e in [OK]), TypeError, "examples"),
     (np.array([1, 2, 3]), TypeError, "examples")],
)  # fmt: skip
def test_bad_examples(model, examples, err, match):
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(err, match=match):
        train(model, examples, steps=1)
    assert all(torch.equal(p, q) for p, q in zip(before, model.parameters()))


@pytest.mark.parametrize(
    "batch_size, err",
    [(0, ValueError), (-1, ValueError), (2.5, TypeError), (None, TypeError), (True, TypeError)],
)
def test_bad_batch_size(model, batch_size, err):
    with pytest.raises(err, match="batch_size"):
        train(model, [OK], steps=1, batch_size=batch_size)


def test_good_forms_train(model):
    """Tuples, numpy and torch ids, numpy ints for batch_size: the same run as lists."""
    torch.manual_seed(0)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    want = train(model, [OK], steps=2, batch_size=2)
    model.load_state_dict(start)
    other = {"input_ids": np.array([1, 2, 3, 4]), "labels": torch.tensor([-100, -100, 3, 4])}
    assert train(model, (other,), steps=2, batch_size=np.int64(2)) == want


@pytest.mark.parametrize(
    "example, match",
    [({"input_ids": [1, 32, 3], "labels": [1, 2, 3]}, r"\['input_ids'\]: token id 32 .*\[0, 32\)"),
     ({"input_ids": [1, -1, 3], "labels": [1, 2, 3]}, r"\['input_ids'\]: token id -1"),
     ({"input_ids": [1, 2, 3], "labels": [1, 2, 300]}, r"\['labels'\]: token id 300"),
     ({"input_ids": [1, 2, 3], "labels": [1, -5, 3]}, r"\['labels'\]: token id -5")],
)  # fmt: skip
def test_ids_outside_the_vocabulary(model, example, match):
    with pytest.raises(ValueError, match=match):
        train(model, [OK, example], steps=1)


@pytest.mark.parametrize(
    "args, match",
    [(dict(warmup=-1), "warmup"), (dict(warmup=1.5), "warmup"), (dict(lr=True), "lr"),
     (dict(lr=-1e-3), "lr"), (dict(weight_decay=float("nan")), "weight_decay"),
     (dict(weight_decay=-0.1), "weight_decay"), (dict(weight_decay="0"), "weight_decay")],
)  # fmt: skip
def test_bad_optimisation_settings(model, args, match):
    with pytest.raises((TypeError, ValueError), match=match):
        train(model, [OK], steps=2, **args)
