"""Human in the loop: who acts each step (InterventionMixer), run controls, a scripted person.

Semantics (docs/dashboard.md has the full table):

- While a person intervenes their action is executed and stored with ``intervened=True`` and
  ``source=human``.
- HIL-SERL (``hil_serl``): intervention transitions go to the online buffer and also to the
  demo buffer (``InterventionRouter``, called by the learner for each step).
- RLIF (``rlif``): the step at which a person takes over is labelled with ``rlif_penalty``
  (the intervention is the reward signal). Both modes can be on together.
- Handover either way is rate limited: the motion part of the executed action moves at most
  ``max_action_delta`` per step until it meets the new source's action.
- A teleop device that goes away releases the intervention and pauses the run.
- A non-finite chosen action (policy or device) is passed on for the safety layer to reject
  and hold, never kept in the mixer's state (the blend goes on from the hold), and labelled a
  policy step (``intervened=False``): the hold is nobody's intervention.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from robot_rl import keys
from robot_rl.teleop.device import TeleopDevice, twist_to_action

HUMAN = keys.SOURCE_CODE["human"]
POLICY = keys.SOURCE_CODE["policy"]


@dataclass
class HilConfig:
    """Intervention semantics."""

    hil_serl: bool = True
    """Intervention transitions also go to the demo buffer (HIL-SERL)."""
    rlif: bool = False
    """Label the takeover step with ``rlif_penalty`` (RLIF)."""
    rlif_penalty: float = -1.0
    """Reward of the step at which a person takes over."""
    rlif_task_reward: bool = False
    """RLIF: keep the env's task reward and add the penalty (False: penalty is the only reward)."""
    max_action_delta: float = 0.25
    """Largest change of any motion action component (of 1) per step after a handover."""

    def validate(self) -> None:
        """Raise ValueError naming the bad field."""
        if not 0.0 < self.max_action_delta <= 2.0:
            raise ValueError(
                f"hil.max_action_delta: expected in (0, 2], got {self.max_action_delta}"
            )


class HumanInput(NamedTuple):
    """What a person (or a scripted stand-in) wants this step."""

    action: np.ndarray | None
    """(A,) float32 in [-1, 1] when intervening."""
    intervene: bool
    connected: bool = True
    estop: bool = False
    """The person pressed the device's e-stop: the mixer latches the run's e-stop."""


class HumanSource(Protocol):
    """A person: a teleop device behind an adapter, or the scripted intervener."""

    def poll(self, obs: dict[str, np.ndarray], policy_action: np.ndarray) -> HumanInput: ...

    def reset(self) -> None: ...


class TeleopSource:
    """A TeleopDevice as a HumanSource (twist + gripper -> twin action)."""

    def __init__(self, device: TeleopDevice, action_dim: int) -> None:
        self.device = device
        self.action_dim = action_dim

    def poll(self, obs: dict[str, np.ndarray], policy_action: np.ndarray) -> HumanInput:
        """Poll the device once."""
        cmd = self.device.poll()
        if not cmd.connected:
            return HumanInput(None, False, connected=False)
        return HumanInput(twist_to_action(cmd, self.action_dim), cmd.intervene, estop=cmd.estop)

    def reset(self) -> None:
        """Devices keep no per-episode state."""


