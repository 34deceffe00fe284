"""The fault-injection suite on the twin: what the safety layer does when things go wrong.

Each scenario runs the scripted pick-cube expert through ``SafetyWrapper(FaultInjector(twin))``,
injects one fault mid-motion (step ``ONSET``) and records, per control step, whether the
command was held and where the arm (ground truth) went. ``command_violations`` checks every
command against the limits independently of the layer's own code; the benchmark and the
tests report its count. Used by ``scripts/bench/safety.py`` and ``tests/safety``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from robot_rl.safety.config import SafetyConfig, safety_config_for_twin
from robot_rl.safety.faults import JOINTS, FaultInjector
from robot_rl.safety.layer import RobotState, SafeCommand, SafetyLayer
from robot_rl.safety.wrapper import SafetyWrapper

ONSET = 4  # control steps of normal motion before the fault (the arm is moving then)
RUN_STEPS = 25  # control steps after the onset
EPS = 1e-5  # float32 slack on limits (action units / m)


def command_violations(
    config: SafetyConfig, state: RobotState, prev_gripper: float, command: SafeCommand
) -> list[str]:
    """Limits the command breaks (empty when none); reference = the reported TCP."""
    a = np.asarray(command.action, dtype=np.float64)
    if a.shape != (config.action_dim,) or not np.all(np.isfinite(a)):
        return ["not_finite_or_shape"]
    out = []
    if np.any(np.abs(a) > 1.0 + EPS):
        out.append("range")
    delta = a[:3] * config.action_scale_xyz
    if np.linalg.norm(delta) > config.step_limit_xyz + EPS:
        out.append("step_xyz")
    if (
        config.rotation
        and np.linalg.norm(a[3:6] * config.action_scale_rot) > config.max_step_rot + EPS
    ):
        out.append("step_rot")
    pos = np.asarray(state.tcp_pos, dtype=np.float64)
    low, high = np.asarray(config.workspace_low), np.asarray(config.workspace_high)
    if np.all(np.isfinite(pos)):
        inside = np.all(pos >= low - EPS) and np.all(pos <= high + EPS)
        nxt = pos + delta
        if inside and (np.any(nxt < low - EPS) or np.any(nxt > high + EPS)):
            out.append("workspace")
        gap = lambda p: np.linalg.norm(np.maximum(low - p, 0) + np.maximum(p - high, 0))  # noqa: E731
        if not inside and gap(nxt) > gap(pos) + EPS:
            out.append("workspace")
    if abs(a[-1] - prev_gripper) > config.max_gripper_step + EPS:
        out.append("gripper_rate")
    if command.held and (np.any(a[:-1] != 0.0) or abs(a[-1] - prev_gripper) > EPS):
        out.append("hold_moved")
    return out


@dataclass
class FaultResult:
    """What the arm did in one scenario."""

    fault: str
    reaction: str
    steps_to_hold: int | None
    """Control steps from the first step whose input is faulty to the first held command
    (0 = that same step; a frozen stream's data are faulty from the first stale sample)."""
    max_drift_m: float
    """Largest TCP displacement (m, ground truth) while held, from where the TCP was when each
    hold's first command was sent: the stopping distance (the twin's target leads by <= a step)."""
    held_steps: int
    episode_ended: bool
    violations: int
    resumed: bool
    """Whether the arm moved again after the fault cleared (where the scenario clears it)."""
    events: list[str] = field(default_factory=list)


Injector = Callable[[int, FaultInjector, SafetyLayer], None]


def _scenario(name: str) -> tuple[Injector, Callable[[int, np.ndarray], np.ndarray], str]:
    """(inject(step, faults, layer), corrupt(step, action), reaction text) of a fault."""

    def keep(step: int, act: np.ndarray) -> np.ndarray:
        return act

    def none(step: int, faults: FaultInjector, layer: SafetyLayer) -> None:
        return None

    if name == "frozen_camera":
        return (
            (lambda s, f, lay: f.freeze("front") if s == 0 else None),
            keep,
            ("hold when the front frame is older than its deadline; episode ends at stale_timeout"),
        )
    if name == "frozen_joints":
        return (
            (lambda s, f, lay: f.freeze(JOINTS) if s == 0 else None),
            keep,
            ("hold when joint states are older than their deadline; episode ends at stale_timeout"),
        )
    if name == "nan_policy":
        return (
            none,
            (lambda s, a: np.full_like(a, np.nan) if s < 10 else a),
            ("NaN actions rejected, hold; resumes with the first finite action"),
        )
    if name == "out_of_range_action":
        return (
            none,
            (lambda s, a: a * 50.0 if s < 10 else a),
            ("actions beyond [-1, 1] rejected, hold; resumes with the first valid action"),
        )
    if name == "pose_jump":

        def jump(s: int, f: FaultInjector, lay: SafetyLayer) -> None:
            if s == 0:
                f.set_pose_offset([0.0, 0.12, 0.0])
            elif s == 5:
                f.set_pose_offset([0.0, 0.0, 0.0])

        return jump, keep, "hold on a TCP jump, until the pose is consistent for pose_settle_steps"
    if name == "estop_mid_motion":

        def estop(s: int, f: FaultInjector, lay: SafetyLayer) -> None:
            if s == 0:
                lay.estop("fault suite")
            elif s == 10:
                lay.release()

        return estop, keep, "hold from the e-stop until the explicit release"
    if name == "workspace_push":
        return (
            none,
            (lambda s, a: np.array([0.0, 0.0, -1.0, a[-1]], np.float32)),
            ("commands clipped at the workspace floor; no hold"),
        )
    raise KeyError(f"fault: unknown fault {name!r} (known: {', '.join(FAULTS)})")


OBSERVATION_FAULTS = ("frozen_camera", "frozen_joints", "pose_jump")
FAULTS: tuple[str, ...] = (
    "frozen_camera",
    "frozen_joints",
    "nan_policy",
    "out_of_range_action",
    "pose_jump",
    "estop_mid_motion",
    "workspace_push",
)


def run_fault(name: str, *, seed: int = 0) -> FaultResult:
    """Run one scenario of ``FAULTS`` on the state twin and report what the arm did."""
    from robot_rl_sim import ScriptedExpert, TwinConfig, make_env

    inject, corrupt, reaction = _scenario(name)
    delay = 1 if name in OBSERVATION_FAULTS else 0  # injected now, seen in the next obs
    twin = make_env(TwinConfig(max_episode_steps=200), seed=seed)
    config = safety_config_for_twin(twin.config, stream_deadlines={JOINTS: 0.25, "front": 0.25})
    layer = SafetyLayer(config)
    faults = FaultInjector(twin, control_hz=config.control_hz, streams=("front",))
    env = SafetyWrapper(faults, layer, clock=faults.now, streams=faults.stream_times)
    expert = ScriptedExpert(twin)
    obs, _ = env.reset()
    expert.reset()
    for _ in range(ONSET):
        obs, *_ = env.step(expert.act())
    first_hold: int | None = None
    hold_pos: np.ndarray | None = None
    drift = 0.0
    held_steps = violations = 0
    ended = resumed = False
    events: set[str] = set()
    prev_gripper = layer._gripper
    last_held = False
    for step in range(RUN_STEPS):
        inject(step, faults, layer)
        state = RobotState.from_twin_state(obs["state"], faults.stream_times())
        tcp_before = np.asarray(twin.ground_truth()["tcp_pos"])
        action = corrupt(step, expert.act())
        obs, _, term, trunc, info = env.step(action)
        command = env.last_command
        assert command is not None
        violations += len(command_violations(config, state, prev_gripper, command))
        prev_gripper = float(command.action[-1])
        events.update(command.events)
        tcp = np.asarray(twin.ground_truth()["tcp_pos"])
        if command.held:
            held_steps += 1
            if first_hold is None:
                first_hold = step - delay
            if not last_held:
                hold_pos = tcp_before  # stopping distance counts from the held command
            if hold_pos is not None:
                drift = max(drift, float(np.linalg.norm(tcp - hold_pos)))
        elif last_held:
            resumed = True
        last_held = command.held
        if info["safety_end"]:
            ended = True
        if term or trunc:
            break
    twin.close()
    return FaultResult(
        name,
        reaction,
        first_hold,
        round(drift, 4),
        held_steps,
        ended,
        violations,
        resumed,
        sorted(events),
    )


__all__ = ["FAULTS", "FaultResult", "command_violations", "run_fault"]
