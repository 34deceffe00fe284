#!/usr/bin/env bash
# One-time set-up of a fresh Debian machine with Python 3.11: system libraries for headless
# MuJoCo rendering (when missing and possible), the .venv, and pinned Python dependencies.
# Idempotent: `make` re-runs it only when pyproject.toml, constraints.txt or this file change.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else 1)'; then
  echo "robot_rl needs Python >= 3.11; found $("$PY" --version 2>&1). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi

# Headless rendering: EGL (preferred) or OSMesa; chromium for the dashboard's browser tests
# (driven by Playwright through /usr/bin/chromium; Playwright's own browser download is never
# used). ffmpeg comes inside imageio-ffmpeg's wheel. Install what is missing when we can.
DEB_PKGS=(libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6 chromium)
missing=()
for p in "${DEB_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian packages for headless rendering: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "WARNING: headless rendering libraries missing: ${missing[*]}" >&2
    echo "         run: sudo apt-get install -y ${missing[*]}" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
# torch first, pinned: any other version pulls a multi-GB CUDA build on this machine.
.venv/bin/python -m pip install -q -c constraints.txt torch==2.13.0 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
# gym-hil ships the Panda + Robotiq meshes/MJCF that the twin uses; its own Python deps
# (pygame, pynput, an older mujoco pin) are not needed because we never import its code.
.venv/bin/python -m pip install -q --no-deps gym-hil==0.1.14 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import torch, mujoco, zarr, robot_rl; print(f'robot_rl set-up ok: torch {torch.__version__}, mujoco {mujoco.__version__}, zarr {zarr.__version__}')"
touch .venv/.setup-stamp