class RunControls:
    """Thread-safe run switches shared by the actor, the dashboard and the mixer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paused = False
        self._estopped = False
        self._reset = False
        self._takeover = False
        self.pause_reason = ""
        self._estop_links: list[tuple[Callable[[str], None], Callable[[], None]]] = []

    def link_estop(self, latch: Callable[[str], None], release: Callable[[], None]) -> None:
        """Pass this run's e-stop and its release on, e.g. to the safety layer's own latch, so
        the arm holds for every command source (reset controllers too), not only the actor."""
        self._estop_links.append((latch, release))

    def pause(self, reason: str = "paused") -> None:
        """Stop stepping after the current step (resume continues)."""
        with self._lock:
            self._paused, self.pause_reason = True, reason

    def resume(self) -> None:
        """Undo a pause (not an e-stop)."""
        with self._lock:
            self._paused, self.pause_reason = False, ""

    def estop(self) -> None:
        """Latched stop: only ``release_estop`` lets the run go on."""
        with self._lock:
            self._estopped = True
        for latch, _release in self._estop_links:
            latch("operator e-stop")

    def release_estop(self) -> None:
        """Explicit release of the e-stop latch."""
        for _latch, release in self._estop_links:
            release()
        with self._lock:
            self._estopped = False

    def request_reset(self) -> None:
        """End the current episode and reset the scene at the next step boundary."""
        with self._lock:
            self._reset = True

    def take_reset(self) -> bool:
        """True once per reset request."""
        with self._lock:
            requested, self._reset = self._reset, False
            return requested

    def set_takeover(self, on: bool) -> None:
        """Dashboard take over (True) / hand back (False)."""
        with self._lock:
            self._takeover = on

    @property
    def reset_pending(self) -> bool:
        """A reset was requested and the actor has not taken it yet."""
        return self._reset

    @property
    def takeover(self) -> bool:
        """A person took over from the dashboard."""
        return self._takeover

    @property
    def paused(self) -> bool:
        """Paused (by a person or a lost device)."""
        return self._paused

    @property
    def estopped(self) -> bool:
        """E-stop latched."""
        return self._estopped

    @property
    def halted(self) -> bool:
        """The actor must not step: paused or e-stopped."""
        with self._lock:
            return self._paused or self._estopped


class InterventionMixer:
    """Chooses the executed action each step and labels it (see the module docstring)."""

    def __init__(
        self,
        action_dim: int,
        *,
        config: HilConfig | None = None,
        source: HumanSource | None = None,
        controls: RunControls | None = None,
    ) -> None:
        self.config = config or HilConfig()
        self.config.validate()
        self.action_dim = action_dim
        self.source = source
        self.controls = controls
        self.intervening = False
        self.takeover_step = False  # the last mixed step is a takeover (RLIF label)
        self.device_lost = False
        self._prev: np.ndarray | None = None  # (A,) executed action of the last step, finite
        self._blending = False
        self.nonfinite_steps = 0  # steps whose chosen action had a NaN/inf (run total)

    def mix(
        self, obs: dict[str, np.ndarray], policy_action: np.ndarray
    ) -> tuple[np.ndarray, bool, int]:
        """(executed action, intervened, source code) for this step."""
        human = HumanInput(None, False)
        if self.source is not None:
            human = self.source.poll(obs, policy_action)
        if human.estop:
            if self.controls is None:
                raise RuntimeError("teleop e-stop pressed, but the mixer has no RunControls")
            if not self.controls.estopped:
                self.controls.estop()  # latched: the safety layer holds until a release
        if not human.connected and not self.device_lost and self.controls is not None:
            self.controls.pause("teleop device lost")
        self.device_lost = not human.connected  # a device that comes back may be lost again
        forced = self.controls is not None and self.controls.takeover
        wants = human.connected and (human.intervene or forced)
        if forced and human.connected and human.action is None:
            hold = np.zeros(self.action_dim, np.float32)
            hold[-1] = policy_action[-1] if self._prev is None else self._prev[-1]
            human = HumanInput(hold, True)
        intervened = bool(wants and human.action is not None)
        target = human.action if intervened and human.action is not None else policy_action
        target = np.asarray(target, dtype=np.float32)
        if not np.all(np.isfinite(target)):
            return self._nonfinite(target)
        if intervened != self.intervening:
            self._blending = self._prev is not None
        self.takeover_step = intervened and not self.intervening
        self.intervening = intervened
        action = self._limit(target)
        self._prev = action
        return action, intervened, HUMAN if intervened else POLICY

    def _nonfinite(self, target: np.ndarray) -> tuple[np.ndarray, bool, int]:
        """A NaN/inf target (a broken policy or device): pass it on for the safety layer to
        reject and hold, but keep it out of the mixer's state. The blend goes on from the hold
        (zero motion, the last gripper command), who-acts and the takeover label stay as they
        were, and the step is labelled a policy step: the layer's hold is nobody's
        intervention, so it is never routed into the demo buffer."""
        self.nonfinite_steps += 1
        self.takeover_step = False
        if self._prev is not None:
            hold = np.zeros_like(self._prev)
            hold[-1] = self._prev[-1]
            self._prev = hold
        return target.copy(), False, POLICY

    def _limit(self, target: np.ndarray) -> np.ndarray:
        """Rate-limit the motion components after a handover; the gripper is absolute."""
        if not self._blending or self._prev is None:
            return target.copy()
        step = self.config.max_action_delta
        action = target.copy()
        motion = slice(0, self.action_dim - 1)
        action[motion] = self._prev[motion] + np.clip(
            target[motion] - self._prev[motion], -step, step
        )
        if np.allclose(action[motion], target[motion]):
            self._blending = False
        return action

    def reward(self, reward: float, intervened: bool, source: int) -> float:
        """RLIF relabelling of the env reward of the step just mixed."""
        if not self.config.rlif:
            return reward
        base = reward if self.config.rlif_task_reward else 0.0
        return base + self.config.rlif_penalty if self.takeover_step else base

    def reset(self) -> None:
        """New episode: the first step is never blended with the last episode's action."""
        self._prev = None
        self._blending = False
        self.intervening = False
        self.takeover_step = False
        if self.source is not None:
            self.source.reset()


