"""HIL-SERL's discrete gripper critic: a small DQN head beside SAC's continuous arm actor.

The action's last entry is the gripper, an absolute command (-1 open .. +1 closed in the twin,
``robot_rl_sim.env``; demos hold it at exactly +-1). With ``SACConfig.gripper_critic`` the actor
and critic see only the arm entries, and this head picks the gripper among two classes,
open (-1) and close (+1), greedily from Q_g(s, class).

Two classes, not HIL-SERL's three (open / stay / close): their gripper interface takes "stay" as
"send no command"; ours takes an absolute command every step, so "stay" is the previous
command, always the same action as one of open or close. A third class would alias one of the
two while its meaning depends on the previous command, which the observation does not hold
(the measured opening lags the command by several steps while the fingers move). What "stay"
stood for in HIL-SERL, a step that does not toggle, is what the grasp penalty rewards: a
step whose command leaves the end (open or closed) the previous command of the episode held
(``keys.PREV_ACTION``, from the replay buffer) pays ``grasp_penalty``.

Stored actions are the executed ones, after the safety layer, which limits the gripper's
change per step (``safety.max_gripper_step``, default 1: a close from open runs -1, 0, +1).
So a step's class is the direction its command moved from the previous one (0 after -1 is
"close"), or the side it stayed on (-1 after -1 is "open"); a toggle is a move away from an
end (-1 to 0 is one, 0 to +1 completes it and is not). A reversal half-way (-1, 0, -1) counts
once. At an episode's first step the buffer takes the previous command equal to the first
(no toggle: the command in force after a reset is the env's, not the buffer's, to know).

Q_g(s, g) and the arm critic Q(s, a_arm) are two partial-action values of the same joint policy:
each takes the other's action at s as the data has it, and at s' as the current policy picks it
(the arm critic: an actor sample; this head: its greedy class). Both learn from the same
reward, discount and done mask; only this head sees the grasp penalty, as in HIL-SERL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from robot_rl import keys
from robot_rl.agents.networks import CriticEnsemble

GRIPPER_CLASSES = ("open", "close")
GRIPPER_COMMANDS = (-1.0, 1.0)  # the action's last entry for each class
OPEN, CLOSE = 0, 1
GRIPPER_ENSEMBLE = 2  # Q heads whose min is the value (clipped double Q, as the arm critic)


# An executed command within this of +-1 is at that end (np.clip makes them exact).
END_TOLERANCE = 1e-6


def gripper_class(command: torch.Tensor, previous: torch.Tensor | None = None) -> torch.Tensor:
    """Class (B,) int64 of executed gripper commands (B,): where the command moved from the
    ``previous`` one (B,), close if it moved up, open if down; where it did not move (or
    without ``previous``), close where > 0, else open."""
    side = command > 0
    if previous is None:
        return side.long()
    return torch.where(command != previous, command > previous, side).long()


def toggled(command: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """(B,) float32 1.0 where a command moves away from the end (-1 or +1) that the previous
    command held, else 0 (no move, a move that continues from between the ends)."""
    at_end = previous.abs() >= 1.0 - END_TOLERANCE
    return (at_end & (gripper_class(command, previous) != (previous > 0).long())).float()


class GripperCritic(nn.Module):
    """Q_g(s, class) for each gripper class: an ensemble of ``GRIPPER_ENSEMBLE`` LayerNorm MLPs
    on the encoded observation, evaluated together (the arm critic's vectorised ensemble with
    no action input and one output per class)."""

    def __init__(self, in_dim: int, hidden_dims: Sequence[int]) -> None:
        super().__init__()
        self.net = CriticEnsemble(
            in_dim, hidden_dims, GRIPPER_ENSEMBLE, out_dim=len(GRIPPER_CLASSES)
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Q-values (E, B, classes) for features (B, D)."""
        return self.net(features, features.new_zeros(features.shape[0], 0))  # type: ignore[no-any-return]

    def value(self, features: torch.Tensor) -> torch.Tensor:
        """Pessimistic Q (B, classes): the min over the ensemble."""
        return self(features).min(0).values  # type: ignore[no-any-return]

    def greedy(self, features: torch.Tensor) -> torch.Tensor:
        """Greedy class (B,) int64 under the pessimistic Q."""
        return self.value(features).argmax(-1)


