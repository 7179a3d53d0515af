#!/usr/bin/env bash
# GINSEW on a GPU, unattended (no internet; torch, triton, pybind11, scikit-build-core, cmake,
# ninja and nvcc installed): builds tokenmark with CUDA for this GPU, runs the GINSEW GPU tests
# (the CUDA and compiled Triton kernels against the numpy reference) and the embedding bench,
# and writes logs and a summary under $OUT (default ./gpu_out). A few minutes on an H100.
#
#   bash bench/gpu_check_ginsew.sh
#   STEPS="tests bench" bash bench/gpu_check_ginsew.sh     # already built
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_out}"
mkdir -p "$OUT"
STEPS="${STEPS:-build tests bench}"
SUMMARY="$OUT/summary_ginsew.md"
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
  echo "# tokenmark GINSEW GPU check"
  echo
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
  echo
  echo "| step | result | time |"
  echo "|---|---|---|"
} >"$SUMMARY"

arch=$("$PY" -c "import torch; p=torch.cuda.get_device_capability(); print(f'{p[0]}{p[1]}')")
if [[ " $STEPS " == *" build "* ]]; then
  step build 240 env TOKENMARK_CUDA=ON CMAKE_ARGS="-DCMAKE_CUDA_ARCHITECTURES=${arch}" \
    "$PY" -m pip install --no-build-isolation --no-deps --no-index . || { cat "$SUMMARY"; exit 1; }
fi
if [[ " $STEPS " == *" tests "* ]]; then
  step ginsew_gpu_tests 240 "$PY" -m pytest -q -m gpu tests/backends/test_ginsew_backends.py \
    -p no:cacheprovider -rf
fi
if [[ " $STEPS " == *" bench "* ]]; then
  step bench_ginsew 120 "$PY" bench/bench_ginsew.py --device cuda --no-record
fi
cat "$SUMMARY"
exit $status
