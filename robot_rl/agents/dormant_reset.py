"""DrM's dormant-ratio-guided perturbation (Xu et al. 2024, "DrM: Mastering Visual RL through
Dormant Ratio Minimization"): when many of the actor's units have gone dormant, every weight
is pulled part of the way toward a freshly initialised network,

    theta <- alpha * theta + (1 - alpha) * theta_fresh,
    alpha  = clip(1 - k * beta, alpha_min, alpha_max)     (beta: the actor's dormant ratio),

so the more of the network is dormant, the larger the step toward a fresh network (DrM's
configs: k = 2, alpha in [0.2, 0.9] on manipulation tasks; DrM perturbs on a fixed period,
here the agent may also wait for the ratio to pass a threshold). Unlike a full reset, most of what the network learned survives
(alpha >= alpha_min), while the fresh part revives dead units. Which networks are perturbed,
and the optimiser state, are the SAC agent's business (agents/sac.py ``perturb_dormant``).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def perturb_factor(dormant_ratio: float, *, rate: float, low: float, high: float) -> float:
    """DrM's alpha: the share of the old weights kept, clip(1 - rate * dormant_ratio, low, high)."""
    return min(max(1.0 - rate * dormant_ratio, low), high)


@torch.no_grad()
def perturb_toward(
    module: nn.Module, fresh: nn.Module, alpha: float, *, trainable_only: bool = True
) -> list[torch.Tensor]:
    """theta <- alpha * theta + (1 - alpha) * theta_fresh for every parameter of ``module``,
    ``fresh`` being a newly initialised module of the same structure; with ``trainable_only``
    frozen ones (requires_grad False) stay (a target network passes False). Returns the
    parameters changed (their optimiser state is stale)."""
    changed: list[torch.Tensor] = []
    pairs = zip(module.named_parameters(), fresh.named_parameters(), strict=True)
    for (name, param), (fresh_name, fresh_param) in pairs:
        if name != fresh_name or param.shape != fresh_param.shape:
            raise ValueError(
                f"perturb_toward: {name} {tuple(param.shape)} does not match "
                f"the fresh network's {fresh_name} {tuple(fresh_param.shape)}"
            )
        if trainable_only and not param.requires_grad:
            continue
        param.lerp_(fresh_param.to(param.device, param.dtype), 1.0 - alpha)
        changed.append(param)
    return changed


def forget_optimizer_state(
    optimizer: torch.optim.Optimizer, params: Iterable[torch.Tensor]
) -> None:
    """Drop Adam's moments and step count of ``params``: they describe weights that are gone,
    and the next step starts them afresh (bias correction included)."""
    for param in params:
        optimizer.state.pop(param, None)


__all__ = ["forget_optimizer_state", "perturb_factor", "perturb_toward"]
