# robot_rl — the README's two commands are `make demo` and `make test`; each sets itself up.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp
# One OpenMP thread per process and passive waiting: actor and learner share 2 cores here,
# and spinning OpenMP workers made a state SAC update 50x slower (915 ms vs 18 ms).
export OMP_NUM_THREADS ?= 1
export OMP_WAIT_POLICY ?= PASSIVE
export MKL_NUM_THREADS ?= 1
# ROS 2 (the wheels scripts/setup.sh installs): Fast DDS, discovery kept on this host.
# Library paths need nothing here: ros-wheels-bootstrapper's .pth sets LD_LIBRARY_PATH.
export RMW_IMPLEMENTATION ?= rmw_fastrtps_cpp
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST

.PHONY: setup demo test test-slow test-repeat lint clean

$(STAMP): pyproject.toml constraints.txt scripts/setup.sh
	bash scripts/setup.sh

setup: $(STAMP)

## make demo: scripted demos in the twin, train pick-cube (actor + learner processes), eval + video
## make demo DASHBOARD=1: the same with the live web dashboard (its URL and token are printed)
demo: $(STAMP)
	$(PY) -m robot_rl.cli train configs/pick_cube_state.yaml $(if $(DASHBOARD),--dashboard) $(DEMO_ARGS)

## make test: lint, type check and the test suite (≤ 10 min on 2 cores)
test: $(STAMP) lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check robot_rl sim tests scripts
	$(VENV)/bin/ruff format --check robot_rl sim tests scripts
	$(VENV)/bin/mypy

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)

## make test-repeat: the tests that assert a learned figure, seeds 0..4 x MUJOCO_GL egl and osmesa; worst case per figure
test-repeat: $(STAMP)
	$(PY) scripts/test_repeat.py --seeds $(or $(SEEDS),5)

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
