"""The reset node's logic without ROS: the core reset controllers over the cell's streams.

A reset drives the TCP home with the core ``ScriptedReset`` through a :class:`BridgeEnv`
(so the move passes the ``SafetyLayer`` like every other command; an e-stop stops it: a
held move does not reach home and the service answers failure), then
puts the scene back: with ``human`` set, a ``HumanReset`` asks a person and waits (with a
deadline) for the continue press (the node's ``~/continue`` Trigger); otherwise the scene
is taken as it is. The reset node serves :meth:`CellReset.run` as the cell's std_srvs/Trigger
reset service.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from robot_rl.resets.human import HumanReset, HumanResetTimeout
from robot_rl.resets.scripted import ResetResult, ScriptedReset, ScriptedResetConfig
from robot_rl.ros_compat.assembler import ObservationAssembler
from robot_rl.ros_compat.bridge_env import BridgeEnv
from robot_rl.ros_compat.config import CellConfig
from robot_rl.ros_compat.messages import Float64
from robot_rl.safety.layer import SafetyLayer

HUMAN_MESSAGE = "put the scene back in its start state, then press continue"


def scripted_reset_config(cell: CellConfig) -> ScriptedResetConfig:
    """Home, step scale and step budget (``reset_settle_s`` at ``control_hz``) of the cell."""
    return ScriptedResetConfig(
        home=tuple(cell.home_position),
        action_scale_xyz=cell.action_scale_xyz,
        max_steps=max(1, math.ceil(cell.reset_settle_s * cell.control_hz)),
    )


class CellReset:
    """Scripted move home through the safety layer, then an optional human scene reset."""

    def __init__(
        self,
        cell: CellConfig,
        assembler: ObservationAssembler,
        *,
        publish: Callable[[object, Float64], None],
        human: HumanReset | None = None,
        safety: SafetyLayer | None = None,
        clock: Callable[[], float] = time.monotonic,
        stamp_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``publish(command, gripper)`` sends the cell's commands; ``human``: ask a person
        to reset the scene after the move (None: keep the scene)."""
        self.env = BridgeEnv(
            cell, assembler, publish=publish, request_reset=lambda: None, reward=None,
            safety=safety, clock=clock, stamp_clock=stamp_clock, sleep=sleep,
        )  # fmt: skip
        self.human = human
        self.scripted = ScriptedReset(scripted_reset_config(cell), randomise=self._scene)
        self._release_on_next_reset = False

    def estop(self, reason: str, *, until_next_reset: bool = False) -> None:
        """Latch the e-stop: a reset in progress holds and fails.

        ``until_next_reset``: the latch ends when the next reset is requested (the cell's
        e-stop topic: the actor requests resets only after its own e-stop was released);
        otherwise it stays until :meth:`release_estop`. A lasting latch is never shortened.
        """
        lasting = self.env.estopped and not self._release_on_next_reset
        self._release_on_next_reset = until_next_reset and not lasting
        self.env.estop(reason)

    def release_estop(self) -> None:
        """Release the latch."""
        self._release_on_next_reset = False
        self.env.release_estop()

    def _scene(self, env: gym.Env) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if self.human is not None:
            self.human.request(HUMAN_MESSAGE)
            if not self.human.wait_for_continue():
                raise HumanResetTimeout(f"nobody pressed continue within {self.human.timeout_s} s")
        return env.reset()

    def run(self) -> ResetResult:
        """Move home and reset the scene (blocks); raises TimeoutError on missing data,
        RuntimeError while the e-stop is latched."""
        if self._release_on_next_reset:
            self.release_estop()
        obs, _info = self.env.reset()
        return self.scripted.run(self.env, obs)


def describe(result: ResetResult) -> tuple[bool, str]:
    """(success, message) of a reset for a std_srvs/Trigger response."""
    where = "reached home" if result.reached_home else "did not reach home"
    held = f", held {result.held_steps} steps (safety layer)" if result.held_steps else ""
    return result.reached_home, f"{where} in {result.steps} steps{held}"


__all__ = ["HUMAN_MESSAGE", "CellReset", "describe", "scripted_reset_config"]
