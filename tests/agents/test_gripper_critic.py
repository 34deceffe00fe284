"""SAC's discrete gripper critic (HIL-SERL): TD target, learning, grasp penalty, checkpoints,
acting, config errors, and the replay buffer's previous action it needs."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from robot_rl import keys
from robot_rl.agents import SAC, EncoderConfig, Policy, SACConfig
from robot_rl.agents.gripper import CLOSE, OPEN, gripper_class, toggled
from robot_rl.app.build import make_env, make_policy
from robot_rl.app.launch import train
from robot_rl.config import ConfigError, from_dict
from robot_rl.data.episode import Episode
from robot_rl.data.replay import ReplayBuffer
from robot_rl.envs.spec import obs_spec_from_space
from robot_rl.run_config import RunConfig
from robot_rl.runtime.checkpoint import list_checkpoints, load_checkpoint, load_policy
from robot_rl.runtime.metrics import read_jsonl
from tests.tiny_run import tiny_run

STATE_SPEC = {"state": ((3,), np.dtype(np.float32))}
PIXEL_SPEC = {
    "state": ((3,), np.dtype(np.float32)),
    "pixels_front": ((32, 32, 3), np.dtype(np.uint8)),
}
GRIP = SACConfig(
    hidden_dims=(32, 32),
    critic_ensemble_size=2,
    utd_ratio=2,
    batch_size=32,
    critic_lr=1e-3,
    gripper_critic=True,
)
ACTION_DIM = 3  # two arm entries and the gripper


def batch_of(
    state: torch.Tensor,
    next_state: torch.Tensor,
    gripper: torch.Tensor,
    reward: torch.Tensor,
    terminated: torch.Tensor,
    *,
    prev_gripper: torch.Tensor | None = None,
    seed: int = 0,
) -> dict:
    """A batch with random arm entries and the given gripper commands (B,)."""
    g = torch.Generator().manual_seed(seed)
    n = state.shape[0]
    arm = torch.rand((n, ACTION_DIM - 1), generator=g) * 2 - 1
    batch = {
        keys.OBS: {"state": state},
        keys.NEXT_OBS: {"state": next_state},
        keys.ACTION: torch.cat([arm, gripper[:, None]], -1),
        keys.REWARD: reward,
        keys.TERMINATED: terminated,
    }
    if prev_gripper is not None:
        batch[keys.PREV_ACTION] = torch.cat([arm, prev_gripper[:, None]], -1)
    return batch


def gripper_q(sac: SAC, state: torch.Tensor) -> torch.Tensor:
    """The online head's pessimistic Q (B, classes) at un-augmented states (B, 3)."""
    assert sac.gripper is not None
    with torch.no_grad():
        return sac.gripper.value(sac.encoder({"state": state}))


def random_commands(n: int, g: torch.Generator) -> torch.Tensor:
    return torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)


def test_classes_and_toggles_of_rate_limited_commands() -> None:
    """The safety layer moves the executed command at most max_gripper_step (1) per step:
    a close from open runs -1, 0, +1 and an open from closed +1, 0, -1."""
    assert gripper_class(torch.tensor([-1.0, -0.2, 0.3, 1.0])).tolist() == [0, 0, 1, 1]
    closing = torch.tensor([-1.0, 0.0, 1.0, 1.0])  # executed commands of one episode
    opening = torch.tensor([1.0, 0.0, -1.0, -1.0])
    for run, cls, toggles in ((closing, 1, [1, 0, 0]), (opening, 0, [1, 0, 0])):
        now, before = run[1:], run[:-1]
        assert gripper_class(now, before).tolist() == [cls] * 3
        assert toggled(now, before).tolist() == toggles
    stay = torch.tensor([-1.0, 1.0])
    assert gripper_class(stay, stay).tolist() == [OPEN, CLOSE]  # step 0: previous = itself
    assert toggled(stay, stay).tolist() == [0.0, 0.0]
    unlimited = torch.tensor([1.0, -1.0]), torch.tensor([-1.0, 1.0])  # max_gripper_step 2
    assert gripper_class(*unlimited).tolist() == [CLOSE, OPEN]
    assert toggled(*unlimited).tolist() == [1.0, 1.0]


