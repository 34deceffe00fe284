"""Builders that turn a RunConfig into envs, agents, policies, buffers and transports."""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import torch

from robot_rl.agents import AGENTS
from robot_rl.data.replay import ReplayBuffer
from robot_rl.envs.spec import ObsSpec, obs_spec_from_space
from robot_rl.run_config import RunConfig


def configure_threads(threads: int) -> None:
    """Torch intra-op threads for this process; OpenMP workers wait passively.

    Measured here: with 2 spinning OpenMP threads while another process used the second
    core, a state SAC update took 915 ms instead of 18 ms.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    torch.set_num_threads(max(1, threads))


def lower_priority(nice: int, *, idle: bool = False) -> int:
    """Run the calling thread (and the threads it starts) ``nice`` levels nicer; the new level.

    On Linux a nice level belongs to a thread, so call this in the thread that does the work
    (the learner's update loop), before it starts its helpers. Raising one's own nice level
    needs no privilege; 0 changes nothing. ``idle`` also moves the thread to SCHED_IDLE
    (Linux; unprivileged): any thread of the normal class that wakes up preempts it at once,
    whatever its nice level, so a control loop that sleeps between frames never waits for it.
    Raises OSError naming SCHED_IDLE where the platform has no such class.
    """
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice > 0:
        os.setpriority(os.PRIO_PROCESS, 0, min(19, current + nice))
    if idle:
        if not hasattr(os, "SCHED_IDLE"):
            raise OSError("runtime.learner_sched_idle: this platform has no SCHED_IDLE (Linux)")
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # 0: the calling thread
    return int(os.getpriority(os.PRIO_PROCESS, 0))


def make_env(config: RunConfig, *, seed: int | None = None) -> gym.Env:
    """The env of a run: the twin task ``config.task`` (the real cell comes through the ROS
    adapter), or the Gymnasium env named by ``config.env.entry_point`` (no safety layer).

    Outermost is the safety layer (``config.safety``): every command of every source
    (policy, expert, person) passes through it, and ``info["executed_action"]`` is what it
    let through. Raises ValueError naming ``safety.<field>`` if its action frame is not env's.
    """
    from robot_rl_sim.tasks import get_task

    from robot_rl.rewards.wrapper import wrap_reward
    from robot_rl.safety.config import check_action_frame
    from robot_rl.safety.layer import SafetyLayer
    from robot_rl.safety.wrapper import SafetyWrapper

    if config.env.entry_point:
        # The safety layer reads the twin's (and the real cell's) state layout and workspace;
        # a Gymnasium env of one's own has neither, so its actions go to it unfiltered.
        from robot_rl.envs.external import make_external_env

        own = make_external_env(
            config.env.entry_point,
            config.env.kwargs,
            max_episode_steps=config.env.max_episode_steps,
            seed=seed,
        )
        return wrap_reward(own, config.reward, max_episode_steps=config.env.max_episode_steps)
    check_action_frame(config.safety, config.env)
    env: gym.Env = get_task(config.task).make_env(config.env, seed=seed)
    env = wrap_reward(env, config.reward, max_episode_steps=config.env.max_episode_steps)
    return SafetyWrapper(env, SafetyLayer(config.safety))


def env_spec(env: gym.Env) -> tuple[ObsSpec, int]:
    """Observation spec and action dimension of an env."""
    space = env.action_space
    if not isinstance(space, gym.spaces.Box) or space.shape is None or len(space.shape) != 1:
        raise TypeError(f"action space must be a 1-D Box, got {space}")
    return obs_spec_from_space(env.observation_space), int(space.shape[0])


def agent_config(config: RunConfig) -> Any:
    """The config block of the run's agent."""
    return config.sac if config.agent == "sac" else config.bc


def make_agent(config: RunConfig, spec: ObsSpec, action_dim: int) -> Any:
    """The learner-side agent (networks, optimisers) on the configured device."""
    cls = AGENTS[config.agent]
    return cls(
        spec, action_dim, agent_config(config), device=config.runtime.device, seed=config.seed
    )


def make_policy(config: RunConfig, spec: ObsSpec, action_dim: int) -> Any:
    """The actor-side policy (CPU, no optimisers) that loads pushed weights."""
    from robot_rl.agents.bc import BCPolicy
    from robot_rl.agents.sac import Policy

    cls = Policy if config.agent == "sac" else BCPolicy
    return cls(spec, action_dim, agent_config(config)).eval()


def fit_state_normalizer(agent: Any, demos: ReplayBuffer) -> None:
    """Standardise the agent's state inputs with the demos' statistics (encoder.normalize_state)."""
    encoders = [agent.policy.encoder]
    base = getattr(agent.policy, "base", None)  # SAC's base policy has an encoder of its own
    if base is not None:
        encoders.append(base.encoder)
    for encoder in encoders:
        encoder.fit_state_normalizer(demos.state_rows(encoder.state_keys))


def make_replay(
    spec: ObsSpec,
    action_dim: int,
    capacity: int,
    *,
    seed: int,
    return_discount: float | None = None,
) -> ReplayBuffer:
    """A replay buffer for this spec (``return_discount``: whole episodes added to it keep their
    Monte-Carlo returns-to-go, see ReplayBuffer)."""
    return ReplayBuffer(spec, action_dim, capacity, seed=seed, return_discount=return_discount)
