#!/usr/bin/env bash
# Pretraining on a Cloud TPU VM or pod slice: the same command on every
# worker at once (gcloud ... ssh --worker=all), each one JAX process.
#   bash launch/tpu_pod.sh TPU_NAME ZONE CONFIG WORKDIR [--config.x=y ...]
#   SETUP=1 bash launch/tpu_pod.sh ...   first clone/update the repository
#       and run launch/setup.sh (plus jax[tpu]) on every worker.
# Environment:
#   REPO_URL    git URL to clone (default: this checkout's `origin`).
#   REF         branch, tag or commit to run (default: this checkout's
#               branch); it must be pushed, the workers fetch it.
#   REMOTE_DIR  checkout on the workers, relative to the home directory
#               (default: ssl_jax).
#   PROJECT     GCP project (default: gcloud's configured one).
# CONFIG is a path inside the checkout (e.g. configs/simclr_imagenet.py).
# WORKDIR must be one folder that every worker sees at the same path: a
# shared file system (Filestore/NFS, or a bucket mounted with gcsfuse).
# Checkpoints are written collectively by all workers, and ssl_jax writes
# the workdir with ordinary file calls, so a bare gs:// URL does not work.
# The run lives as long as the ssh session; run this in tmux/screen for long
# jobs. Re-running the same command resumes from the last checkpoint.
set -euo pipefail

if [ $# -lt 4 ]; then
  sed -n '4,6p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
tpu=$1 zone=$2 config=$3 workdir=$4
shift 4

repo=$(cd "$(dirname "$0")/.." && pwd)
remote_dir=${REMOTE_DIR:-ssl_jax}
gcloud_ssh=(gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" --worker=all)
[ -n "${PROJECT:-}" ] && gcloud_ssh+=(--project "$PROJECT")

# Remote commands are strings run by each worker's shell: quote every piece
# (%q) so paths and flags with spaces or quotes arrive intact.
q() { printf '%q' "$1"; }

if [ "${SETUP:-0}" = 1 ]; then
  url=${REPO_URL:-$(git -C "$repo" remote get-url origin 2>/dev/null || true)}
  ref=${REF:-$(git -C "$repo" rev-parse --abbrev-ref HEAD)}
  if [ -z "$url" ]; then
    echo "SETUP=1 needs REPO_URL (this checkout has no 'origin')." >&2
    exit 2
  fi
  d=$(q "$remote_dir")
  # Fetch REF and check out exactly that (detached), so every worker runs
  # the same code whatever its checkout held before. setup.sh installs the
  # CPU jax of constraints.txt; jax[tpu] of the same version adds libtpu.
  "${gcloud_ssh[@]}" --command "set -euo pipefail
    [ -d $d/.git ] || git clone --quiet $(q "$url") $d
    git -C $d fetch --quiet origin $(q "$ref")
    git -C $d checkout --quiet FETCH_HEAD
    bash $d/launch/setup.sh
    $d/.venv/bin/python -m pip install -q \"jax[tpu]==\$($d/.venv/bin/python \
      -c 'import jax; print(jax.__version__)')\""
fi

# --distributed: jax.distributed.initialize() finds the coordinator, the
# number of workers and this worker's id from the TPU VM's metadata.
args=""
for arg in "$@"; do args+=" $(q "$arg")"; done
"${gcloud_ssh[@]}" --command "cd $(q "$remote_dir") &&
  .venv/bin/python -m ssl_jax.main --distributed --config=$(q "$config") \
  --workdir=$(q "$workdir")$args"