def test_td_loss_is_double_dqn_against_the_target_head() -> None:
    """The loss equals the MSE to r - penalty * toggled + gamma * (1 - done) *
    Q_target(s', argmax Q_online(s')), computed here by hand from the two heads."""
    config = replace(GRIP, grasp_penalty=0.1, discount=0.9, tau=0.5)
    sac = SAC(STATE_SPEC, ACTION_DIM, config, device="cpu", seed=3)
    g = torch.Generator().manual_seed(1)
    n = 64
    batch = batch_of(
        torch.randn(n, 3, generator=g),
        torch.randn(n, 3, generator=g),
        random_commands(n, g),
        torch.rand(n, generator=g),
        (torch.rand(n, generator=g) < 0.3).float(),
        prev_gripper=random_commands(n, g),
    )
    sac.update(batch)  # online and target heads now differ (tau 0.5)
    assert sac.gripper is not None and sac.gripper_target is not None
    with torch.no_grad():
        feats = sac.encoder(batch[keys.OBS])
        next_feats = sac.encoder(batch[keys.NEXT_OBS])
        greedy = sac.gripper(next_feats).min(0).values.argmax(-1)
        online_max = sac.gripper(next_feats).min(0).values.max(-1).values
        next_q = sac.gripper_target(next_feats).min(0).values.gather(-1, greedy[:, None])[:, 0]
        assert not torch.allclose(next_q, online_max)  # the target head values, not the online
        grip = batch[keys.ACTION][:, -1]
        penalty = 0.1 * ((grip > 0) != (batch[keys.PREV_ACTION][:, -1] > 0)).float()
        target = batch[keys.REWARD] - penalty + 0.9 * (1 - batch[keys.TERMINATED]) * next_q
        q = sac.gripper(feats)[:, torch.arange(n), (grip > 0).long()]  # (E, B)
        expected = (q - target).pow(2).mean()
        loss, _ = sac.gripper_loss(batch, feats, next_feats)  # no augmentation on state
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)


def test_updates_move_q_of_the_taken_class_to_a_known_target() -> None:
    """Terminal rows with reward 0.7, gripper closed: Q(s, close) goes to 0.7 (from near 0)."""
    sac = SAC(STATE_SPEC, ACTION_DIM, GRIP, device="cpu", seed=0)
    g = torch.Generator().manual_seed(0)
    n = GRIP.utd_ratio * GRIP.batch_size
    state = torch.randn(n, 3, generator=g)
    batch = batch_of(state, state, torch.ones(n), torch.full((n,), 0.7), torch.ones(n))
    before = float(gripper_q(sac, state)[:, CLOSE].mean())
    errors = []
    for _ in range(150):
        values = sac.update(batch)
        errors.append(abs(float(gripper_q(sac, state)[:, CLOSE].mean()) - 0.7))
    assert abs(before - 0.7) > 0.3
    assert errors[0] < abs(before - 0.7)  # the first update already moves toward it
    assert errors[-1] < 0.05, errors[-1]
    assert values["learner/gripper_q_loss"] < 0.01
    assert values["learner/gripper_q"] == pytest.approx(0.7, abs=0.05)


