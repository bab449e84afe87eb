#!/usr/bin/env bash
# The first thing to run when a GPU is lent (about 8 minutes on one GPU):
#   1. the tests marked `cuda` (tests/test_gpu.py: GPU resume, fused Adam with channels_last, the
#      classifier and the CUDA random stream, every family in bf16 and fp16), which skip on a CPU;
#   2. benchmarks/gpu_check.py: fp32 against bf16 + channels_last + compile on the 64 px DCGAN,
#      the runner against the plain loop, in-memory against DataLoader feeding, the share of the
#      bf16 peak, and resume against an unbroken run; one Markdown table for docs/gpus.md.
#
#   benchmarks/gpu_check.sh                 # on the GPU; writes gpu_check/table.md and gpu_check/tests.txt
#   DEVICE=cpu TINY=1 benchmarks/gpu_check.sh   # a CPU smoke run with tiny sizes (tests/test_benchmarks.py)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-gpu_check}
mkdir -p "$OUT"
if [ -n "${TINY:-}" ]; then
    SIZES=(--tiny --steps "${STEPS:-4}" --rounds 1 --workers 0 --images 64)
else
    SIZES=(--steps "${STEPS:-300}" --rounds "${ROUNDS:-2}")
fi
echo "== tests marked cuda" | tee "$OUT/tests.txt"
# exit code 5: every test was deselected or skipped (no GPU): not a failure here
"$PY" -m pytest -m cuda -q -p no:cacheprovider tests 2>&1 | tee -a "$OUT/tests.txt" || [ "${PIPESTATUS[0]}" = 5 ]
echo "== measurements"
"$PY" benchmarks/gpu_check.py --device "$DEVICE" --out "$OUT" "${SIZES[@]}"
