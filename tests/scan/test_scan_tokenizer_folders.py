"""``--tokenizer FOLDER`` encodes as transformers' ``AutoTokenizer`` does. Tiny tokenizers are
trained here (no hub) and saved by transformers' classes with the options that change encoding
(a prefix space, Llama / T5 ``legacy``, BERT's lower-casing, special tokens split as text) or by
hand-edited configs; on varied text the scan's ids equal ``AutoTokenizer(folder)(text,
add_special_tokens=False)``, where the bare ``tokenizer.json`` differs for most of them (so the
comparison can fail). A folder that needs nothing of transformers loads without importing it;
without transformers, a folder that needs it is refused with the keys named."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest
from tokenmark import demo_model
from tokenmark._inputs import encode_texts
from tokenmark._tokenizers import tokenizer_config_keys
from tokenmark.scan import ScanConfigError, encode, load_tokenizer
from tokenmark.scan.tokenizer import tokenizer_from_state, tokenizer_state

transformers = pytest.importorskip("transformers")
from tokenizers import (  # noqa: E402
    AddedToken,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    trainers,
)

TEXTS = ["Hello world", " leading space", "  two  spaces  ", "trailing ", "UPPER lower MiXeD",
         "Ünïcödé café naïve Ångström", "line\nbreak\ttab\r\n", "", " ", "中文 字符 and 日本語",
         "it's 1,234.5! (x) [y] {z}", "<|endoftext|>", "a<|endoftext|>b", "x<sep>y <sep> z",
         "emoji 🙂 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"]  # fmt: skip


def _corpus() -> list[str]:
    text = demo_model.heldout_text()[:20000]
    return [text, " ".join(TEXTS) * 3, text.upper()[:3000]]


def _byte_level() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=alphabet
    )
    tok.train_from_iterator(_corpus(), trainer)
    return tok


def _metaspace_bpe() -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<unk>", "<s>", "</s>"])
    tok.train_from_iterator(_corpus(), trainer)
    return tok


def _unigram() -> Tokenizer:
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Replace(" ", " ")
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=300, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>"
    )
    tok.train_from_iterator(_corpus(), trainer)
    return tok


def _word_piece() -> Tokenizer:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=specials)
    tok.train_from_iterator(_corpus(), trainer)
    return tok


def _edit_config(folder, **changes) -> None:
    path = folder / "tokenizer_config.json"
    cfg = json.loads(path.read_text())
    cfg.update(changes)
    path.write_text(json.dumps(cfg))


def _build(root) -> dict:
    """name -> folder. Each saved by transformers, some configs then edited by hand."""
    t = transformers
    eot = {"eos_token": "<|endoftext|>"}
    specs = {
        "plain": (_byte_level, t.PreTrainedTokenizerFast, eot),
        "plain-cleanup": (_byte_level, t.PreTrainedTokenizerFast, {**eot, "clean_up_tokenization_spaces": True}),  # noqa: E501
        "gpt2-prefix-space": (_byte_level, t.GPT2TokenizerFast, {**eot, "add_prefix_space": True}),  # noqa: E501
        "gpt2-no-prefix-space": (_byte_level, t.GPT2TokenizerFast, {**eot, "add_prefix_space": False}),  # noqa: E501
        "roberta-prefix-space": (_byte_level, t.RobertaTokenizerFast, {"add_prefix_space": True}),
        "llama-legacy": (_metaspace_bpe, t.LlamaTokenizerFast, {"legacy": True}),
        "llama-no-legacy-no-prefix": (_metaspace_bpe, t.LlamaTokenizerFast, {"legacy": False, "add_prefix_space": False}),  # noqa: E501
        "t5-legacy": (_unigram, t.T5TokenizerFast, {"legacy": True}),
        "t5-no-legacy": (_unigram, t.T5TokenizerFast, {"legacy": False}),
        "bert-cased": (_word_piece, t.BertTokenizerFast, {"do_lower_case": False}),
        "bert-uncased": (_word_piece, t.BertTokenizerFast, {"do_lower_case": True}),
        "split-special-tokens": (_byte_level, t.PreTrainedTokenizerFast, {**eot, "split_special_tokens": True}),  # noqa: E501
    }  # fmt: skip
    folders = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (make, cls, kw) in specs.items():
            folders[name] = root / name
            cls(tokenizer_object=make(), **kw).save_pretrained(str(folders[name]))
        # Added tokens with lstrip / not normalized, saved alike in both files.
        tok = _byte_level()
        tok.add_special_tokens([AddedToken("<sep>", lstrip=True, rstrip=False, normalized=False)])
        folders["added-lstrip"] = root / "added-lstrip"
        t.PreTrainedTokenizerFast(tokenizer_object=tok).save_pretrained(
            str(folders["added-lstrip"])
        )
        # A config that declares a special token tokenizer.json does not hold...
        folders["config-only-special"] = root / "config-only-special"
        t.PreTrainedTokenizerFast(tokenizer_object=_byte_level(), **eot).save_pretrained(
            str(folders["config-only-special"])
        )
        _edit_config(folders["config-only-special"], additional_special_tokens=["<sep>"])
        # ... and one whose added token's flags differ from tokenizer.json's.
        folders["config-other-flags"] = root / "config-other-flags"
        t.PreTrainedTokenizerFast(tokenizer_object=tok).save_pretrained(
            str(folders["config-other-flags"])
        )
        added = json.loads((folders["config-other-flags"] / "tokenizer.json").read_text())
        decoder = {str(e.pop("id")): e for e in added["added_tokens"]}
        for entry in decoder.values():
            if entry["content"] == "<sep>":
                entry["lstrip"], entry["rstrip"] = False, True
        _edit_config(folders["config-other-flags"], added_tokens_decoder=decoder)
    return folders


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("tokenizer-folders"))


def _auto_ids(folder) -> list[list[int]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auto = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return auto(TEXTS, add_special_tokens=False)["input_ids"]


def _bare_ids(folder) -> list[list[int]]:
    bare = Tokenizer.from_file(str(folder / "tokenizer.json"))
    return [e.ids for e in bare.encode_batch(TEXTS, add_special_tokens=False)]


def _assert_ids(rag, want: list[list[int]]) -> None:
    assert [rag[d].tolist() for d in range(len(rag))] == want


# Folders where the bare tokenizer.json encodes otherwise than transformers, as measured with
# transformers 5.24: the comparison below would fail for these if the folder's config were
# ignored. (The others agree either way.)
DIFFER = {"gpt2-prefix-space", "roberta-prefix-space", "llama-no-legacy-no-prefix",
          "t5-legacy", "t5-no-legacy", "bert-cased", "split-special-tokens",
          "config-only-special", "config-other-flags"}  # fmt: skip


@pytest.mark.parametrize(
    "name",
    ["plain", "plain-cleanup", "gpt2-prefix-space", "gpt2-no-prefix-space", "roberta-prefix-space",
     "llama-legacy", "llama-no-legacy-no-prefix", "t5-legacy", "t5-no-legacy", "bert-cased",
     "bert-uncased", "split-special-tokens", "added-lstrip", "config-only-special",
     "config-other-flags"],
)  # fmt: skip
def test_scan_encodes_as_transformers(folders, name):
    folder = folders[name]
    want = _auto_ids(folder)
    tok = load_tokenizer(folder)
    assert isinstance(tok, Tokenizer) and tok.truncation is None and tok.padding is None
    _assert_ids(encode(tok, TEXTS), want)
    _assert_ids(encode_texts(TEXTS, str(folder)), want)  # detect_text and `tokenmark detect`
    # as Ray's actors get it: the JSON does not hold transformers' split_special_tokens
    _assert_ids(encode(tokenizer_from_state(tokenizer_state(tok)), TEXTS), want)
    if name == "split-special-tokens":
        json_only = Tokenizer.from_str(tok.to_str())
        assert [e.ids for e in json_only.encode_batch(TEXTS, add_special_tokens=False)] != want
    needs = tokenizer_config_keys(str(folder))
    if name in DIFFER:
        assert needs, "this folder's config changes the encoding"
        if transformers.__version__.startswith("5.24"):
            assert _bare_ids(folder) != want  # the test can fail: the bare file differs
    if name in ("plain", "plain-cleanup", "added-lstrip"):
        assert needs == []  # read straight from tokenizer.json


def test_keys_are_named(folders):
    assert tokenizer_config_keys(str(folders["gpt2-prefix-space"])) == [
        "tokenizer_class=GPT2Tokenizer",
        "add_prefix_space",
    ]
    assert "legacy" in tokenizer_config_keys(str(folders["t5-legacy"]))
    assert "do_lower_case" in tokenizer_config_keys(str(folders["bert-cased"]))
    assert tokenizer_config_keys(str(folders["split-special-tokens"])) == ["split_special_tokens"]
    assert tokenizer_config_keys(str(folders["config-other-flags"])) == ["added_tokens_decoder"]
    assert tokenizer_config_keys(str(folders["config-only-special"])) == [
        "special tokens missing from tokenizer.json"
    ]


def test_without_transformers_a_folder_that_needs_it_is_refused(folders, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # `import transformers` fails
    folder = folders["gpt2-prefix-space"]
    with pytest.raises(ScanConfigError) as e:
        load_tokenizer(folder)
    msg = str(e.value)
    assert "tokenizer_class=GPT2Tokenizer, add_prefix_space" in msg
    assert "install transformers" in msg and str(folder / "tokenizer.json") in msg
    # the file itself is taken as it is, knowingly; a plain folder needs no transformers
    _assert_ids(encode(load_tokenizer(folder / "tokenizer.json"), TEXTS), _bare_ids(folder))
    plain = folders["plain"]
    _assert_ids(encode(load_tokenizer(plain), TEXTS), _bare_ids(plain))


def test_a_plain_folder_loads_without_importing_transformers():
    code = (
        "import sys, tokenmark.scan as ts; from tokenmark import demo_model; "
        "t = ts.load_tokenizer(demo_model.PATH); print('transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_scan_through_such_a_folder_counts_transformers_tokens(folders, tmp_path):
    """End to end: the scan's n_tokens per document are the lengths transformers gives; and a
    changed tokenizer_config.json is another setting (a rerun into the same folder is refused)."""
    import argparse

    pytest.importorskip("pyarrow")
    from tokenmark.scan import cli

    folder = folders["gpt2-prefix-space"]
    docs = tmp_path / "docs.jsonl"
    texts = [t for t in TEXTS if t.strip()]
    docs.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    config = tmp_path / "wm.json"
    config.write_text(json.dumps({"watermarks": [{"key_id": "k", "scheme": "kgw"}]}))
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"k": "a key"}))
    parser = argparse.ArgumentParser(prog="tokenmark")
    cli.add_parser(parser.add_subparsers(dest="command"))
    argv = ["scan", str(docs), "--config", str(config), "--key-file", str(keys), "--no-progress"]
    argv += ["--tokenizer", str(folder), "--out", str(tmp_path / "out"), "--output-format", "jsonl"]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    (scores,) = (tmp_path / "out").glob("scores-docs.jsonl-*[0-9a-f].jsonl")
    rows = [json.loads(x) for x in scores.read_text().splitlines()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auto = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    want = [len(i) for i in auto(texts, add_special_tokens=False)["input_ids"]]
    assert [r["n_tokens"] for r in sorted(rows, key=lambda r: r["row"])] == want
    bare = Tokenizer.from_file(str(folder / "tokenizer.json"))
    assert want != [len(e) for e in bare.encode_batch(texts, add_special_tokens=False)]
    _edit_config(folder, add_prefix_space=False)
    try:
        assert args.func(args) == 2  # other settings: the tokenizer's config changed
    finally:
        _edit_config(folder, add_prefix_space=True)


def test_a_tokenizer_that_does_more_than_its_backend_is_called_itself(folders, monkeypatch):
    """The probe at load time: a transformers class whose call gives other ids than its backend
    (or one with no backend, a slow tokenizer) is used as it is by ``detect_text`` and refused
    by the scan, which needs a ``tokenizers`` backend."""
    from tokenmark._tokenizers import load_tokenizer as load_any

    folder = folders["gpt2-prefix-space"]
    real = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)

    class Shifted:  # a class that post-processes the backend's ids in Python
        backend_tokenizer = real.backend_tokenizer

        def __call__(self, texts, add_special_tokens=False):
            ids = real(texts, add_special_tokens=add_special_tokens)["input_ids"]
            return {"input_ids": [[i + 1 for i in x] for x in ids]}

    class Slow(Shifted):
        backend_tokenizer = None

    for fake in (Shifted, Slow):
        loader = staticmethod(lambda *a, fake=fake, **k: fake())
        monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", loader)
        assert isinstance(load_any(str(folder)), fake)
        want = [[i + 1 for i in x] for x in real(TEXTS, add_special_tokens=False)["input_ids"]]
        _assert_ids(encode_texts(TEXTS, str(folder)), want)
        with pytest.raises(ScanConfigError, match=f"as {fake.__name__}, which does not encode"):
            load_tokenizer(folder)
