#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine: the offline Fashion-MNIST
# package, a virtual environment in .venv, and the pinned stack
# (constraints.txt). Re-running it only reinstalls when setup.cfg or
# constraints.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_packages=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] ||
  apt_packages+=(dataset-fashion-mnist)
command -v python3 >/dev/null || apt_packages+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_packages+=(python3-venv)
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${apt_packages[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq "${apt_packages[@]}"
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
  sys.exit(f'ssl_jax needs Python >= 3.11, found {sys.version.split()[0]}.')
PY

# Extras to install (setup.cfg): `dev` (tests) by default; launch/test.sh
# adds `tpu` (libtpu, for compiling TPU programs on this machine) and
# `export` (torch, timm: the exported backbones' tests).
extras=${SSL_JAX_EXTRAS:-dev}
stamp=$(cat setup.cfg constraints.txt pyproject.toml | sha256sum | cut -c1-16)
installed=$(cat .venv/.ssl_jax_extras 2>/dev/null || true)
missing=""
for extra in ${extras//,/ }; do
  case ",$installed," in *",$extra,"*) ;; *) missing="$missing $extra";; esac
done
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.ssl_jax_stamp 2>/dev/null)" != "$stamp" ] || [ -n "$missing" ]; then
  [ "$(cat .venv/.ssl_jax_stamp 2>/dev/null)" = "$stamp" ] && [ -n "$installed" ] &&
    extras="$installed,$extras"  # Keep what is there, add what is missing.
  echo "Creating .venv and installing ssl_jax[$extras] with its pinned stack..."
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[$extras]"
  echo "$stamp" > .venv/.ssl_jax_stamp
  echo "$extras" > .venv/.ssl_jax_extras
fi
