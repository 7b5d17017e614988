#!/bin/bash
# A GPU session's checks and benchmarks, one step per command (each fits a 10-minute device call).
#
#   bash tools/gpu_session.sh tests            the numerical tests of every Pallas path, on the GPU
#   bash tools/gpu_session.sh SUITE [SUITE..]  benchmark suites (attention, kernels, learn)
#
# Meant for the lent H100/H200 machines (their image has jax with CUDA, flax, optax, pytest and
# hypothesis; python3 is that interpreter) or any CUDA machine with those packages. Run from the
# repository root: the package is used from PYTHONPATH, nothing is installed. Everything is
# written to $OUT (default /tmp/ntkbook-gpu): env.txt, tests.log, bench-SUITE.log and the suites'
# JSON records — copy those to benchmarks/results/ and commit them; the notebooks read them there
# (ntkbook.bench.recorded_table).
#
# "tests": implementation="pallas" compiles the kernels with Triton on a GPU (tests that force
# interpret=True still interpret); float32 matmuls are pinned to full precision so the CPU
# tolerance tables apply. Suites run under a time limit so one cannot eat the session.
set -u -o pipefail
OUT=${OUT:-/tmp/ntkbook-gpu}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 NTKBOOK_SCALE=fast NTKBOOK_PROGRESS=0
PY=${PY:-python3}
[ $# -eq 0 ] && { sed -n 2,6p "$0"; exit 2; }

{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
  "$PY" -c "import jax, flax; print('jax', jax.__version__, 'flax', flax.__version__, jax.devices())"
  git log --oneline -1 2>/dev/null; } | tee "$OUT/env.txt"

status=0
for step in "$@"; do
  if [ "$step" = tests ]; then
    echo "== Pallas paths on the device" | tee "$OUT/tests.log"
    JAX_DEFAULT_MATMUL_PRECISION=highest timeout 540 "$PY" -m pytest -q -p no:cacheprovider \
      tests/attention tests/conv/test_conv_fft.py tests/conv/test_conv_depthwise.py \
      -k "pallas or flash or na1d or na2d or na3d or block_sparse or rpe or soft or gauss or toeplitz" \
      2>&1 | tee -a "$OUT/tests.log"
    rc=${PIPESTATUS[0]}
    echo "tests exit $rc" | tee -a "$OUT/tests.log"
  else
    echo "== suite $step" | tee "$OUT/bench-$step.log"
    timeout 540 "$PY" -m ntkbook.bench "$step" --out "$OUT" 2>&1 | tee -a "$OUT/bench-$step.log"
    rc=${PIPESTATUS[0]}
    echo "suite $step exit $rc" | tee -a "$OUT/bench-$step.log"
  fi
  [ "$rc" -ne 0 ] && status=$rc
done
ls -l "$OUT"
exit $status
