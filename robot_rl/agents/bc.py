"""Behaviour cloning baseline on demonstrations, with SAC's encoder and actor architecture so
that it is evaluated, pushed and loaded by the same code (``act``, ``policy_state_dict``).

Loss "mse": squared error between tanh(mean) and the demo action (deterministic policy).
Loss "nll": negative log-likelihood of the demo action under the tanh-Gaussian (stochastic).
Unlike SAC, the encoder is trained by the BC loss (there is no critic).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from robot_rl import keys
from robot_rl.agents.encoders import EncoderConfig, random_shift
from robot_rl.agents.networks import (
    NLL_ACTION_LIMIT,
    ActorPolicy,
    cpu_state_dict,
    demo_action_error,
    make_adam,
    resolve_device,
)
from robot_rl.envs.spec import ObsSpec


@dataclass
class BCConfig:
    """Behaviour cloning hyper-parameters."""

    hidden_dims: tuple[int, ...] = (256, 256)
    """Hidden layer sizes of the actor MLP (Linear -> LayerNorm -> ReLU)."""
    loss: Literal["mse", "nll"] = "mse"
    """mse: regress tanh(mean) on demo actions; nll: tanh-Gaussian log-likelihood."""
    lr: float = 3e-4
    """Adam learning rate (actor and encoder)."""
    batch_size: int = 256
    """Demo transitions per update."""
    num_updates: int = 5_000
    """Gradient updates of offline training."""
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    """Image encoder (same options as SAC)."""
    fused_optimizer: bool = True
    """Use fused Adam kernels; else multi-tensor foreach Adam."""

    def validate(self) -> None:
        """Raise ValueError naming the bad field."""
        if not self.hidden_dims or any(h <= 0 for h in self.hidden_dims):
            raise ValueError("hidden_dims must be a non-empty list of positive ints")
        if not self.lr > 0:
            raise ValueError("lr must be > 0")
        for name in ("batch_size", "num_updates"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        self.encoder.validate()


class BCPolicy(ActorPolicy):
    """The acting half of BC (encoder + actor), built by the actor process from the config."""

    def __init__(self, obs_spec: ObsSpec, action_dim: int, config: BCConfig, *, seed: int = 0):
        super().__init__(obs_spec, action_dim, config.encoder, config.hidden_dims, seed=seed)
        self.always_deterministic = config.loss == "mse"


class BC:
    """Learner-side BC: the policy, its optimiser and the update step."""

    def __init__(
        self,
        obs_spec: ObsSpec,
        action_dim: int,
        config: BCConfig,
        *,
        device: torch.device | str = "auto",
        seed: int = 0,
    ) -> None:
        config.validate()
        self.config = config
        self.device = resolve_device(device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.policy = BCPolicy(obs_spec, action_dim, config, seed=seed + 1).to(self.device)
        params = [p for p in self.policy.parameters() if p.requires_grad]
        self.optimizer = make_adam(params, config.lr, fused=config.fused_optimizer)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed + 2)
        self.updates = 0

    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        """BC loss on a batch with "obs" and "action" (other entries are ignored)."""
        pad = self.config.encoder.drq_pad
        image_keys = self.policy.encoder.image_keys
        obs = {
            k: random_shift(v, pad, self.generator) if k in image_keys else v
            for k, v in batch[keys.OBS].items()
        }
        features = self.policy.encoder(obs)
        demo_action = batch[keys.ACTION].float()
        if self.config.loss == "mse":
            mean, _ = self.policy.actor(features)
            return demo_action_error(mean, demo_action)
        clipped = demo_action.clamp(-NLL_ACTION_LIMIT, NLL_ACTION_LIMIT)
        return -self.policy.actor.log_prob(features, clipped).mean()

    def update(self, batch: dict[str, Any]) -> dict[str, float]:
        """One gradient step; raises FloatingPointError if the loss is not finite."""
        loss = self.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.updates += 1
        value = float(loss.detach())
        if not np.isfinite(value):
            raise FloatingPointError(f"BC update {self.updates}: losses/bc is {value} (non-finite)")
        return {"losses/bc": value}

    def act(self, obs: dict[str, np.ndarray], *, deterministic: bool = False) -> np.ndarray:
        """Action float32 (A,) for one unbatched observation (see ActorPolicy.act)."""
        return self.policy.act(obs, deterministic=deterministic)

    def policy_state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors a BCPolicy needs to act, on CPU and contiguous."""
        return cpu_state_dict(self.policy)

    def state_dict(self) -> dict[str, Any]:
        """Policy, optimiser and counter (tensors and plain values only)."""
        return {
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
        for name in ("policy", "optimizer", "updates"):
            if name not in state:
                raise KeyError(f"BC state is missing {name!r} (not a BC checkpoint?)")
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