@pytest.mark.learning
def test_greedy_class_learns_that_only_close_pays_two_steps_later(
    learn_seed: int, record_figure: Callable[..., None]
) -> None:
    """A 2-step toy through SAC.update: at s0 every action leads to s1 with reward 0; at s1
    closing pays 1 and opening 0, both terminal. The greedy class at s1 becomes close, and the
    value of s0 carries the discounted payoff back. Seeds 0..4: greedy close from update 3 at
    the latest and ever after, Q(s1) gap 1.00 (bound 0.5), Q(s0) 0.81 worst of a true 0.97
    after 200 updates (bound 0.485)."""
    sac = SAC(STATE_SPEC, ACTION_DIM, GRIP, device="cpu", seed=learn_seed)
    g = torch.Generator().manual_seed(learn_seed)
    s0, s1 = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    n = GRIP.utd_ratio * GRIP.batch_size
    last_open = -1  # the last update after which the greedy class at s1 was still open
    for i in range(200):
        at_s1 = torch.rand(n, generator=g) < 0.5
        state = torch.where(at_s1[:, None], s1, s0)
        gripper = random_commands(n, g)
        reward = (at_s1 & (gripper > 0)).float()  # s1's rows end (terminal); s0's go to s1
        sac.update(batch_of(state, s1.expand(n, 3), gripper, reward, at_s1.float(), seed=i))
        if int(gripper_q(sac, s1[None])[0].argmax()) != CLOSE:
            last_open = i
    assert last_open < 100, last_open
    q = gripper_q(sac, torch.stack([s0, s1]))
    record_figure("q_gap_s1", float(q[1, CLOSE] - q[1, OPEN]), bound=0.5)
    record_figure("q_s0", float(q[0].max()), bound=0.5 * GRIP.discount)
    assert int(q[1].argmax()) == CLOSE, q
    assert float(q[1, CLOSE] - q[1, OPEN]) > 0.5, q
    assert float(q[0].max()) > 0.5 * GRIP.discount, q
    obs1 = {"state": s1.numpy()}
    assert sac.act(obs1, deterministic=True)[-1] == 1.0


def _train_penalty_bandit(prev_command: float) -> torch.Tensor:
    """Both classes pay 0.5 (terminal); the previous command is ``prev_command`` on every row.
    Returns the learned Q (classes,) at the one state."""
    config = replace(GRIP, grasp_penalty=0.1)
    sac = SAC(STATE_SPEC, ACTION_DIM, config, device="cpu", seed=0)
    g = torch.Generator().manual_seed(0)
    n = config.utd_ratio * config.batch_size
    state = torch.zeros(n, 3)
    for i in range(150):
        batch = batch_of(
            state,
            state,
            random_commands(n, g),
            torch.full((n,), 0.5),
            torch.ones(n),
            prev_gripper=torch.full((n,), prev_command),
            seed=i,
        )
        sac.update(batch)
    return gripper_q(sac, torch.zeros(1, 3))[0]


def test_grasp_penalty_lowers_the_q_of_the_toggling_class() -> None:
    """Equal payoffs; the class that toggles the previous command is worth ~0.1 less."""
    after_open = _train_penalty_bandit(-1.0)  # closing toggles
    after_close = _train_penalty_bandit(1.0)  # opening toggles
    assert float(after_open[OPEN] - after_open[CLOSE]) == pytest.approx(0.1, abs=0.04)
    assert float(after_close[CLOSE] - after_close[OPEN]) == pytest.approx(0.1, abs=0.04)


def test_demo_margin_makes_the_demonstrated_class_greedy_on_demo_states() -> None:
    """Two nearby demo states, both paying 1: the demo closes at one and opens at the other.
    TD alone never trains the other class at either; the margin makes each demo class greedy
    by about the margin, and the logged agreement with the demos reaches 1."""
    config = replace(GRIP, gripper_demo_margin=0.2)
    sac = SAC(STATE_SPEC, ACTION_DIM, config, device="cpu", seed=0)
    s_close, s_open = torch.tensor([0.2, 0.0, 0.0]), torch.tensor([0.0, 0.2, 0.0])
    n = config.utd_ratio * config.batch_size
    at_close = torch.arange(n) % 2 == 0
    state = torch.where(at_close[:, None], s_close, s_open)
    gripper = torch.where(at_close, 1.0, -1.0)
    batch = batch_of(state, state, gripper, torch.ones(n), torch.ones(n), prev_gripper=gripper)
    batch[keys.IS_DEMO] = torch.ones(n)
    for _ in range(150):
        values = sac.update(batch)
    q = gripper_q(sac, torch.stack([s_close, s_open]))
    assert float(q[0, CLOSE] - q[0, OPEN]) > 0.9 * 0.2, q  # TD alone: at most 0.16 (3 seeds)
    assert float(q[1, OPEN] - q[1, CLOSE]) > 0.9 * 0.2, q
    assert values["learner/gripper_demo_agree"] == 1.0


