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
# ROS 2 Jazzy from the Python registry (cp311 wheels): rclpy, the message packages the nodes
# use and Fast DDS, so the nodes in ros_ws run as real processes here (tests/ros_nodes).
# Optional but on by default: ROBOT_RL_ROS=0 skips it; a failed install only warns, and the
# ROS process tests then skip. ros-wheels-bootstrapper's .pth re-executes the venv's python
# once with LD_LIBRARY_PATH set to the wheels' libraries, so no environment set-up is needed.
# robot_rl_ros (the nodes) is importable from the source tree through a .pth file; its ament
# package is also named robot_rl, so `pip install -e` of it would replace the core.
ROS_WHEELS=(ros-jazzy-rclpy ros-jazzy-std-msgs ros-jazzy-sensor-msgs ros-jazzy-geometry-msgs
  ros-jazzy-std-srvs ros-jazzy-rmw-fastrtps-cpp)
SITE=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [ "${ROBOT_RL_ROS:-1}" != 0 ]; then
  if .venv/bin/python -m pip install -q -c constraints.txt "${ROS_WHEELS[@]}" 2>&1 | grep -v "^WARNING: Location"; [ "${PIPESTATUS[0]}" = 0 ]; then
    echo "$PWD/ros_ws/src/robot_rl" > "$SITE/robot_rl_ros_source.pth"
    RMW_IMPLEMENTATION=rmw_fastrtps_cpp .venv/bin/python -c "import rclpy, robot_rl_ros, sensor_msgs.msg, std_srvs.srv; print('ROS 2 Jazzy rclpy ok')"
  else
    echo "WARNING: the ROS 2 wheels did not install; the ROS process tests will skip" >&2
  fi
fi
.venv/bin/python -c "import torch, mujoco, zarr, robot_rl; print(f'robot_rl set-up ok: torch {torch.__version__}, mujoco {mujoco.__version__}, zarr {zarr.__version__}')"
touch .venv/.setup-stamp
