"""The examples in the public docstrings run and say what they show."""

import doctest
import importlib

import pytest

MODULES = [
    "tokenmark",
    "tokenmark._key",
    "tokenmark._inputs",
    "tokenmark._tokenizers",
    "tokenmark.kgw",
    "tokenmark.gumbel",
    "tokenmark.synthid",
    "tokenmark.ops.keys",
    "tokenmark.integrations.transformers",
    "tokenmark.evaluation.schemes",
    "tokenmark.evaluation.attacks",
    "tokenmark.evaluation.metrics",
    "tokenmark.calibration",
    "tokenmark.calibrated_detect",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
