"""Dormant-neuron ratio (ReDo, Sokar et al. 2023; DrM, Xu et al. 2024): the fraction of
hidden units whose activity has died, a sign that a network is losing its capacity to learn.

A unit is dormant when its mean absolute activation over a batch, divided by the mean of that
over its layer, is at most ``tau``. Only measured here (a logged metric), never acted on.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

DORMANT_TAU = 0.025
"""ReDo's threshold for networks with ReLU units (DrM uses the same order)."""


def dormant_counts(activation: torch.Tensor, tau: float = DORMANT_TAU) -> tuple[int, int]:
    """(dormant units, units) of one hidden layer's activations (..., B, H): the batch is the
    second-last dim; leading dims (ensemble members) are separate layers."""
    score = activation.abs().mean(-2)  # (..., H)
    layer_mean = score.mean(-1, keepdim=True)  # (..., 1)
    # A layer that is all zero has layer_mean 0: every unit in it is dormant (score 0 <= tau).
    dormant = score <= tau * layer_mean
    return int(dormant.sum()), dormant.numel()


def dormant_ratio(activations: Sequence[torch.Tensor], tau: float = DORMANT_TAU) -> float:
    """Dormant units / units over all the given hidden layers (each (..., B, H))."""
    dormant = total = 0
    for activation in activations:
        d, n = dormant_counts(activation, tau)
        dormant, total = dormant + d, total + n
    return dormant / max(total, 1)