def test_grasp_penalty_needs_the_previous_action_in_the_batch() -> None:
    sac = SAC(STATE_SPEC, ACTION_DIM, replace(GRIP, grasp_penalty=0.02), device="cpu")
    n = 2 * GRIP.batch_size
    batch = batch_of(
        torch.zeros(n, 3), torch.zeros(n, 3), torch.ones(n), torch.ones(n), torch.ones(n)
    )
    with pytest.raises(KeyError, match="prev_action"):
        sac.update(batch)


def test_checkpoint_round_trip_keeps_the_head_its_target_and_optimiser() -> None:
    config = replace(GRIP, grasp_penalty=0.02)
    sac = SAC(STATE_SPEC, ACTION_DIM, config, device="cpu", seed=1)
    g = torch.Generator().manual_seed(2)
    n = 2 * GRIP.batch_size

    def batch(i: int) -> dict:
        return batch_of(
            torch.randn(n, 3, generator=g),
            torch.randn(n, 3, generator=g),
            random_commands(n, g),
            torch.rand(n, generator=g),
            torch.zeros(n),
            prev_gripper=random_commands(n, g),
            seed=i,
        )

    for i in range(20):
        sac.update(batch(i))
    buffer = io.BytesIO()
    torch.save(sac.state_dict(), buffer)
    buffer.seek(0)
    restored = SAC(STATE_SPEC, ACTION_DIM, config, device="cpu", seed=9)
    restored.load_state_dict(torch.load(buffer, weights_only=False))
    states = torch.randn(256, 3, generator=g)
    greedy = gripper_q(sac, states).argmax(-1)
    assert 0 < int(greedy.sum()) < 256  # both classes occur: the comparison means something
    assert torch.equal(gripper_q(restored, states).argmax(-1), greedy)
    policy = Policy(STATE_SPEC, ACTION_DIM, config)
    policy.load_state_dict(sac.policy_state_dict())
    obs = {"state": states[0].numpy()}
    assert np.array_equal(policy.act(obs, deterministic=True), sac.act(obs, deterministic=True))
    same = batch(99)
    assert restored.update(same) == sac.update(same)  # same weights, Adam moments and RNG
    plain = SAC(STATE_SPEC, ACTION_DIM, replace(config, grasp_penalty=0.0), device="cpu")
    state = plain.state_dict()
    del state["gripper_optimizer"]
    with pytest.raises(KeyError, match="gripper_optimizer"):
        plain.load_state_dict(state)


def test_deterministic_act_is_greedy_and_sampled_act_explores_at_epsilon() -> None:
    policy = Policy(STATE_SPEC, ACTION_DIM, replace(GRIP, gripper_epsilon=0.2), seed=4)
    obs = {"state": np.array([0.3, -0.2, 0.5], np.float32)}
    greedy = policy.act(obs, deterministic=True)[-1]
    assert greedy in (-1.0, 1.0)
    assert all(policy.act(obs, deterministic=True)[-1] == greedy for _ in range(20))
    draws = np.array([policy.act(obs)[-1] for _ in range(3000)])
    assert set(np.unique(draws)) <= {-1.0, 1.0}
    # A random class is the other one half the time: rate epsilon / 2 = 0.1 (std 0.0055).
    assert 0.08 < float(np.mean(draws != greedy)) < 0.12
    never = Policy(STATE_SPEC, ACTION_DIM, replace(GRIP, gripper_epsilon=0.0), seed=4)
    never.load_state_dict(policy.state_dict())
    assert all(never.act(obs)[-1] == greedy for _ in range(200))


