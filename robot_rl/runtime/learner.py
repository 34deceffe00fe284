"""The learner loop: steps in, SAC updates, weights out, checkpoints and metrics.

The update step lives in the agent (robot_rl.agents); the wire format in protocol.py; this
module only moves data between them on a schedule.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robot_rl import keys
from robot_rl.data.replay import MixedSampler, ReplayBuffer
from robot_rl.data.self_imitation import SelfImitation
from robot_rl.data.step_check import StepChecker
from robot_rl.hil import InterventionRouter
from robot_rl.runtime.checkpoint import save_checkpoint, save_policy
from robot_rl.runtime.config import TrainConfig
from robot_rl.runtime.metrics import MetricsLogger
from robot_rl.runtime.peer_rules import PeerRules, WarnOnce, check_metrics
from robot_rl.wire.protocol import Control, Hello, Metrics, Step, Weights

PROGRESS_EVERY = 10  # learner updates between progress messages (actor pacing)
PROGRESS_RESEND_S = (
    1.0  # progress is re-sent at least this often, so a lost message cannot stall pacing
)
# The actor's own step count (pacing) may lead the steps this learner saw by this many: steps
# in flight or lost with a restarted learner. A larger report is clamped, so a bogus count
# (1e18) cannot switch pacing off.
MAX_REPORTED_LEAD = 1_000
MAX_STREAMS = 64  # actors with an open episode at once; the longest silent one is dropped


def step_success(last: Step) -> bool:
    """Whether an episode that ended with ``last`` succeeded: the env's (or reward model's)
    ``success`` in the final step's info, else a positive reward on a terminal step (the
    convention of ``Episode.success``)."""
    if keys.SUCCESS in last.info:
        return bool(last.info[keys.SUCCESS])
    return bool(last.terminated) and float(last.reward) > 0


class Learner:
    """Consumes actor steps into online replay and trains the agent on demo + online data."""

    def __init__(
        self,
        agent: Any,
        transport: Any,
        *,
        demo_buffer: ReplayBuffer,
        online_buffer: ReplayBuffer,
        train: TrainConfig,
        batch_size: int,
        demo_fraction: float,
        run_dir: Path,
        config_hash: str,
        metrics: MetricsLogger | None = None,
        clock: Callable[[], float] = time.monotonic,
        should_exit: Callable[[], bool] = lambda: False,
        router: InterventionRouter | None = None,
        imitation: SelfImitation | None = None,
        n_step: int = 1,
        discount: float = 1.0,
        launch_token: str | None = None,
    ) -> None:
        """``n_step``/``discount``: sample n-step rows (the agent's config; 1 = one-step).
        ``launch_token``: the secret of the launching actor's Hello (peer_rules.py); None: the
        first actor whose Hello has the run's config hash controls the learner."""
        self.agent = agent
        self.router = router
        self.imitation = imitation
        self.transport = transport
        self.online = online_buffer
        self.sampler = MixedSampler(
            demo_buffer, online_buffer, demo_fraction, n_step=n_step, discount=discount
        )
        self.train = train
        self.batch_size = batch_size
        self.run_dir = run_dir
        self.config_hash = config_hash
        self.metrics = metrics
        self.clock = clock
        self.should_exit = should_exit
        self.updates = 0
        self.weights_version = 0
        self.steps_received = 0
        self.dropped_steps = 0
        self.actor_env_steps = 0  # the actor's own count, from its episode metrics
        self.stop_requested = False
        # Every step is checked against the run's spec (the online buffer's) before any buffer.
        self.checker = StepChecker(online_buffer.obs_spec, online_buffer.action_dim)
        self.steps_rejected: dict[str, int] = {}  # reason -> steps dropped by the check
        self.metrics_rejected = 0  # metrics messages dropped whole (oversized, bad names)
        self.refused_messages = 0  # messages of refused peers (another config hash)
        self.controls_refused = 0  # stop / pacing from a peer that does not control the run
        peers = getattr(transport, "peers", None)
        self.rules = PeerRules(
            config_hash,
            launch_token=launch_token,
            alive=(lambda p: peers.alive(p)) if peers is not None else (lambda _p: False),
        )
        self.warn = WarnOnce("learner", clock=clock)
        self.resumed = False  # set by restore(): push the restored weights on start
        self.pretrained = False  # set by pretrain(): push the pre-trained weights on start
        # Per peer (one episode stream each): the next step index of its open episode.
        self._expected_t: OrderedDict[Hashable, int] = OrderedDict()
        self._intervened: set[Hashable] = set()  # peers whose open episode had an intervention
        self.episodes_ended = 0  # online episodes that ended whole (stream-complete)
        self._last_update_metrics: dict[str, float] = {}
        self._last_log = 0  # self.updates at the last metrics log (set by run())
        self._started = clock()
        self._progress_sent_at = -float("inf")

    # -- data in --------------------------------------------------------------------------
    def handle(self, msg: Any, peer: Hashable = None) -> None:
        """Apply one incoming message from ``peer`` (the transport's ``last_sender``)."""
        if isinstance(msg, Hello) and msg.role == "actor":
            self._hello(msg, peer)
            return
        if self.rules.refused(peer):
            self.refused_messages += 1
            return
        if isinstance(msg, Step):
            self._add_step(msg, peer)
        elif isinstance(msg, Metrics):
            self._take_metrics(msg, peer)
        elif isinstance(msg, Control) and msg.command == "stop":
            if self.rules.controls(peer):
                self.stop_requested = True
            else:
                self.controls_refused += 1
                self.warn("control", f"ignored 'stop' from {peer!r:.60}: not the run's actor")

    def _hello(self, msg: Hello, peer: Hashable) -> None:
        if not self.rules.hello(peer, msg):
            self._refuse_peer(peer)
            self.warn(
                "refused",
                f"refused actor {peer!r:.60}: its config hash {msg.config_hash!r:.40} is not "
                f"this run's {self.config_hash!r} (no weights go to it, its steps are dropped)",
            )
            return
        allow = getattr(self.transport, "allow", None)
        if allow is not None:
            allow(peer)
        # A (re)connected actor missed whatever was sent before it connected (a ROUTER
        # drops messages for unknown peers): the restored weights and the update count
        # it paces on. Without them a resumed actor waited for progress it never heard.
        if self.updates > 0 or self.resumed or self.pretrained:
            self.push_weights()
        else:
            self._send_progress()

    def _refuse_peer(self, peer: Hashable) -> None:
        refuse = getattr(self.transport, "refuse", None)
        if refuse is not None:  # the zmq endpoint leaves it out of every broadcast
            refuse(peer)
        self._end_stream(peer)

    def _take_metrics(self, msg: Metrics, peer: Hashable) -> None:
        values, why = check_metrics(msg.values)
        if values is None:
            self.metrics_rejected += 1
            self.warn("metrics", f"dropped a metrics message from {peer!r:.60}: {why}")
            return
        reported = values.get("actor/env_steps")
        if reported is not None:
            if self.rules.controls(peer):
                seen = self.steps_received + self.dropped_steps
                clamped = min(max(reported, 0.0), float(seen + MAX_REPORTED_LEAD))
                self.actor_env_steps = max(self.actor_env_steps, int(clamped))
            else:
                self.controls_refused += 1
                self.warn(
                    "pacing", f"ignored actor/env_steps from {peer!r:.60}: not the run's actor"
                )
        if self.metrics is not None:
            self.metrics.log(self.steps_received, values, step_name="env_steps")

    def _send_progress(self) -> None:
        self.transport.send(Metrics({"learner/updates": float(self.updates)}))
        self._progress_sent_at = self.clock()

    def _add_step(self, step: Step, peer: Hashable) -> None:
        rejection = self.checker.check(step)
        if rejection is not None:  # not this run's data: it never reaches a buffer
            self.steps_rejected[rejection.reason] = self.steps_rejected.get(rejection.reason, 0) + 1
            self.warn(
                f"step {rejection.reason}",
                f"dropped a step from {peer!r:.60} ({rejection.reason}): {rejection.detail}",
            )
            return
        if step.t == 0:
            self.online.start_episode(step.first_obs, stream=peer)  # type: ignore[arg-type]
            self._intervened.discard(peer)
            self._expected_t[peer] = 0
            self._expected_t.move_to_end(peer)
            while len(self._expected_t) > MAX_STREAMS:
                self._end_stream(next(iter(self._expected_t)))
        if (
            self._expected_t.get(peer) != step.t
            # the ring may have overwritten a silent peer's open observation meanwhile
            or not self.online.has_open_episode(peer)
            or not self.online.add_step(
                step.action,
                step.reward,
                step.next_obs,
                step.terminated,
                step.truncated,
                intervened=step.intervened,
                source=step.source,
                stream=peer,
            )
        ):
            # Lost or reordered step: drop the rest of this episode rather than corrupt it.
            self.dropped_steps += 1
            self._end_stream(peer)
            return
        if self.router is not None:  # HIL-SERL: interventions also become demonstrations
            self.router.route(step, stream=peer)
        if self.imitation is not None:  # successful episodes too, when self-imitation is on
            self.imitation.route(step, stream=peer)
        self.steps_received += 1
        if step.intervened:
            self._intervened.add(peer)
        if step.terminated or step.truncated:
            del self._expected_t[peer]
            self._episode_ended(step, peer)
        else:
            self._expected_t[peer] = step.t + 1
            self._expected_t.move_to_end(peer)  # the first one is the longest silent

    def _episode_ended(self, last: Step, peer: Hashable) -> None:
        """Tell the agent how a whole online episode ended (SAC's ``bc_weight_decay`` keeps a
        moving success rate of them). An episode a person took over in is left out: its
        outcome is not the policy's own."""
        self.episodes_ended += 1
        intervened = peer in self._intervened
        self._intervened.discard(peer)
        record = getattr(self.agent, "record_episode", None)
        if record is not None and not intervened:
            record(step_success(last))

    def _end_stream(self, peer: Hashable) -> None:
        """Forget ``peer``'s open episode (its stored steps stay)."""
        self._expected_t.pop(peer, None)
        self._intervened.discard(peer)
        self.online.abandon_episode(peer)

    # -- training -------------------------------------------------------------------------
    def may_update(self) -> bool:
        """Enough online data, and (when paced) not ahead of the data-to-update ratio."""
        if len(self.online) < max(1, self.train.learning_starts):
            return False
        ratio = self.train.updates_per_env_step
        if ratio <= 0:
            return True
        # Steps lost or dropped (a learner restart, a gap) still count: the actor paces on its
        # own step count, and waiting for steps that will never come would stall both sides.
        seen = max(self.steps_received + self.dropped_steps, self.actor_env_steps)
        allowed = ratio * (seen - self.train.learning_starts + 1)
        return self.updates < allowed

    def update_once(self) -> dict[str, float]:
        """One agent update on a symmetric demo/online batch."""
        utd = int(getattr(self.agent.config, "utd_ratio", 1))
        batch = self.sampler.sample(self.batch_size * utd, device=self.agent.device)
        values = self.agent.update(batch)
        self.updates += 1
        dormant_ratios = getattr(self.agent, "dormant_ratios", None)
        if dormant_ratios is not None and self._log_due():
            # only on the updates whose metrics are logged: one extra no-grad forward
            values = {**values, **dormant_ratios(batch)}
        if self.updates % PROGRESS_EVERY == 0:
            self._send_progress()
        if self.updates % self.train.weights_push_every == 0:
            self.push_weights()
        if self.updates % self.train.checkpoint_every == 0:
            self.checkpoint()
        return values

    def _log_due(self) -> bool:
        """Whether run() logs the metrics of the update just made."""
        return self.metrics is not None and self.updates - self._last_log >= self.train.log_every

    def push_weights(self) -> None:
        """Send the acting policy's weights with a new version number."""
        self.weights_version += 1
        msg = Weights.from_state_dict(
            self.agent.policy_state_dict(),
            version=self.weights_version,
            config_hash=self.config_hash,
        )
        self.transport.send(msg)
        self._send_progress()

    def checkpoint(self) -> None:
        """Checkpoint the full learner state and write the current policy file."""
        save_checkpoint(
            self.run_dir / "checkpoints",
            self.updates,
            self.state_dict(),
            keep=self.train.keep_checkpoints,
        )
        save_policy(
            self.run_dir / "policy.safetensors",
            self.agent.policy_state_dict(),
            version=self.weights_version,
            config_hash=self.config_hash,
        )

    def state_dict(self) -> dict[str, Any]:
        """The learner's whole state but replay (rebuilt from the episode stores on resume)."""
        return {
            "agent": self.agent.state_dict(),
            "updates": self.updates,
            "weights_version": self.weights_version,
            "steps_received": self.steps_received,
            "rng": {
                "torch": torch.get_rng_state(),
                "online_replay": self.online.rng.bit_generator.state,
                "demo_replay": self.sampler.demo.rng.bit_generator.state,
            },
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint: agent, counters and RNG states.

        The weights version jumps past every push the dead learner could have made after
        this checkpoint, so the actor (which keeps its newest weights) takes the next push.
        """
        self.agent.load_state_dict(state["agent"])
        self.updates = int(state["updates"])
        pushes_between_checkpoints = -(
            -self.train.checkpoint_every // self.train.weights_push_every
        )
        self.weights_version = int(state["weights_version"]) + pushes_between_checkpoints + 1
        rng = state.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "online_replay" in rng:
            self.online.rng.bit_generator.state = rng["online_replay"]
        if "demo_replay" in rng:
            self.sampler.demo.rng.bit_generator.state = rng["demo_replay"]
        self.resumed = True

    def run(self) -> None:
        """Serve until the actor says stop (or ``should_exit`` says so)."""
        self._last_log = self.updates
        if self.resumed or self.pretrained:
            self.push_weights()
        while not self.stop_requested and not self.should_exit():
            msg = self.transport.recv(0.0 if self.may_update() else 0.01)
            while msg is not None:
                self.handle(msg, getattr(self.transport, "last_sender", None))
                msg = self.transport.recv(0.0)
            self.transport.maybe_heartbeat()
            if self.clock() - self._progress_sent_at >= PROGRESS_RESEND_S:
                self._send_progress()
            if self.stop_requested:
                break
            if self.may_update():
                self._last_update_metrics = self.update_once()
                if self.metrics is not None and self._log_due():
                    self._last_log = self.updates
                    self.metrics.log(self.updates, self._progress_values(), step_name="updates")
        self.push_weights()
        self.checkpoint()
        if self.metrics is not None:
            self.metrics.log(self.updates, self._progress_values(), step_name="updates")
            self.metrics.close()

    def pretrain(self, on_progress: Callable[[int, int], None] | None = None) -> None:
        """Before the first online update and before serving: the agent's pre-training on the
        demos (SAC's base policy, when it has one, and ``critic_pretrain_updates`` full updates
        on demo-only batches, n-step as online); its weights go to the actor when it connects,
        so that the actor's first episodes already use them. ``on_progress(done, total)``:
        see ``SAC.pretrain``."""
        pretrain = getattr(self.agent, "pretrain", None)
        if pretrain is None or self.updates > 0 or len(self.sampler.demo) == 0:
            return
        device = self.agent.device
        values = pretrain(lambda n: self.sampler.sample_demos(n, device=device), on_progress)
        if values:
            self.pretrained = True
            if self.metrics is not None:
                self.metrics.log(0, values, step_name="updates")

    def _progress_values(self) -> dict[str, float]:
        elapsed = max(self.clock() - self._started, 1e-9)
        values = dict(self._last_update_metrics)
        values.update(
            {
                "charts/updates_per_s": self.updates / elapsed,
                "charts/env_steps": float(self.steps_received),
                "charts/dropped_steps": float(self.dropped_steps),
                "charts/online_size": float(len(self.online)),
                "charts/demo_size": float(len(self.sampler.demo)),
                "learner/steps_rejected": float(sum(self.steps_rejected.values())),
                "learner/metrics_rejected": float(self.metrics_rejected),
                "learner/refused_messages": float(self.refused_messages),
                "learner/controls_refused": float(self.controls_refused),
                **{f"learner/steps_rejected_{r}": float(n) for r, n in self.steps_rejected.items()},
            }
        )
        return {k: float(np.asarray(v)) for k, v in values.items()}
