"""Human-in-the-loop commands: ``robot-rl dashboard`` and ``robot-rl record`` (teleop demos).

``add_hil_commands(subparsers, overrides)`` registers them on the main parser
(robot_rl/cli/__init__.py); ``overrides`` is the shared ``--set`` parent parser.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.cli.common import load_run_config


def _teleop(name: str, action_dim: int) -> tuple[Any, Any]:
    """(TeleopSource, device) for a device name; raises DeviceMissingError naming it."""
    from robot_rl.hil import TeleopSource
    from robot_rl.teleop import TeleopConfig, make_device

    device = make_device(TeleopConfig(device=name))
    return (TeleopSource(device, action_dim) if device is not None else None), device


def _serve(feed: Any, args: argparse.Namespace, teleop: Any) -> Any:
    from robot_rl.dashboard.app import DashboardServer

    server = DashboardServer(
        feed, host=args.host, port=args.port, token=args.token, teleop=teleop,
        allowed_origins=tuple(args.allow_origin),
    )  # fmt: skip
    server.start()
    print(f"dashboard: {server.url}", flush=True)
    return server


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Act in the twin (random policy until weights) with the dashboard and a teleop device."""
    from robot_rl.app.build import env_spec, make_env, make_policy
    from robot_rl.dashboard.state import DashboardFeed
    from robot_rl.hil import InterventionMixer, RunControls
    from robot_rl.runtime.actor import Actor
    from robot_rl.runtime.transport import InProcessTransport

    config = load_run_config(args.config, args.set)
    env = make_env(config, seed=config.seed)
    spec, action_dim = env_spec(env)
    controls = RunControls()
    source, device = _teleop(args.teleop, action_dim)
    feed = DashboardFeed(controls)
    server = _serve(feed, args, device if args.teleop == "browser" else None)
    transport, _learner = InProcessTransport.pair()
    actor = Actor(
        env, make_policy(config, spec, action_dim), transport, config_hash="dashboard",
        seed=config.seed, mixer=InterventionMixer(action_dim, source=source, controls=controls),
        controls=controls, on_step=feed.on_step, on_episode=feed.on_episode,
    )  # fmt: skip
    period = 1.0 / config.env.control_hz
    try:
        actor.run(args.steps, progress=lambda _s: time.sleep(period))
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        env.close()
    return 0


def record_teleop_demos(
    config: Any, out: Path, source: Any, *, episodes: int, controls: Any = None, feed: Any = None,
    pace_s: float = 0.0,
) -> Any:  # fmt: skip
    """Record ``episodes`` episodes driven by a person; every step is stored intervened/human."""
    from robot_rl import keys
    from robot_rl.app.build import env_spec, make_env
    from robot_rl.data.episode_store import EpisodeStore
    from robot_rl.runtime.actor import ActorStats
    from robot_rl.runtime.recorder import EpisodeRecorder, scalar_info
    from robot_rl.wire.protocol import Step

    env = make_env(config, seed=config.demos.seed)
    spec, action_dim = env_spec(env)
    store = EpisodeStore.create(
        out, obs_spec=spec, action_dim=action_dim, attrs={"task": config.task, "source": "teleop"}
    )
    human = keys.SOURCE_CODE["human"]
    hold = np.zeros(action_dim, np.float32)
    for n in range(episodes):
        obs, _ = env.reset(seed=config.demos.seed + n)
        recorder, t, done = EpisodeRecorder(obs, time.monotonic()), 0, False
        info: dict[str, Any] = {}
        while not done:
            while controls is not None and controls.halted:
                time.sleep(0.02)
            cmd = source.poll(obs, hold)
            if not cmd.connected:
                raise RuntimeError("teleop device lost while recording; the episode is dropped")
            action = cmd.action if cmd.action is not None else hold
            next_obs, reward, terminated, truncated, info = env.step(action)
            step = Step(
                episode_id=n, t=t, first_obs=None, action=np.asarray(action, np.float32),
                reward=float(reward), next_obs=next_obs, terminated=bool(terminated),
                truncated=bool(truncated), intervened=True, source=human,
                timestamp=time.monotonic(),
            )  # fmt: skip
            recorder.add(step)
            if feed is not None:
                feed.on_step(next_obs, step, ActorStats(env_steps=t))
            obs, t, done = next_obs, t + 1, bool(terminated or truncated)
            time.sleep(pace_s)
        store.write_episode(recorder.finish(scalar_info(info)))
    env.close()
    return store


def cmd_record(args: argparse.Namespace) -> int:
    """Record demonstrations with a teleop device (browser: through the dashboard)."""
    from robot_rl.dashboard.state import DashboardFeed
    from robot_rl.hil import RunControls

    config = load_run_config(args.config, args.set)
    from robot_rl.app.build import env_spec, make_env

    probe = make_env(config)
    _spec, action_dim = env_spec(probe)
    probe.close()
    source, device = _teleop(args.teleop, action_dim)
    if source is None:
        raise SystemExit("record: --teleop must name a device")
    controls, server, feed = RunControls(), None, None
    if args.teleop == "browser":
        feed = DashboardFeed(controls)
        server = _serve(feed, args, device)
    try:
        store = record_teleop_demos(
            config, Path(args.out), source, episodes=args.episodes, controls=controls, feed=feed,
            pace_s=1.0 / config.env.control_hz,
        )  # fmt: skip
        print(json.dumps(store.info(), indent=1, default=str))
    finally:
        if server is not None:
            server.stop()
        device.close()
    return 0


def _server_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="run config YAML (configs/...)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument(
        "--token",
        default=None,
        type=_token_arg,
        help="access token, >= 16 URL-safe characters (default: random, printed)",
    )
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        type=_origin_arg,
        metavar="ORIGIN",
        help="another origin (http://host:port) whose pages may use the controls; repeatable",
    )


def _token_arg(value: str) -> str:
    """argparse type of --token: one clear line naming the flag when too weak."""
    from robot_rl.dashboard.guard import token_problem

    problem = token_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"too weak a dashboard token: {problem}")
    return value


def _origin_arg(value: str) -> str:
    """argparse type of --allow-origin."""
    from robot_rl.dashboard.guard import normalise_origin

    try:
        return normalise_origin(value, where="--allow-origin")
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def add_hil_commands(subparsers: Any, overrides: argparse.ArgumentParser) -> None:
    """Register ``dashboard`` and ``record`` on the robot-rl sub-command parser."""
    p = subparsers.add_parser(
        "dashboard", help="twin actor + web dashboard + teleop", parents=[overrides]
    )
    _server_args(p)
    p.add_argument(
        "--teleop",
        default="browser",
        choices=("none", "spacemouse", "gamepad", "keyboard", "browser"),
    )
    p.add_argument("--steps", type=int, default=10**9)
    p.set_defaults(func=cmd_dashboard)
    p = subparsers.add_parser(
        "record", help="record demonstrations with a teleop device", parents=[overrides]
    )
    _server_args(p)
    p.add_argument(
        "--teleop", required=True, choices=("spacemouse", "gamepad", "keyboard", "browser")
    )
    p.add_argument("--out", required=True)
    p.add_argument("--episodes", type=int, default=20)
    p.set_defaults(func=cmd_record)
