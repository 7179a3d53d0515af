"""Hostile input against every public op and scheme method, each case in a child process.

See ``fuzz_harness.py`` for the cases, the outcomes and the canary key. The grid runs every
(target, argument, mutation) of the catalogue once; hypothesis adds random ones (random sizes
and seeds, derandomized here so CI is reproducible; ``bench/fuzz_long.py`` runs many more).
"""

import fuzz_harness as F
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

OPS = F.OPS


def check(results, label):
    """Every case passed: no crash, hang, leak, unclear error or wrong result."""
    counts = F.tally(results)
    print(f"{label}: {dict(counts)}")
    bad = F.failures(results)
    assert not bad, "\n".join(f"{r['o']}: {r['spec']}: {r.get('why', '')}" for r in bad[:30])


@pytest.fixture(scope="module")
def grid_results():
    return F.run_cases(F.grid_specs(seeds=(0,)))


def test_grid_schemes_keys_configs_and_inputs(grid_results):
    results = [r for r in grid_results if not r["spec"]["t"].startswith(OPS)]
    assert len(results) > 1000
    assert not check(results, "grid, schemes")


def test_grid_public_ops(grid_results):
    results = [r for r in grid_results if r["spec"]["t"].startswith(OPS)]
    assert len(results) > 1500
    check(results, "grid, ops")


def _spec_strategy():
    catalogue = [
        (t, a, F.mutation_names(info)) for t, (_, _, args) in F.targets().items()
        for a, info in args.items()
    ]  # fmt: skip
    return st.sampled_from(catalogue).flatmap(
        lambda c: st.builds(
            lambda m, s: {"t": c[0], "a": c[1], "m": m, "s": s},
            st.sampled_from(c[2]),
            st.integers(1, 2**32 - 1),
        )
    )


@settings(
    max_examples=1,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.generate],  # each example is 300 cases; the report names the failing ones
    suppress_health_check=list(HealthCheck),
)
@given(st.lists(_spec_strategy(), min_size=300, max_size=300))
def test_random_cases(specs):
    check(F.run_cases(specs), "random")


SELFTESTS = {
    "crash": "crash",
    "hang": "hang",
    "leak": "leak",
    "context_leak": "leak",
    "print_key": "leak",
    "silent": "silent",
    "unclear": "unclear",
    "unnamed": "unclear",
}


def test_harness_catches_what_it_claims():
    """Each kind of failure, planted, is reported as such, and a case after a crash or a hang
    still runs (in a fresh child)."""
    after = {"t": "Key", "a": "material", "m": "id", "s": 0}
    specs = []
    for m in SELFTESTS:
        specs += [{"t": "_selftest", "a": "x", "m": m, "s": 0}, after]
    results = F.run_cases(specs, per_case_s=0.2, base_s=6.0)
    by_mutation = {r["spec"]["m"]: r["o"] for r in results if r["spec"]["t"] == "_selftest"}
    assert by_mutation == SELFTESTS, results
    assert sum(r["spec"] == after and r["o"] == "ok" for r in results) == len(SELFTESTS)
    raw = F.run_cases([{"t": "_selftest", "a": "x", "m": "raw_print_key", "s": 0}])
    assert any(r["o"] == "leak" for r in raw), raw  # written to fd 2, caught in the parent
