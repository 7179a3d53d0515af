"""Start-up cost: ``import tokenmark`` loads no heavy module (scipy, torch, transformers, pyarrow,
matplotlib, ray: they are imported where they are used), and takes well under a second; a folder
holding ``tokenizer.json`` loads through HF ``tokenizers`` with the same ids as transformers."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from tokenmark import demo_model
from tokenmark._inputs import encode_texts
from tokenmark._tokenizers import load_tokenizer

HEAVY = ("scipy", "scipy.stats", "torch", "transformers", "pyarrow", "matplotlib", "ray")


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return out.stdout


@pytest.mark.parametrize(
    "stmt",
    ["import tokenmark", "import tokenmark.cli", "import tokenmark.scan", "tokenmark.cli"],
)
def test_no_heavy_module_at_import(stmt):
    # "tokenmark.cli": the parser of every subcommand is built, as for `tokenmark detect --help`.
    code = "import tokenmark.cli; tokenmark.cli.build_parser()" if stmt == "tokenmark.cli" else stmt
    code += f"; import sys, json; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    assert json.loads(_run(code)) == []


def _best_of_3(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return min(float(_run(code)) for _ in range(3))


def test_import_time_best_of_3():
    # The goal is 0.3 s on a quiet machine; 0.6 s leaves room for a loaded CI machine. Before
    # the heavy imports were made lazy it took about 1.1 s on a quiet machine (0.75 s of it
    # scipy.stats), 6x numpy's own import. On a machine so loaded that numpy alone is slow,
    # the bound is 3x numpy's import, measured alongside.
    best = _best_of_3("tokenmark")
    if best > 0.6:
        floor = _best_of_3("numpy")
        assert best <= 3 * floor, f"import tokenmark {best:.2f} s, import numpy {floor:.2f} s"


def test_tokenizer_folder_loads_through_tokenizers(capfd):
    from tokenizers import Tokenizer

    tok = load_tokenizer(str(demo_model.PATH))
    assert isinstance(tok, Tokenizer)
    assert tok.truncation is None and tok.padding is None
    texts = demo_model.heldout_text().split("\n\n")[:40]
    ours = encode_texts(texts, str(demo_model.PATH))
    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(demo_model.PATH, local_files_only=True)
    ids = auto(texts, add_special_tokens=False)["input_ids"]
    assert ours.offsets[-1] > 1000
    np.testing.assert_array_equal(ours.tokens, np.concatenate(ids))
    np.testing.assert_array_equal(np.diff(ours.offsets), [len(i) for i in ids])
    # A document longer than the model's context: transformers would warn about the model's
    # maximum length, which means nothing to a detector; tokenizers says nothing.
    capfd.readouterr()
    long = encode_texts([demo_model.heldout_text()], str(demo_model.PATH))
    assert long.offsets[-1] > 4096
    assert capfd.readouterr().err == ""


def test_tokenizer_errors_name_the_path(tmp_path):
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(ValueError, match="tokenizer.json file"):
        load_tokenizer(str(tmp_path))
    with pytest.raises(ValueError, match="no such file"):
        load_tokenizer(str(tmp_path / "missing"))
