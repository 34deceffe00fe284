"""HL-Gauss classification critic (Farebrother et al. 2024, "Stop Regressing"): the value is a
histogram over fixed bins of the return range, trained with a cross-entropy against a target
histogram that spreads the scalar TD target as a Gaussian over the bins.

Written by hand: the whole method is a bin grid, an erf difference and a softmax; no library
ships it apart from a framework we do not use.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class HLGaussSupport:
    """Bins of [low, high] and the maps between scalar values and histograms over them."""

    def __init__(
        self,
        low: float,
        high: float,
        bins: int,
        sigma: float,
        *,
        device: torch.device | str = "cpu",
    ) -> None:
        """``bins`` equal bins over [low, high]; ``sigma``: the target Gaussian's std as a
        fraction of the bin width (the paper's recommendation: 0.75)."""
        if not low < high:
            raise ValueError(f"q_target_bounds must have low < high, got [{low}, {high}]")
        if bins < 2:
            raise ValueError(f"hl_gauss_bins must be >= 2, got {bins}")
        if not sigma > 0:
            raise ValueError(f"hl_gauss_sigma must be > 0, got {sigma}")
        self.bins = bins
        self.edges = torch.linspace(low, high, bins + 1, device=device)  # (K + 1,)
        self.centres = 0.5 * (self.edges[:-1] + self.edges[1:])  # (K,)
        self.sigma = sigma * (high - low) / bins  # in value units

    def to_histogram(self, target: torch.Tensor) -> torch.Tensor:
        """Target histogram (..., K): the mass of N(target, sigma) in each bin, normalised
        over the support (a target at a bound keeps the half of its mass that lies inside)."""
        z = (self.edges - target.unsqueeze(-1)) / (self.sigma * math.sqrt(2.0))  # (..., K + 1)
        cdf = torch.erf(z)
        mass = cdf[..., 1:] - cdf[..., :-1]  # (..., K)
        return mass / mass.sum(-1, keepdim=True).clamp_min(1e-12)

    def expected(self, logits: torch.Tensor) -> torch.Tensor:
        """Q (...,) = sum_k softmax(logits)_k * centre_k for logits (..., K)."""
        return (torch.softmax(logits, -1) * self.centres).sum(-1)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of logits (E, B, K) against the histograms of target (B,)."""
        histogram = self.to_histogram(target)  # (B, K), broadcast over the ensemble
        return -(histogram * F.log_softmax(logits, -1)).sum(-1).mean()