def command_of(classes: torch.Tensor) -> torch.Tensor:
    """Gripper commands (B,) float32 (-1 open, +1 close) of classes (B,)."""
    return torch.where(classes == CLOSE, 1.0, -1.0).to(torch.float32)


def gripper_td_loss(
    head: GripperCritic,
    target_head: GripperCritic,
    mb: dict[str, Any],
    features: torch.Tensor,
    next_features: torch.Tensor,
    *,
    discount: float,
    grasp_penalty: float,
    q_target_bounds: tuple[float, ...] | None,
    demo_margin: float = 0.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Double-DQN TD loss of the gripper head on a minibatch's gripper classes.

    ``features`` (B, D): with grad into the encoder, the arm critic's tensor; ``next_features``
    (B, D): no grad. Target: r - grasp_penalty * toggled + gamma * not_done *
    Q_target(s', argmax_g Q(s', g)), each Q the min over the head's ensemble, gamma the batch's
    ``keys.DISCOUNT`` (n-step rows) or ``discount``; clamped to ``q_target_bounds`` with the low
    end lowered by the most the penalties can take off a return.

    With ``demo_margin`` > 0 and demo rows (``keys.IS_DEMO``), adds DQfD's large-margin term on
    them (Hester et al. 2018): max_g [Q(s, g) + margin * (g != g_demo)] - Q(s, g_demo), which
    keeps the demonstrated class greedy on demo states by at least the margin. The TD loss
    alone leaves the class a demo never took at a state untrained there, so its greedy choice
    on demo states is close to chance until online data covers both.

    Returns (loss, {"q": mean Q of the taken class, "demo_agree": fraction of demo rows whose
    greedy class is the demo's (only with ``keys.IS_DEMO``)}). Raises KeyError when
    ``grasp_penalty`` > 0 and the batch has no ``keys.PREV_ACTION``.
    """
    action = mb[keys.ACTION]
    previous = mb[keys.PREV_ACTION][:, -1] if keys.PREV_ACTION in mb else None
    with torch.no_grad():
        next_class = head.greedy(next_features)  # (B,)
        next_q = target_head.value(next_features).gather(-1, next_class[:, None])[:, 0]
        reward = mb[keys.REWARD].float()
        if grasp_penalty > 0:
            if previous is None:
                raise KeyError(
                    f"grasp_penalty: the batch has no {keys.PREV_ACTION!r} (the previous "
                    "action, which the replay buffer's batches carry)"
                )
            reward = reward - grasp_penalty * toggled(action[:, -1], previous)
        not_done = 1.0 - mb[keys.TERMINATED].float()
        gamma = mb.get(keys.DISCOUNT, discount)
        target = reward + gamma * not_done * next_q  # (B,)
        if q_target_bounds is not None:
            low, high = (float(b) for b in q_target_bounds)
            if grasp_penalty > 0:  # a toggle every step, forever
                low = low - grasp_penalty / (1.0 - discount) if discount < 1 else -math.inf
            target = target.clamp(low, high)
    taken = gripper_class(action[:, -1], previous)  # (B,)
    q_all = head(features)  # (E, B, classes)
    index = taken[None, :, None].expand(q_all.shape[0], -1, 1)
    q = q_all.gather(-1, index)[..., 0]  # (E, B)
    loss = (q - target).pow(2).mean()
    stats = {"q": q.detach().mean()}
    if keys.IS_DEMO in mb:
        is_demo = mb[keys.IS_DEMO].float()  # (B,)
        n_demo = is_demo.sum().clamp_min(1.0)
        greedy = q_all.detach().min(0).values.argmax(-1)
        stats["demo_agree"] = ((greedy == taken).float() * is_demo).sum() / n_demo
        if demo_margin > 0:
            classes = torch.arange(q_all.shape[-1], device=q_all.device)
            margin = demo_margin * (classes != taken[:, None]).float()  # (B, classes)
            excess = (q_all + margin).max(-1).values - q  # (E, B), >= 0
            loss = loss + (excess.mean(0) * is_demo).sum() / n_demo
    return loss, stats
