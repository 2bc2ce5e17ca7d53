#!/usr/bin/env bash
# N processes of the pretraining CLI on this machine, talking over loopback:
# the multi-host code path (jax.distributed, per-process data shards,
# collective checkpoints) without a cluster.
#   bash launch/local_multiprocess.sh N CONFIG WORKDIR [--config.x=y ...]
#   CPU_DEVICES_PER_PROCESS=4 (default) fake CPU devices in each process.
#   PORT=12355 to choose the coordinator port (default: a free one).
#   PYTHON=/path/to/python (default: the `python` on PATH).
# Process 0 prints to the terminal; process I (I > 0) writes
# WORKDIR/logs/process_I.log. If one process fails, the others are stopped
# (they would otherwise wait on their peer until JAX's timeout) and the
# script exits with the failing process's status. Ctrl-C / SIGTERM is passed
# on to every process, which then save a checkpoint at the same step and
# stop (killed if not done in 120 s; a second Ctrl-C kills at once); the
# same command resumes.
set -euo pipefail

usage() {
  sed -n '5,8p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
[ $# -ge 3 ] || usage
num_processes=$1 config=$2 workdir=$3
shift 3
[[ $num_processes =~ ^[1-9][0-9]*$ ]] || usage

repo=$(cd "$(dirname "$0")/.." && pwd)
# The caller's interpreter: $PYTHON, else the active environment's python
# (a venv or conda env on PATH), else python3.
python=${PYTHON:-$(command -v python || command -v python3)}
# Keep the caller's directory (CONFIG and WORKDIR may be relative to it) and
# make the checkout importable even without `pip install -e`.
export PYTHONPATH=$repo${PYTHONPATH:+:$PYTHONPATH}

# A free port avoids clashing with another run on the same machine; the
# fixed fallback covers a Python without portpicker.
port=${PORT:-$("$python" -c 'import portpicker; print(portpicker.pick_unused_port())' \
  2>/dev/null || echo 12355)}
logs=$workdir/logs
mkdir -p "$logs"

pids=()
for ((i = 0; i < num_processes; i++)); do
  cmd=("$python" -m ssl_jax.main --config="$config" --workdir="$workdir"
       --coordinator_address="127.0.0.1:$port"
       --num_processes="$num_processes" --process_id="$i"
       --cpu_devices="${CPU_DEVICES_PER_PROCESS:-4}" "$@")
  if ((i == 0)); then
    "${cmd[@]}" &
  else
    "${cmd[@]}" >"$logs/process_$i.log" 2>&1 &
  fi
  pids+=($!)
done

signal_all() {  # signal_all SIG: to every process still running.
  local pid
  for pid in "${pids[@]}"; do kill "-$1" "$pid" 2>/dev/null || true; done
}
# stop_all GRACE: SIGTERM asks every process to save a checkpoint at the end
# of its step and exit (guards.py); one blocked in a collective (its peer
# died) never gets there, so the poll loop below kills what is left after
# GRACE seconds (an interrupted save is harmless: Orbax commits atomically).
kill_at=
stop_all() {
  signal_all TERM
  local at=$((SECONDS + $1))
  if [ -z "$kill_at" ] || ((at < kill_at)); then kill_at=$at; fi
}
# Background processes of a script ignore the terminal's Ctrl-C until the
# training loop installs its handler, so pass Ctrl-C / SIGTERM on; a second
# one kills at once.
on_signal() { if [ -n "$kill_at" ]; then signal_all KILL; else stop_all 120; fi; }
trap on_signal INT TERM
# Never leave a process behind if this script itself dies.
trap 'signal_all KILL' EXIT

# Poll rather than `wait -n`: it tells which process ended.
status=0 alive=${#pids[@]}
ended=()
while ((alive > 0)); do
  for i in "${!pids[@]}"; do
    [ -n "${ended[$i]:-}" ] && continue
    kill -0 "${pids[$i]}" 2>/dev/null && continue
    ended[$i]=1 alive=$((alive - 1)) rc=0
    wait "${pids[$i]}" || rc=$?
    if ((rc != 0 && status == 0)); then
      status=$rc log=terminal
      if ((i > 0)); then log=$logs/process_$i.log; fi
      echo "local_multiprocess.sh: process $i exited with status $rc" \
           "(output: $log); stopping the others." >&2
      # Its peers would otherwise wait for it until JAX's timeout.
      stop_all 10
    fi
  done
  if [ -n "$kill_at" ] && ((SECONDS >= kill_at)); then signal_all KILL; fi
  if ((alive > 0)); then sleep 1; fi
done
exit "$status"