class InterventionRouter:
    """HIL-SERL: copies intervention transitions into the demo buffer as they stream in.

    Call ``route(step, stream=...)`` for every Step of one actor (``stream``), in order, after
    the online buffer took it; several actors' steps may interleave. Each run of consecutive
    intervened steps becomes one demo-buffer episode starting from the observation before its
    first step.
    """

    MAX_STREAMS = 64  # actors tracked at once; the longest silent one is forgotten beyond

    def __init__(self, demo_buffer: Any, *, enabled: bool = True) -> None:
        self.demo = demo_buffer
        self.enabled = enabled
        # stream -> (observation before the next step, whether a demo episode is open)
        self._state: OrderedDict[Hashable, tuple[dict[str, np.ndarray] | None, bool]] = (
            OrderedDict()
        )
        self.routed = 0

    def route(self, step: Any, *, stream: Hashable = None) -> bool:
        """Add ``step`` to the demo buffer when it is an intervention; True when added."""
        last_obs, is_open = self._state.pop(stream, (None, False))
        if step.t == 0:
            last_obs, is_open = step.first_obs, False
        added = False
        demo_stream = ("intervention", stream)
        if self.enabled and step.intervened and last_obs is not None:
            if not is_open or not self.demo.has_open_episode(demo_stream):
                self.demo.start_episode(last_obs, stream=demo_stream)
                is_open = True
            self.demo.add_step(
                step.action,
                step.reward,
                step.next_obs,
                step.terminated,
                step.truncated,
                intervened=True,
                source=step.source,
                stream=demo_stream,
            )
            self.routed += 1
            added = True
        else:
            is_open = False
        if step.terminated or step.truncated:
            is_open = False
        self._state[stream] = (step.next_obs, is_open)
        while len(self._state) > self.MAX_STREAMS:
            self._state.popitem(last=False)
        return added


