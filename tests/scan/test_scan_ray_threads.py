"""The Ray engine's scorer actor caps its tokenizer's thread pool at the CPUs it reserves
(``worker_threads``): HF tokenizers' Rayon pool otherwise takes every core of the node in each
actor. Checked without Ray, in fresh processes (the pool is made once per process, at the first
batch): the process's thread count after a batch grows by the cap, and a value set by the
cluster is kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyarrow", reason="the scan extra: pip install '.[scan]'")
pytest.importorskip("tokenizers", reason="the scan extra: pip install '.[scan]'")

CHILD = """
import json, os, sys
from tokenmark import demo_model
from tokenmark.scan.ray_engine import _Scorer
from tokenmark.scan.tokenizer import encode, load_tokenizer, tokenizer_state

def threads():
    return len(os.listdir("/proc/self/task"))

state = tokenizer_state(load_tokenizer(demo_model.PATH))
before = threads()
scorer = _Scorer([], state, "cpu", -2.0, int(sys.argv[1]))
encode(scorer.tokenizer, ["To be, or not to be, that is the question."] * 64)
print(json.dumps({"env": os.environ["RAYON_NUM_THREADS"], "added": threads() - before}))
"""


def _child(threads: int, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(threads)],
        capture_output=True, text=True, check=True, timeout=120, env=env,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_scorer_caps_the_tokenizer_pool():
    env = {
        k: v for k, v in os.environ.items() if k not in ("RAYON_NUM_THREADS", "RAYON_RS_NUM_CPUS")
    }
    env["TOKENIZERS_PARALLELISM"] = "true"
    one, two = _child(1, env), _child(2, env)
    assert one["env"] == "1" and two["env"] == "2"
    # Rayon's pool is the only thread-maker here: one worker thread per allowed CPU.
    assert one["added"] == 1 and two["added"] == 2, (one, two)
    kept = _child(1, {**env, "RAYON_NUM_THREADS": "2"})
    assert kept == {"env": "2", "added": 2}
