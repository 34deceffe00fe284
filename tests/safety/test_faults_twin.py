"""Fault injection on the twin: what the arm did (ground truth), not only what was sent."""

from __future__ import annotations

import numpy as np
import pytest
import robot_rl_sim  # noqa: F401  (chooses MUJOCO_GL before mujoco is imported)
from robot_rl_sim import ScriptedExpert, TwinConfig, make_env

from robot_rl.safety.config import safety_config_for_twin
from robot_rl.safety.fault_suite import FAULTS, run_fault
from robot_rl.safety.layer import SafetyLayer
from robot_rl.safety.wrapper import SafetyWrapper

STOP_DISTANCE = 0.04  # m: the twin's TCP target leads the arm by at most about one step


@pytest.mark.twin
@pytest.mark.parametrize("fault", FAULTS)
def test_fault_reactions(fault: str) -> None:
    r = run_fault(fault)
    assert r.violations == 0, r
    if fault == "workspace_push":
        assert r.steps_to_hold is None and "clip:box" in r.events
        return
    assert r.steps_to_hold is not None
    assert r.max_drift_m < STOP_DISTANCE, r  # the arm stopped where it was
    if fault.startswith("frozen"):
        assert r.steps_to_hold <= 3 and r.episode_ended  # deadline 0.25 s at 10 Hz
    else:
        assert r.steps_to_hold == 0 and r.resumed and not r.episode_ended


@pytest.mark.twin
def test_estop_mid_motion_keeps_the_arm_still_until_release() -> None:
    twin = make_env(TwinConfig(max_episode_steps=100), seed=1)
    layer = SafetyLayer(safety_config_for_twin(twin.config))
    env = SafetyWrapper(twin, layer)
    expert = ScriptedExpert(twin)
    env.reset()
    expert.reset()
    for _ in range(3):
        env.step(expert.act())
    layer.estop("teleop button")
    env.step(expert.act())  # the arm settles onto its last target
    still = twin.ground_truth()["tcp_pos"].copy()
    for _ in range(10):
        _, _, _, _, info = env.step(expert.act())
        assert info["safety_held"] and info["safety_events"] == "estop"
    assert np.linalg.norm(twin.ground_truth()["tcp_pos"] - still) < 0.01
    layer.release()
    success = False
    for _ in range(60):
        _, _, terminated, truncated, _ = env.step(expert.act())
        success = success or terminated
        if terminated or truncated:
            break
    assert success  # after the release the task goes on


@pytest.mark.twin
def test_scripted_expert_succeeds_through_the_layer() -> None:
    twin = make_env(TwinConfig(), seed=2)
    layer = SafetyLayer(safety_config_for_twin(twin.config))
    env = SafetyWrapper(twin, layer)
    expert = ScriptedExpert(twin)
    wins = 0
    for _ in range(5):
        env.reset()
        expert.reset()
        for _ in range(twin.config.max_episode_steps):
            _, _, terminated, truncated, info = env.step(expert.act())
            assert not info["safety_held"]
            if terminated or truncated:
                break
        wins += int(terminated)
    assert wins == 5
    assert layer.stats["held"] == 0 and layer.stats["commands"] > 0


def test_wrapper_rejects_a_mismatched_action_dim() -> None:
    twin = make_env(TwinConfig(), seed=0)
    config = safety_config_for_twin(TwinConfig(use_rotation=True))
    with pytest.raises(ValueError, match="action_dim"):
        SafetyWrapper(twin, SafetyLayer(config))
