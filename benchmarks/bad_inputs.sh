#!/usr/bin/env bash
# Bad inputs through the real CLI: clean = exit 2, one "error:" line on stderr, no traceback.
#   benchmarks/bad_inputs.sh <run dir>     # a finished ring8 run, e.g. from
#   gan train data=ring8 model=mlp train.steps=20 train.batch_size=16 eval=off hydra.run.dir=/tmp/ring
G=${GAN:-$(dirname "$0")/../.venv/bin/gan}
RUN=$1
clean=0; total=0
try() {
  total=$((total+1))
  err=$("$G" "$@" 2>&1 >/dev/null); code=$?
  lines=$(printf "%s" "$err" | grep -c .)
  if [ $code = 2 ] && [ "$lines" = 1 ] && ! printf "%s" "$err" | grep -q Traceback; then clean=$((clean+1)); r=clean; else r="NOT CLEAN (exit $code, $lines lines)"; fi
  echo "$r | gan $* | $(printf "%s" "$err" | head -1 | cut -c1-150)"
}
try train train.augment=flip
try train train.augment_ops=[translation,rotate90]
try train train.augment_ops=[]  train.augment=ada
try train train.ada_target=1.0
try train train.ada_target=abc
try train train.ema_rampup=-0.1
try train train.ema_rampup=2
try train train.deterministic=maybe
try train train.threads=0
try train train.threads=many
try train train.precision=fp8
try train train.steps=0
try train train.batch_size=-1
try train train.ema=1.5
try train data=nope
try train model=nope
try train data.path="/no such/folder ü" data=image_folder
try train train.resume="/no such run"
try train train.resume=$RUN optim.d.lr=0.5 train.steps=100
try train train.resume=$RUN data=grid25 train.steps=100
try train train.resume=$RUN train.steps=1
try sample checkpoint="/no such/ckpt.pt"
try sample checkpoint=$RUN n=0
try sample checkpoint=$RUN mode=nope
try eval checkpoint=$RUN eval.n_samples=-5
echo "clean: $clean of $total"