def test_composes_with_the_bc_base_hl_gauss_and_pixels() -> None:
    """Residual actor on a BC base over the arm entries, HL-Gauss arm critic, a pixel encoder
    that the gripper head trains too; the metrics carry the head's loss and Q."""
    config = replace(
        GRIP,
        batch_size=8,
        base_policy="bc",
        base_pretrain_updates=1,
        critic_loss="hl_gauss",
        q_target_bounds=(0.0, 1.0),
        grasp_penalty=0.02,
        encoder=EncoderConfig(conv_channels=(8, 8), conv_strides=(2, 2), latent_dim=16),
    )
    sac = SAC(PIXEL_SPEC, ACTION_DIM, config, device="cpu", seed=0)
    assert sac.actor.net[-1].out_features == 2 * (ACTION_DIM - 1)
    assert sac.base is not None and sac.base.actor.net[-1].out_features == 2 * (ACTION_DIM - 1)
    g = torch.Generator().manual_seed(0)
    n = 16

    def obs() -> dict[str, torch.Tensor]:
        return {
            "state": torch.randn(n, 3, generator=g),
            "pixels_front": torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8, generator=g),
        }

    batch = batch_of(
        torch.zeros(n, 3),
        torch.zeros(n, 3),
        random_commands(n, g),
        torch.rand(n, generator=g),
        torch.zeros(n),
        prev_gripper=random_commands(n, g),
    )
    batch[keys.OBS], batch[keys.NEXT_OBS] = obs(), obs()
    batch[keys.IS_DEMO] = (torch.arange(n) % 2).float()
    sac.pretrain(lambda size: {keys.OBS: obs(), keys.ACTION: batch[keys.ACTION]})
    values = sac.update(batch)
    assert {"learner/gripper_q_loss", "learner/gripper_q", "losses/base_bc"} <= set(values)
    # the head's loss alone reaches the shared encoder's convolutions
    mb = {
        k: v[:8] if not isinstance(v, dict) else {kk: vv[:8] for kk, vv in v.items()}
        for k, v in batch.items()
    }
    _, _, feats, next_feats, _ = sac._critic_loss(mb)
    sac.critic_optimizer.zero_grad(set_to_none=True)
    loss, _ = sac.gripper_loss(mb, feats, next_feats)
    loss.backward()
    conv_grads = [p.grad for n_, p in sac.encoder.named_parameters() if n_.startswith("trunk.")]
    assert conv_grads and all(gr is not None and gr.abs().sum() > 0 for gr in conv_grads)
    action = sac.act({k: v[0].numpy() for k, v in obs().items()})
    assert action.shape == (ACTION_DIM,) and action[-1] in (-1.0, 1.0)


def test_bad_combinations_are_named() -> None:
    with pytest.raises(ValueError, match="gripper_critic"):
        SAC(STATE_SPEC, 1, replace(GRIP), device="cpu")
    with pytest.raises(ValueError, match="gripper_critic"):
        Policy(STATE_SPEC, 1, GRIP)
    with pytest.raises(ValueError, match="grasp_penalty"):
        SACConfig(grasp_penalty=0.02).validate()
    with pytest.raises(ValueError, match="gripper_epsilon"):
        SACConfig(gripper_critic=True, gripper_epsilon=1.5).validate()
    with pytest.raises(ValueError, match="gripper_demo_margin"):
        SACConfig(gripper_demo_margin=0.1).validate()
    with pytest.raises(ConfigError, match="grasp_penalty"):
        from_dict(SACConfig, {"gripper_critic": True, "grasp_penalty": -0.1})


def test_replay_batches_carry_the_previous_action_of_the_episode() -> None:
    """The action before, and at an episode's first step its own, for step-by-step and whole
    episodes alike (the grasp penalty's toggle)."""
    spec = {"state": ((1,), np.dtype(np.float32))}
    buffer = ReplayBuffer(spec, 2, 100)
    actions = np.array([[0.1, -1.0], [0.2, 1.0], [0.3, 1.0]], np.float32)
    obs = np.arange(4, dtype=np.float32)[:, None]
    ep = Episode(
        observations={"state": obs},
        actions=actions,
        rewards=np.zeros(3, np.float32),
        terminated=np.array([False, False, True]),
        truncated=np.zeros(3, bool),
        intervened=np.zeros(3, bool),
        sources=np.zeros(3, np.uint8),
        timestamps=np.arange(4, dtype=np.float64),
    )
    buffer.add_episode(ep)
    buffer.start_episode({"state": obs[0]})
    for t in range(3):
        buffer.add_step(actions[t], 0.0, {"state": obs[t + 1]}, t == 2, False)
    rows = np.flatnonzero(buffer.valid)
    batch = buffer.gather(rows)
    step = batch[keys.OBS]["state"][:, 0].astype(int)  # the row's time step
    expected = np.concatenate([actions[:1], actions[:-1]])[step]
    np.testing.assert_array_equal(batch[keys.PREV_ACTION], expected)
    assert len(rows) == 6


