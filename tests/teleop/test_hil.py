"""InterventionMixer semantics (HIL-SERL, RLIF, both), handover, device loss, twin oracle."""

from __future__ import annotations

import os

import numpy as np
import pytest

from robot_rl import keys
from robot_rl.data.replay import ReplayBuffer
from robot_rl.hil import (
    HilConfig,
    HumanInput,
    InterventionMixer,
    InterventionRouter,
    RunControls,
    ScriptedIntervener,
    ScriptedIntervenerConfig,
    TeleopSource,
)
from robot_rl.teleop import TeleopConfig
from robot_rl.wire.protocol import Step

HUMAN, POLICY = keys.SOURCE_CODE["human"], keys.SOURCE_CODE["policy"]
SPEC = {"state": ((3,), np.dtype(np.float32))}


class Script:
    """A person following a script: per step (intervene, action) or 'lost'."""

    def __init__(self, plan: list) -> None:
        self.plan = list(plan)

    def poll(self, obs: dict, policy_action: np.ndarray) -> HumanInput:
        entry = self.plan.pop(0) if self.plan else None
        if entry == "lost":
            return HumanInput(None, False, connected=False)
        if entry is None:
            return HumanInput(None, False)
        return HumanInput(np.asarray(entry, np.float32), True)

    def reset(self) -> None:
        pass


def run_mixer(mixer: InterventionMixer, steps: int, *, task_reward: float = 0.0) -> list[Step]:
    """Mix `steps` steps of a constant policy action and build the Steps the actor would send."""
    obs = {"state": np.zeros(3, np.float32)}
    out = []
    for t in range(steps):
        action, intervened, source = mixer.mix(obs, np.array([0.0, 0.0, 0.0, -1.0], np.float32))
        reward = mixer.reward(task_reward, intervened, source)
        nxt = {"state": np.full(3, t + 1, np.float32)}
        out.append(
            Step(
                episode_id=0,
                t=t,
                first_obs=obs if t == 0 else None,
                action=action,
                reward=reward,
                next_obs=nxt,
                terminated=False,
                truncated=t == steps - 1,
                intervened=intervened,
                source=source,
                timestamp=float(t),
            )
        )
        obs = nxt
    return out


HUMAN_ACT = [0.1, 0.0, 0.0, 1.0]
PLAN = [None, None, HUMAN_ACT, HUMAN_ACT, HUMAN_ACT, None, None, HUMAN_ACT, None]


@pytest.mark.parametrize(
    ("hil_serl", "rlif"),
    [(True, False), (False, True), (True, True)],
    ids=["hilserl", "rlif", "both"],
)
def test_modes_route_and_reward(hil_serl: bool, rlif: bool) -> None:
    mixer = InterventionMixer(
        4, config=HilConfig(hil_serl=hil_serl, rlif=rlif, rlif_penalty=-1.0), source=Script(PLAN)
    )
    steps = run_mixer(mixer, len(PLAN))
    intervened = [s.intervened for s in steps]
    assert intervened == [p is not None for p in PLAN]
    assert all(s.source == (HUMAN if s.intervened else POLICY) for s in steps)
    np.testing.assert_allclose(steps[3].action, HUMAN_ACT)  # the person's action is executed
    rewards = [s.reward for s in steps]
    if rlif:  # penalty exactly at the two takeover steps (t=2 and t=7)
        assert rewards == [0, 0, -1, 0, 0, 0, 0, -1, 0]
    else:
        assert rewards == [0.0] * len(PLAN)
    online = ReplayBuffer(SPEC, 4, 100)
    demo = ReplayBuffer(SPEC, 4, 100)
    router = InterventionRouter(demo, enabled=mixer.config.hil_serl)
    for s in steps:  # what the learner does per step (online always; demo when HIL-SERL)
        if s.t == 0:
            online.start_episode(s.first_obs)
        online.add_step(
            s.action,
            s.reward,
            s.next_obs,
            s.terminated,
            s.truncated,
            intervened=s.intervened,
            source=s.source,
        )
        router.route(s)
    assert len(online) == len(PLAN)
    assert len(demo) == (4 if hil_serl else 0)
    if hil_serl:
        rows = np.flatnonzero(demo.valid)
        assert np.all(demo.intervened[rows]) and np.all(demo.sources[rows] == HUMAN)
        # the first routed transition starts from the observation before the takeover (t=2)
        assert sorted(float(demo.obs["state"][r][0]) for r in rows) == [2.0, 3.0, 4.0, 7.0]


