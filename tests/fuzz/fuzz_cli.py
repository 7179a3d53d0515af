"""CLI cases of the fuzz harness: ``tokenmark detect`` on generated, partly malformed JSONL
files and on bad flags, run in the harness's child process.

The documented contract checked here: every good line gives one output record (with its input
``line`` number, equal to the API's result for it), every bad line is reported on stderr as
``FILE:LINE: why`` and gets no record, the exit status is 0 without bad lines and 1 with some;
a bad flag, key, config or input file exits with status 2 and a ``tokenmark: ...`` message,
before anything is written. Nothing ever shows the key.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from fuzz_harness import CANARY, find_canary

# Line kinds: name -> good?  (a good line is scored; a bad one is reported and skipped)
LINE_KINDS = {
    "tokens": True,
    "tokens_id": True,
    "tokens_empty": True,
    "text_json": True,
    "plain_text": True,
    "blank": None,  # skipped silently, no record, no error
    "crlf_tokens": True,
    "bad_json": False,
    "truncated_json": False,
    "bool_ids": False,
    "float_ids": False,
    "integral_float_ids": False,
    "neg_ids": False,
    "big_ids": False,
    "huge_int": False,
    "str_ids": False,
    "null_tokens": False,
    "tokens_not_list": False,
    "nested_ids": False,
    "missing_field": False,
    "json_array_object": False,
    "deep_nesting": False,
    "invalid_utf8": False,
    "nan_literal": False,
    "text_not_str": False,
}
FLAG_CASES = [
    ["--alpha", "nan"], ["--alpha", "-1"], ["--alpha", "2"], ["--alpha", "x"],
    ["--window", "0"], ["--window", "-3"], ["--window", "1.5"],
    ["--gamma", "0"], ["--gamma", "1"], ["--gamma", "nan"], ["--gamma", "inf"],
    ["--context-width", "-1"], ["--context-width", "5000"], ["--seeding", "left"],
    ["--tokenizer", "/nonexistent-tokenizer"],
    ["--config", "@invalid_json"], ["--config", "@version999"], ["--config", "@unknown_scheme"],
    ["--config", "@list"], ["--config", "@dedup_str"], ["--config", "@key_hex_canary"],
    ["--config", "@missing"], ["--config", "@extra_field"],
    ["--key-file", "@missing"], ["--key-file", "@empty"],
    ["@no_input_file"],
]  # fmt: skip


def _line(kind: str, rng, first: bool) -> bytes:
    toks = rng.integers(0, 200, int(rng.integers(0, 12))).tolist()
    j = json.dumps
    table = {
        "tokens": lambda: j({"tokens": toks}),
        "tokens_id": lambda: j({"id": int(rng.integers(0, 99)), "tokens": toks}),
        "tokens_empty": lambda: j({"tokens": []}),
        "text_json": lambda: j({"id": "t", "text": "To be, or not to be: that is the question"}),
        "plain_text": lambda: "Now is the winter of our discontent",
        "blank": lambda: "   ",
        "crlf_tokens": lambda: j({"tokens": toks}) + "\r",
        "bad_json": lambda: '{"tokens": [1, 2,, 3]}',
        "truncated_json": lambda: '{"tokens": [1, 2',
        "bool_ids": lambda: j({"tokens": [1, True, False]}),
        "float_ids": lambda: j({"tokens": [1, 1.5]}),
        "integral_float_ids": lambda: j({"tokens": [1, 2.0]}),
        "neg_ids": lambda: j({"tokens": [1, -1]}),
        "big_ids": lambda: j({"tokens": [1, 2**31]}),
        "huge_int": lambda: '{"tokens": [1, ' + "9" * 5000 + "]}",
        "str_ids": lambda: j({"tokens": ["1", "2"]}),
        "null_tokens": lambda: j({"tokens": None}),
        "tokens_not_list": lambda: j({"tokens": 5}),
        "nested_ids": lambda: j({"tokens": [[1, 2]]}),
        "missing_field": lambda: j({"id": 1, "txt": "x"}),
        "json_array_object": lambda: '{"tokens": [1]} [2]',
        "deep_nesting": lambda: '{"tokens": ' + "[" * 50000 + "]" * 50000 + "}",
        "invalid_utf8": None,
        "nan_literal": lambda: '{"tokens": [1, NaN]}',
        "text_not_str": lambda: j({"text": {"a": 1}}),
    }
    if kind == "invalid_utf8":
        return b'{"text": "caf\xe9"}'
    return table[kind]().encode("utf-8")


_TOKENIZER = []


def _tokenizer():
    from tokenmark import demo_model
    from transformers import AutoTokenizer

    if not _TOKENIZER:
        _TOKENIZER.append(AutoTokenizer.from_pretrained(str(demo_model.PATH)))
    return _TOKENIZER[0]


def _config_file(tmp: Path, what: str) -> str:
    import tokenmark as tm

    good = json.loads(tm.KGW(key=CANARY).to_json())
    content = {
        "invalid_json": "{",
        "version999": json.dumps({**good, "version": 999}),
        "unknown_scheme": json.dumps({**good, "scheme": "zzz"}),
        "list": "[1, 2]",
        "dedup_str": json.dumps({**good, "dedup": "false"}),
        "key_hex_canary": json.dumps({**good, "key_hex": tm.Key(b"other").to_hex()}),
        "extra_field": json.dumps({**good, "surprise": 1}),
    }.get(what)
    path = tmp / f"cfg-{what}.json"
    if content is not None:
        path.write_text(content)
    return str(path)


def _run_main(argv, env_key: bytes | None):
    from tokenmark.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = os.environb.get(b"TOKENMARK_KEY")
    if env_key is None:
        os.environb.pop(b"TOKENMARK_KEY", None)
    else:
        os.environb[b"TOKENMARK_KEY"] = env_key
    code, exc = None, None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 2
                if not isinstance(e.code, int):
                    err.write(str(e.code))
    except Exception as e:  # noqa: BLE001 - a traceback is an unclear failure
        exc = e
    finally:
        if old is None:
            os.environb.pop(b"TOKENMARK_KEY", None)
        else:
            os.environb[b"TOKENMARK_KEY"] = old
    return code, out.getvalue(), err.getvalue(), exc


def run_cli_case(spec: dict, needles: list[str]) -> dict:
    import tokenmark as tm
    from tokenmark import demo_model

    rng = np.random.default_rng(spec["s"])
    key_bytes = {"utf8": CANARY.encode(), "latin1": CANARY.encode() + b"\xe9\xff"}[spec["env"]]
    needles = needles + [tm.Key(key_bytes).to_hex(), key_bytes.decode("latin1")]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if spec.get("flags"):
            return _flag_case(spec["flags"], tmp, key_bytes, needles)
        kinds = spec["lines"]
        raw = [_line(k, rng, i == 0) for i, k in enumerate(kinds)]
        if spec.get("bom") and raw:
            raw[0] = b"\xef\xbb\xbf" + raw[0]
        path = tmp / "in.jsonl"
        path.write_bytes(b"".join(r + b"\n" for r in raw))
        with_tokenizer = spec.get("tok", True)
        argv = ["detect", str(path)]
        argv += ["--tokenizer", str(demo_model.PATH)] if with_tokenizer else []
        code, out, err, exc = _run_main(argv, key_bytes)
        if find_canary(out + err + (repr(exc) if exc else ""), needles) is not None:
            return {"o": "leak", "why": "CLI output showed a key form"}
        if exc is not None:
            return {"o": "unclear", "why": f"traceback: {type(exc).__name__}: {str(exc)[:200]}"}
        wm = tm.KGW(key=key_bytes)
        records = [json.loads(x) for x in out.splitlines()]
        good_kind = {**LINE_KINDS}
        if not with_tokenizer:  # text lines are then bad lines ("needs --tokenizer")
            good_kind.update(text_json=False, plain_text=False)
        good = [i + 1 for i, k in enumerate(kinds) if good_kind[k]]
        bad = [i + 1 for i, k in enumerate(kinds) if good_kind[k] is False]
        if [r.get("line") for r in records] != good:
            got = [r.get("line") for r in records]
            return {"o": "silent", "why": f"records for lines {got}, good lines {good}"}
        for r in records:
            k, line = kinds[r["line"] - 1], raw[r["line"] - 1]
            if "text" in k:
                continue  # compared through detect_text below
            if k == "plain_text":
                continue
            want = wm.detect([json.loads(line.decode("utf-8-sig"))["tokens"]]).to_records()[0]
            if any(r[f] != want[f] for f in want):
                return {"o": "silent", "why": f"line {r['line']}: {r} != {want}"}
        texts = [r for r in records if kinds[r["line"] - 1] in ("text_json", "plain_text")]
        if texts:
            src = [
                json.loads(raw[r["line"] - 1])["text"]
                if kinds[r["line"] - 1] == "text_json"
                else raw[r["line"] - 1].decode("utf-8-sig")
                for r in texts
            ]
            want = wm.detect_text(src, _tokenizer()).to_records()
            if any(r["p_value"] != w["p_value"] for r, w in zip(texts, want)):
                return {"o": "silent", "why": "a text line scored differently from detect_text"}
        for lineno in bad:
            if f"{path}:{lineno}:" not in err:
                return {"o": "silent", "why": f"bad line {lineno} not reported as FILE:LINE"}
        if "Traceback" in err:
            return {"o": "unclear", "why": "a traceback on stderr"}
        want_code = 1 if bad else 0
        if code != want_code:
            return {"o": "unclear", "why": f"exit status {code}, expected {want_code}"}
        return {"o": "clear" if bad else "ok"}


def _flag_case(flags: list[str], tmp: Path, key_bytes: bytes, needles) -> dict:
    path = tmp / "in.jsonl"
    path.write_text('{"tokens": [1, 2, 3, 4, 5, 6, 7]}\n')
    argv, env_key = ["detect"], key_bytes
    for f in flags:
        if f.startswith("@"):
            what = f[1:]
            if argv[-1] == "--config":
                f = _config_file(tmp, what)
            elif argv[-1] == "--key-file":
                f = str(tmp / "key-missing") if what == "missing" else str(tmp / "key-empty")
                (tmp / "key-empty").write_bytes(b"\n")
            elif what == "no_input_file":
                argv.append(str(tmp / "no-such-input.jsonl"))
                continue
        argv.append(f)
    if "@no_input_file" not in flags:
        argv.append(str(path))
    code, out, err, exc = _run_main(argv, env_key)
    if find_canary(out + err + (repr(exc) if exc else ""), needles) is not None:
        return {"o": "leak", "why": "CLI output showed a key form"}
    if exc is not None:
        return {"o": "unclear", "why": f"traceback: {type(exc).__name__}: {str(exc)[:200]}"}
    if code != 2:
        return {"o": "silent", "why": f"{flags}: exit status {code}, out {out[:100]!r}"}
    if out:
        return {"o": "silent", "why": f"{flags}: wrote output despite a usage error"}
    if "Traceback" in err or not err.strip():
        return {"o": "unclear", "why": f"{flags}: {err[-200:]!r}"}
    return {"o": "clear"}
