#!/usr/bin/env bash
# The prepared GPU check: runs unattended on a CUDA machine with no internet access (torch,
# triton, pybind11, scikit-build-core, cmake, ninja and nvcc installed). Builds tokenmark with
# CUDA for this GPU, runs the GPU tests and the GPU benchmarks, and writes logs and a summary
# under $OUT (default ./gpu_out). About 6-8 minutes on an H100.
#
#   bash bench/gpu_check.sh            # everything
#   STEPS="build tests synthid" bash bench/gpu_check.sh
#   # steps: build tests kgw gumbel synthid profile dialects ginsew generate, and ncu (not by
#   # default: Nsight Compute counters of the SynthID pass kernel; NCU_SHAPES="32x128256" picks
#   # its shapes). The dialects step wants the vLLM peer carried: see its comment below.
#   # On a short device lease, the SynthID work of issue 15 first (on the H200: build 26 s, GPU
#   # tests 84 s, parity grid 19 s, profile with its sweep and stamps well under a minute):
#   STEPS="build tests synthid profile" bash bench/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_out}"
mkdir -p "$OUT"
STEPS="${STEPS:-build tests kgw gumbel synthid profile dialects ginsew generate}"
SUMMARY="$OUT/summary.md"
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
status=0

step() {  # step NAME TIMEOUT CMD...: run, log to $OUT/NAME.log, record pass/fail
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  echo "=== $name: $*"
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 25 "$OUT/$name.log"
  echo "| $name | $([ $rc -eq 0 ] && echo ok || echo "FAILED (rc $rc)") | $((SECONDS - t0)) s |" >>"$SUMMARY"
  [ $rc -eq 0 ] || status=1
  return $rc
}

{
  echo "# tokenmark GPU check"
  echo
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
  echo
  echo "| step | result | time |"
  echo "|---|---|---|"
} >"$SUMMARY"

arch=$("$PY" -c "import torch; p=torch.cuda.get_device_capability(); print(f'{p[0]}{p[1]}')")
if [[ " $STEPS " == *" build "* ]]; then
  step build 200 env TOKENMARK_CUDA=ON CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" CMAKE_ARGS="-DCMAKE_CUDA_ARCHITECTURES=${arch}" \
    "$PY" -m pip install --no-build-isolation --no-deps --no-index . || { cat "$SUMMARY"; exit 1; }
fi
"$PY" -m tokenmark info | tee "$OUT/info.json"
if [[ " $STEPS " == *" tests "* ]]; then
  # The GPU-marked tests: CUDA and compiled Triton vs the reference, graph capture. (The CPU
  # suite and the Triton interpreter tests are CI's job.)
  # Spread over 8 workers where pytest-xdist is installed (the Triton compiles dominate), with a
  # per-test limit where pytest-timeout is: a hung kernel fails its test, not the whole check.
  par=()
  "$PY" -c "import xdist" 2>/dev/null && par+=(-n 8)
  "$PY" -c "import pytest_timeout" 2>/dev/null && par+=(--timeout 120)
  step gpu_tests 300 "$PY" -m pytest -q -m gpu tests -p no:cacheprovider -rf --durations=10 \
    "${par[@]}"
  # The parity grid's CUDA and Triton rows (not marked gpu: the Triton rows also run on CPU CI
  # under the interpreter).
  step parity_grid 120 "$PY" -m pytest -q tests/backends/test_parity_grid.py \
    -p no:cacheprovider -rf "${par[@]}"
fi
if [[ " $STEPS " == *" kgw "* ]]; then
  step bench_kgw 120 "$PY" bench/bench_gpu_kgw.py --backends cuda,triton --out "$OUT/gpu_results.md"
fi
if [[ " $STEPS " == *" gumbel "* ]]; then
  # Also times one block per row vs split rows vs Triton per shape, and Gumbel.detect on CUDA
  # tensors; its "- batch N: ..." lines set kGumbelSplitMinVocab (csrc/cuda/gumbel_cuda.h) and
  # TRITON_GUMBEL_MIN_VOCAB (tokenmark/backends/__init__.py), both placeholders until then.
  step bench_gumbel 240 "$PY" bench/bench_gpu_gumbel.py --backends cuda,triton \
    --out "$OUT/gpu_results.md"
  { echo; echo "Gumbel layout crossovers (set the thresholds from these):"
    grep -E '^- batch [0-9]+: split rows' "$OUT/bench_gumbel.log"; echo; } >>"$SUMMARY"