def test_rlif_can_keep_the_task_reward() -> None:
    mixer = InterventionMixer(
        4,
        config=HilConfig(rlif=True, rlif_task_reward=True, rlif_penalty=-0.5),
        source=Script([None, HUMAN_ACT]),
    )
    assert [s.reward for s in run_mixer(mixer, 2, task_reward=1.0)] == [1.0, 0.5]


def test_handover_is_rate_limited_both_ways() -> None:
    big = [1.0, -1.0, 1.0, 1.0]
    mixer = InterventionMixer(
        4, config=HilConfig(max_action_delta=0.25), source=Script([None] + [big] * 6 + [None] * 6)
    )
    actions = np.stack([s.action for s in run_mixer(mixer, 13)])
    assert np.max(np.abs(np.diff(actions[:, :3], axis=0))) <= 0.25 + 1e-6
    np.testing.assert_allclose(actions[5], big)  # reached the person's command
    np.testing.assert_allclose(actions[-1, :3], 0.0)  # and back to the policy's


def test_lost_device_releases_and_pauses() -> None:
    controls = RunControls()
    mixer = InterventionMixer(4, source=Script([HUMAN_ACT, "lost", "lost"]), controls=controls)
    steps = run_mixer(mixer, 2)
    assert steps[0].intervened and not steps[1].intervened
    assert controls.paused and controls.pause_reason == "teleop device lost"
    assert np.max(np.abs(steps[1].action[:3] - steps[0].action[:3])) <= 0.25 + 1e-6


def test_a_device_lost_again_after_coming_back_pauses_again() -> None:
    controls = RunControls()
    plan = ["lost", HUMAN_ACT, "lost"]
    mixer = InterventionMixer(4, source=Script(plan), controls=controls)
    run_mixer(mixer, 1)
    assert controls.paused
    controls.resume()
    run_mixer(mixer, 1)  # back
    assert not controls.paused
    run_mixer(mixer, 1)  # gone again
    assert controls.paused and controls.pause_reason == "teleop device lost"


def test_dashboard_takeover_without_device_holds_still() -> None:
    controls = RunControls()
    mixer = InterventionMixer(4, controls=controls)
    controls.set_takeover(True)
    action, intervened, source = mixer.mix({}, np.array([0.5, 0, 0, 1.0], np.float32))
    assert intervened and source == HUMAN and np.allclose(action, [0, 0, 0, 1.0])


def test_scripted_intervener_takes_over_and_hands_back() -> None:
    from robot_rl_sim import TwinConfig, make_env

    env = make_env(TwinConfig(obs_mode="state", max_episode_steps=60), seed=0)
    config = ScriptedIntervenerConfig(
        away_steps=3, delay_steps=2, takeover_steps=8, max_per_episode=2
    )
    person = ScriptedIntervener(env, config=config, seed=0)
    mixer = InterventionMixer(4, config=HilConfig(rlif=True), source=person)
    obs, _ = env.reset(seed=0)
    away = np.array([0.0, 0.0, 1.0, -1.0], np.float32)  # a policy that flies off upwards
    flags = []
    for _ in range(40):
        action, intervened, _src = mixer.mix(obs, away)
        obs, *_ = env.step(action)
        flags.append(intervened)
    first = flags.index(True)
    assert first == config.away_steps + config.delay_steps  # noticed, then the reaction delay
    assert flags[first : first + 8] == [True] * 8 and not flags[first + 8]  # handed back
    assert person.interventions == 2  # capped by max_per_episode
    env.close()


def test_scripted_intervener_on_peg_insertion_rescues_a_peg_pushed_down_off_the_hole() -> None:
    """On peg_insert it watches the peg tip against the hole (not a cube) and takes over
    with the peg expert, which replans from where the peg is: lift, line up, insert."""
    from dataclasses import replace

    from robot_rl_sim.tasks import get_task

    task = get_task("peg_insert")
    env = task.make_env(replace(task.env, obs_mode="state"), seed=0)
    outcomes: dict[bool, list[bool]] = {}
    for helped in (False, True):
        rng = np.random.default_rng(0)
        person = ScriptedIntervener(env, seed=0)
        outcomes[helped] = []
        for episode in range(10):
            obs, _ = env.reset(seed=100 + episode)
            person.reset()
            done, info = False, {}
            while not done:
                action = np.clip(rng.normal(0.0, 0.3, 7), -1, 1).astype(np.float32)
                action[2] = -0.3  # down onto the board wherever the peg is
                if helped:
                    person_input = person.poll(obs, action)
                    if person_input.intervene and person_input.action is not None:
                        action = person_input.action
                obs, _r, terminated, truncated, info = env.step(action)
                done = terminated or truncated
            outcomes[helped].append(bool(info["success"]))
            assert person.interventions >= (1 if helped else 0)
    env.close()
    assert sum(outcomes[False]) <= 1  # pushed down at random, the peg rarely goes in
    assert sum(outcomes[True]) >= 6  # measured 9 of 10 (one rescued twice and still out)