@dataclass
class ScriptedIntervenerConfig:
    """The oracle person of the twin: when it takes over, for how long, how often."""

    away_steps: int = 5
    """Take over after the TCP moved away from the cube for this many steps in a row."""
    stuck_steps: int = 15
    """... or moved less than ``stuck_distance`` over this many steps (not holding the cube)."""
    stuck_distance: float = 0.01
    """m of TCP travel below which the policy counts as stuck."""
    delay_steps: int = 2
    """Reaction delay (steps) between noticing and taking over."""
    takeover_steps: int = 20
    """Steps the expert acts before handing back."""
    rate: float = 1.0
    """Probability of reacting to each off-track event (a less attentive person < 1)."""
    max_per_episode: int = 3
    """Most interventions per episode."""


class ScriptedIntervener:
    """HumanSource for the twin driven by ground truth and the scripted expert.

    It takes over when the policy is off track: moving away from its goal (the cube; on peg
    insertion, the peg tip from the hole) or stuck, before it is engaged (grasped; inserted),
    and hands back after ``takeover_steps``. The expert replans from the scene it takes over.
    """

    def __init__(
        self,
        env: Any,
        *,
        config: ScriptedIntervenerConfig | None = None,
        noise_std: float = 0.0,
        seed: int = 0,
        expert_factory: Callable[..., Any] | None = None,
    ) -> None:
        if expert_factory is None:
            from robot_rl_sim import ScriptedExpert
            from robot_rl_sim.peg import PegExpert, PegInsertEnv

            expert_factory = PegExpert if isinstance(env, PegInsertEnv) else ScriptedExpert
        self.env = env
        self.config = config or ScriptedIntervenerConfig()
        self.expert = expert_factory(env, noise_std=noise_std, seed=seed)
        self._rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        """Start a new episode."""
        self._dist: list[float] = []
        self._tcp: list[np.ndarray] = []
        self._away = 0
        self._countdown = -1  # steps until taking over (reaction delay); -1 = none pending
        self._acting = 0
        self.interventions = 0
        self.expert.reset()

    @staticmethod
    def _progress(gt: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, bool]:
        """(what moves, where it must go, engaged) from the twin's ground truth: the TCP and
        the cube (engaged: grasped) for the pick tasks, the peg tip and the hole (engaged:
        inserted) for peg insertion."""
        if "hole_pos" in gt:
            return np.asarray(gt["peg_tip"]), np.asarray(gt["hole_pos"]), gt["insertion"] > 0
        return np.asarray(gt["tcp_pos"]), np.asarray(gt["cube_pos"]), bool(gt["grasped"])

    def _off_track(self, gt: dict[str, Any]) -> bool:
        c = self.config
        tcp, goal, engaged = self._progress(gt)
        dist = float(np.linalg.norm(tcp - goal))
        self._away = self._away + 1 if self._dist and dist > self._dist[-1] + 1e-4 else 0
        self._dist.append(dist)
        self._tcp.append(tcp)
        if self._away >= c.away_steps and not engaged:
            return True
        if len(self._tcp) > c.stuck_steps and not engaged:
            travel = float(np.linalg.norm(self._tcp[-1] - self._tcp[-1 - c.stuck_steps]))
            return travel < c.stuck_distance
        return False

    def poll(self, obs: dict[str, np.ndarray], policy_action: np.ndarray) -> HumanInput:
        """Take over when off track (after the delay), act for takeover_steps, hand back."""
        c = self.config
        gt = self.env.ground_truth()
        if self._acting > 0:
            self._acting -= 1
            return HumanInput(self.expert.act(), True)
        off = self._off_track(gt)
        can_react = self._countdown < 0 and off and self.interventions < c.max_per_episode
        if can_react and self._rng.random() < c.rate:
            self._countdown = c.delay_steps
        if self._countdown == 0:
            self._countdown = -1
            self.interventions += 1
            self._acting = c.takeover_steps - 1
            self._away = 0
            self._tcp.clear()
            self.expert.reset()  # plan from the current scene, not a stale phase
            return HumanInput(self.expert.act(), True)
        if self._countdown > 0:
            self._countdown -= 1
        return HumanInput(None, False)