fi
if [[ " $STEPS " == *" synthid "* ]]; then
  # Top-k 40 rows: cuda (the top-k kernel), "cuda (torch top-k)" (the torch ops it replaced) and
  # triton (still the torch ops), each with its ratio to the softmax + multinomial floor (goal
  # <= 1.5x); the "- top-k pick alone" lines time the two pickers by themselves.
  step bench_synthid 240 "$PY" bench/bench_gpu_synthid.py --backends cuda,triton \
    --out "$OUT/gpu_results.md"
  { echo; echo "SynthID top-k pickers:"; grep -E '^- top-k pick alone' "$OUT/bench_synthid.log"
    echo; } >>"$SUMMARY"
fi
if [[ " $STEPS " == *" profile "* ]]; then
  # Per-kernel times of the SynthID sampler: each pass's cost after the one-warp factor tail (it
  # was ~20-25 us per pass regardless of size with the block-wide tail).
  step profile_synthid 90 "$PY" bench/profile_gpu_synthid.py
  # The pass kernel's candidates per block: the default (0, chosen per launch) beside each fixed
  # chunk; fewer, larger blocks send fewer histogram atomics and factor loads per row, smaller
  # ones put more blocks to work. The tokens must match.
  step synthid_chunks 120 "$PY" bench/profile_gpu_synthid.py --chunks 0,1024,2048,4096,8192,16384
  # Where each launch's time goes (issue 15: ~21 us per pass that does not grow with the size):
  # each block stamps its stages (entry, prologue, candidates, flush + count, the row's tail)
  # with the global timer and its SM's clock; the tables split a pass into them, with how far
  # apart its blocks enter and the gap to the next launch.
  step synthid_stages 120 "$PY" bench/profile_gpu_synthid.py --stages
fi
if [[ " $STEPS " == *" ncu "* ]]; then
  # Why a SynthID pass costs ~26 us at one row of 32000 and 67 us at 32 x 128256 (RESULTS.md,
  # the H200 check): one call's four pass kernels after 5 warm-up calls, clocks left as found.
  for shape in ${NCU_SHAPES:-1x32000 32x128256}; do
    step "ncu_synthid_$shape" 240 ncu --clock-control none --kernel-name regex:pass_kernel \
      --launch-skip 20 --launch-count 4 --set detailed \
      "$PY" bench/profile_gpu_synthid.py --ncu "$shape"
  done
fi
if [[ " $STEPS " == *" dialects "* ]]; then
  # Dialect detection on the device: vLLM and SynthID-Text against the peers' own detectors (on
  # the CPU: vLLM's, and transformers' for SynthID-Text) and ours on the CPU, one thread each;
  # the vLLM, SGLang and SynthID-Text ops alone. The peer is the zip of its detector files, made where the wheel is
  # (`python bench/bench_gpu_dialects.py --pack-peer WHEEL .peers/vllm_detector.zip`) and carried
  # (`carry: [".peers"]`); without it the peer columns say n/a.
  peer="${TOKENMARK_VLLM_WHEEL:-.peers/vllm_detector.zip}"
  step bench_dialects 180 env OMP_NUM_THREADS=1 TOKENMARK_VLLM_WHEEL="$([ -f "$peer" ] && echo "$peer")" \
    "$PY" bench/bench_gpu_dialects.py --out "$OUT/gpu_results.md"
fi
if [[ " $STEPS " == *" ginsew "* ]]; then
  step bench_ginsew 120 "$PY" bench/bench_ginsew.py --device cuda --no-record
fi
if [[ " $STEPS " == *" generate "* ]]; then
  step bench_generate 90 "$PY" bench/bench_gpu_generate.py --out "$OUT/gpu_results.md"
fi
cat "$SUMMARY"
[ -f "$OUT/gpu_results.md" ] && cat "$OUT/gpu_results.md"
exit $status
