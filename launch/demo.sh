#!/usr/bin/env bash
# The main job: set up, pretrain SimCLR on offline Fashion-MNIST with the
# default (CPU demo) config, evaluate it, print the table, write the report
# (pictures + report.md in WORKDIR/report). The console shows one progress
# line, the evaluation table (SSL features against pixel baselines) and
# where the report is; TensorFlow's and JAX's own messages go to
# WORKDIR/log.txt (--verbose, passed to the training, keeps its own here).
#   bash launch/demo.sh [WORKDIR] [--config.x=y ...]
# Re-running with the same WORKDIR resumes, then re-evaluates.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
workdir=${1:-workdirs/simclr_fashion_mnist}
shift || true
start=$(date +%s)
.venv/bin/python -m ssl_jax.main --config configs/simclr_fashion_mnist.py \
  --workdir "$workdir" "$@"
.venv/bin/python -m ssl_jax.evaluate --workdir "$workdir" \
  --protocols=knn,linear,fewshot,diagnostics
.venv/bin/python -m ssl_jax.report --workdir "$workdir"
echo "Pretrain + evaluate + report: $(( $(date +%s) - start )) s (set-up excluded)."
echo "Library messages (TensorFlow, XLA, absl): $workdir/log.txt"