def test_twin_with_its_safety_layer_gives_the_classes_and_toggles_commanded(
    tmp_path: Path,
) -> None:
    """The pick-cube twin behind the real safety layer (gripper rate limit 1 per step):
    commanded open x3, close x3, open x2 come back from the replay buffer as those classes,
    with one toggle where each change starts, and the gripper really closes and reopens."""
    config = from_dict(RunConfig, tiny_run(tmp_path))
    env = make_env(config, seed=0)
    obs, _ = env.reset(seed=0)
    spec = obs_spec_from_space(env.observation_space)
    action_dim = int(env.action_space.shape[0])
    buffer = ReplayBuffer(spec, action_dim, 64)
    buffer.start_episode(obs)
    commands = [-1.0] * 3 + [1.0] * 3 + [-1.0] * 2
    openings = []
    for command in commands:
        action = np.zeros(action_dim, np.float32)
        action[-1] = command
        obs, reward, terminated, truncated, info = env.step(action)
        openings.append(float(obs["state"][10]))  # 1 = fully open
        buffer.add_step(info["executed_action"], reward, obs, terminated, truncated)
    env.close()
    batch = buffer.gather(np.flatnonzero(buffer.valid))
    executed = torch.as_tensor(batch[keys.ACTION][:, -1])
    previous = torch.as_tensor(batch[keys.PREV_ACTION][:, -1])
    assert executed.tolist() == [-1, -1, -1, 0, 1, 1, 0, -1]  # what the layer let through
    assert gripper_class(executed, previous).tolist() == [0, 0, 0, 1, 1, 1, 0, 0]
    assert toggled(executed, previous).tolist() == [0, 0, 0, 1, 0, 0, 1, 0]
    assert openings[2] > 0.9 and openings[5] < 0.2 and openings[-1] > 0.5  # it closed, reopens


@pytest.mark.slow
def test_a_whole_run_trains_checkpoints_and_acts_with_the_head(tmp_path: Path) -> None:
    """A tiny twin run (learner process, zmq, actor loading pushed weights) with the gripper
    head, the grasp penalty and a BC base: the learner logs the head's metrics, checkpoints
    its target and Adam, and the saved policy picks the gripper with the head (about 20 s)."""
    sac = {"gripper_critic": True, "grasp_penalty": 0.02, "base_policy": "bc"}
    sac |= {"base_pretrain_updates": 20, "q_target_bounds": [0.0, 1.0]}
    config = from_dict(RunConfig, tiny_run(tmp_path, "grip", sac=sac))
    result = train(config, progress=False)
    run = Path(result["run_dir"])
    assert result["learner_updates"] > 0
    rows = [r for r in read_jsonl(run / "metrics" / "learner.jsonl") if "losses/critic" in r]
    assert rows and all(np.isfinite(r["learner/gripper_q_loss"]) for r in rows)
    state = load_checkpoint(list_checkpoints(run / "checkpoints")[-1])["agent"]
    assert {"gripper_target", "gripper_optimizer"} <= set(state)
    assert any(k.startswith("gripper.") for k in state["policy"])
    tensors, _ = load_policy(run / "policy.safetensors")
    env = make_env(config, seed=1)
    obs, _ = env.reset(seed=1)
    action_dim = int(env.action_space.shape[0])
    policy = make_policy(config, obs_spec_from_space(env.observation_space), action_dim)
    policy.load_state_dict(tensors)
    env.close()
    assert policy.gripper is not None
    assert policy.act(obs, deterministic=True)[-1] in (-1.0, 1.0)