def test_run_estop_latches_the_safety_layer_until_released() -> None:
    from robot_rl.safety.config import SafetyConfig
    from robot_rl.safety.layer import SafetyLayer

    layer = SafetyLayer(SafetyConfig())
    controls = RunControls()
    controls.link_estop(layer.estop, layer.release)
    controls.estop()
    assert controls.halted and layer.estopped == "operator e-stop"
    controls.resume()  # a resume is no release
    assert controls.halted and layer.estopped == "operator e-stop"
    controls.release_estop()
    assert not controls.halted and layer.estopped is None


def test_a_teleop_estop_button_latches_the_run_and_the_safety_layer() -> None:
    from robot_rl.safety.config import SafetyConfig
    from robot_rl.safety.layer import SafetyLayer
    from robot_rl.teleop.keyboard import Keyboard

    layer = SafetyLayer(SafetyConfig())
    controls = RunControls()
    controls.link_estop(layer.estop, layer.release)
    read_fd, write_fd = os.pipe()
    keyboard = Keyboard(TeleopConfig(deadzone=0.0), fd=read_fd)
    mixer = InterventionMixer(4, source=TeleopSource(keyboard, 4), controls=controls)
    obs, policy = {"state": np.zeros(3, np.float32)}, np.full(4, 0.5, np.float32)
    mixer.mix(obs, policy)
    assert not controls.estopped and layer.estopped is None
    os.write(write_fd, b"x")  # the person hits the e-stop key
    mixer.mix(obs, policy)
    assert controls.halted and layer.estopped == "operator e-stop"
    mixer.mix(obs, policy)  # the key is not held: the latch stays
    assert controls.estopped and layer.estopped == "operator e-stop"
    controls.release_estop()
    assert not controls.halted and layer.estopped is None
    os.close(write_fd)
    keyboard.close()


NAN_ACT = [np.nan, 0.0, 0.0, np.nan]


def test_one_nan_policy_action_before_a_takeover_does_not_latch_the_blend() -> None:
    big = [1.0, -1.0, 1.0, 1.0]
    policy = [np.array([0.5, 0.0, 0.0, -1.0], np.float32), np.full(4, np.nan, np.float32)]
    policy += [np.zeros(4, np.float32)] * 8
    mixer = InterventionMixer(
        4, config=HilConfig(max_action_delta=0.25), source=Script([None, None] + [big] * 8)
    )
    mixed = [mixer.mix({}, a) for a in policy]
    assert np.all(np.isnan(mixed[1][0][[0, 3]]))  # passed on for the safety layer to reject
    assert mixed[1][1:] == (False, POLICY)  # the layer's hold is nobody's intervention
    actions = np.stack([m[0] for m in mixed[2:]])
    assert np.all(np.isfinite(actions)) and all(m[1] and m[2] == HUMAN for m in mixed[2:])
    # the blend goes on from the hold (zero motion), rate limited, and meets the person
    np.testing.assert_allclose(actions[0, :3], [0.25, -0.25, 0.25])
    np.testing.assert_allclose(actions[3], big)
    assert mixer.nonfinite_steps == 1 and mixer.takeover_step is False


def test_a_nan_device_action_is_held_and_never_routed_as_a_demo() -> None:
    plan = [None, HUMAN_ACT, NAN_ACT, HUMAN_ACT, None]
    mixer = InterventionMixer(4, config=HilConfig(rlif=True), source=Script(plan))
    steps = run_mixer(mixer, len(plan))
    assert [s.intervened for s in steps] == [False, True, False, True, False]
    assert [s.reward for s in steps] == [0, -1, 0, 0, 0]  # one takeover, not two
    np.testing.assert_allclose(steps[3].action, HUMAN_ACT)
    demo = ReplayBuffer(SPEC, 4, 100)
    router = InterventionRouter(demo)
    for s in steps:
        router.route(s)
    assert router.routed == 2 and mixer.nonfinite_steps == 1
