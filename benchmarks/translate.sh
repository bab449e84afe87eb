#!/usr/bin/env bash
# CycleGAN and DiscoGAN with their default settings on the built-in unpaired pairs, one CPU thread
# each, one run after the other; then a table of the final metrics and wall times.
#   bash benchmarks/translate.sh [out_dir] [data ...]       (default: outputs/bench_translate digits2mnist)
# The feature classifiers are trained once per domain and cached under data/gan_cli_features; run a
# short `gan train` first (or this script twice) if their training time should not count.
set -euo pipefail
out=${1:-outputs/bench_translate}
shift || true
datasets=${*:-digits2mnist}
export OMP_NUM_THREADS=1
for data in $datasets; do
  for method in cyclegan discogan; do
    gan train method=$method data=$data train.threads=1 train.progress=log \
      hydra.run.dir=$out/${method}_$data > /dev/null
  done
done
python benchmarks/translate_table.py "$out"/*/results.json
