"""Networks shared by the agents: LayerNorm MLPs, a vectorised critic ensemble, a tanh-Gaussian
actor, and the acting policy module (encoder + actor) that the actor process loads.

The critic ensemble keeps all members' weights stacked, shape ``(E, in, out)``, so the E
critics run as one matmul + (E - 1) batched matmuls instead of a Python loop over modules.
Its first layer sees the same input for every member, so it is one ``(B, in) @ (in, E*out)``
matmul; the target computation gathers only the sampled members' weights.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robot_rl.agents.encoders import EncoderConfig, ObservationEncoder
from robot_rl.envs.finite import NonFiniteActionError, check_finite_weights
from robot_rl.envs.spec import ObsSpec

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
# Demo actions at +-1 (a gripper fully closed) have no finite tanh-Gaussian likelihood; their
# log-likelihood is taken just inside (atanh(1 - 1e-4) = 4.95).
NLL_ACTION_LIMIT = 1.0 - 1e-4


def demo_action_error(
    mean: torch.Tensor, action: torch.Tensor, is_demo: torch.Tensor | None = None
) -> torch.Tensor:
    """Squared distance of the squashed mean tanh(mean) (B, A) to the demonstrated action,
    averaged over the rows where ``is_demo`` (B,) is 1 (over every row when it is None)."""
    error = (torch.tanh(mean) - action).pow(2).sum(-1)  # (B,)
    if is_demo is None:
        return error.mean()
    weight = is_demo.float()
    return (error * weight).sum() / weight.sum().clamp_min(1.0)


def resolve_device(device: torch.device | str) -> torch.device:
    """ "auto" -> cuda when available, else cpu; anything else as given."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def cpu_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """A module's tensors copied to CPU and made contiguous (what goes on the wire)."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in module.state_dict().items()}


def make_adam(params: Sequence[torch.Tensor], lr: float, *, fused: bool) -> torch.optim.Adam:
    """Adam, fused (one kernel for all tensors) when asked, else foreach (multi-tensor)."""
    params = list(params)
    if fused:
        return torch.optim.Adam(params, lr=lr, fused=True)
    return torch.optim.Adam(params, lr=lr, foreach=True)


def mlp(in_dim: int, hidden_dims: Sequence[int], out_dim: int) -> nn.Sequential:
    """Linear -> LayerNorm -> ReLU per hidden layer, then a linear head."""
    layers: list[nn.Module] = []
    for h in hidden_dims:
        layers += [nn.Linear(in_dim, h), nn.LayerNorm(h), nn.ReLU(inplace=True)]
        in_dim = h
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


def mlp_hidden_activations(net: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """The output (B, H) of every hidden ReLU of an :func:`mlp` on input x (B, in)."""
    out = []
    for layer in net:
        x = layer(x)
        if isinstance(layer, nn.ReLU):
            out.append(x)
    return out


class CriticEnsemble(nn.Module):
    """E independent LayerNorm MLP Q-functions Q_e(features, action), evaluated together.

    ``out_dim`` 1: each member outputs its Q-value; more: each outputs that many logits (the
    bins of an HL-Gauss value histogram)."""

    def __init__(
        self, in_dim: int, hidden_dims: Sequence[int], ensemble_size: int, *, out_dim: int = 1
    ) -> None:
        super().__init__()
        e, dims = ensemble_size, [in_dim, *hidden_dims, out_dim]
        self.ensemble_size = e
        self.out_dim = out_dim
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.ln_weights = nn.ParameterList()
        self.ln_biases = nn.ParameterList()
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(dims)):
            bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default init, per member
            self.weights.append(
                nn.Parameter(torch.empty(e, fan_in, fan_out).uniform_(-bound, bound))
            )
            self.biases.append(nn.Parameter(torch.empty(e, 1, fan_out).uniform_(-bound, bound)))
            if i < len(dims) - 2:
                self.ln_weights.append(nn.Parameter(torch.ones(e, 1, fan_out)))
                self.ln_biases.append(nn.Parameter(torch.zeros(e, 1, fan_out)))

    def forward(
        self,
        features: torch.Tensor,
        action: torch.Tensor,
        *,
        members: torch.Tensor | None = None,
        hidden: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Q-values (E, B), or (len(members), B) for a subset of member indices; with
        ``out_dim`` > 1, logits (E, B, out_dim). ``hidden``: a list that receives every hidden
        layer's ReLU output (E, B, H) (for the dormant-neuron ratio)."""
        x = torch.cat([features, action], -1)  # (B, in)
        ws, bs = list(self.weights), list(self.biases)
        gs, betas = list(self.ln_weights), list(self.ln_biases)
        if members is not None:
            ws, bs = [w[members] for w in ws], [b[members] for b in bs]
            gs, betas = [g[members] for g in gs], [b[members] for b in betas]
        e, fan_in, fan_out = ws[0].shape
        # Shared input: one matmul for all members, (B, in) @ (in, E*out).
        h = x @ ws[0].transpose(0, 1).reshape(fan_in, e * fan_out)
        # (E, B, out) contiguous: elementwise ops on the transposed view run ~5x slower.
        h = h.view(-1, e, fan_out).transpose(0, 1).contiguous() + bs[0]
        for i in range(1, len(ws)):
            h = torch.addcmul(betas[i - 1], F.layer_norm(h, h.shape[-1:]), gs[i - 1])
            h = F.relu(h, inplace=True)
            if hidden is not None:
                hidden.append(h)
            h = torch.baddbmm(bs[i], h, ws[i])
        return h.squeeze(-1) if self.out_dim == 1 else h


class TanhGaussianActor(nn.Module):
    """pi(a | features): Gaussian squashed by tanh into [-1, 1]^A."""

    def __init__(
        self,
        in_dim: int,
        hidden_dims: Sequence[int],
        action_dim: int,
        *,
        residual_scale: float | Sequence[float] | None = None,
        fixed_std: float | None = None,
    ) -> None:
        """``residual_scale``: the actor is a bounded residual on a base policy's pre-tanh mean
        (mean = base + residual_scale * tanh(net)), one bound for every entry or one per entry
        (A values); None: the network's output is the mean.
        ``fixed_std``: the pre-tanh std is this constant in every state instead of learned."""
        super().__init__()
        self.net = mlp(in_dim, hidden_dims, 2 * action_dim)
        self.residual_scale: float | None = None  # one bound (or per entry: the buffer below)
        self._per_entry_residual = False
        self._residual_scales: torch.Tensor  # (A,), when per entry
        if residual_scale is None or isinstance(residual_scale, int | float):
            self.residual_scale = residual_scale
        else:
            if len(residual_scale) != action_dim:
                raise ValueError(
                    f"residual_scales: expected {action_dim} values (one per action entry the "
                    f"actor outputs), got {len(residual_scale)}"
                )
            # not persistent: built from the config on both ends, so policy files keep their keys
            self.register_buffer(
                "_residual_scales", torch.tensor(residual_scale, dtype=torch.float32), False
            )
            self._per_entry_residual = True
        self.fixed_log_std: float | None = None
        if fixed_std is not None:
            if not math.exp(LOG_STD_MIN) <= fixed_std <= math.exp(LOG_STD_MAX):
                raise ValueError(
                    f"action_std must be in [{math.exp(LOG_STD_MIN):.4f}, "
                    f"{math.exp(LOG_STD_MAX):.2f}], got {fixed_std}"
                )
            self.fixed_log_std = math.log(fixed_std)
        if self.is_residual:
            with torch.no_grad():  # start at the base policy: a near-zero residual
                last = self.net[-1]
                assert isinstance(last, nn.Linear)
                last.weight[:action_dim].mul_(0.01)
                last.bias[:action_dim].zero_()

    def forward(
        self, features: torch.Tensor, base: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-std (B, A) of the pre-tanh Gaussian (``base``: the base policy's
        pre-tanh mean (B, A), required when the actor is a residual)."""
        mean, log_std = self.net(features).chunk(2, -1)
        if self.fixed_log_std is not None:
            log_std = torch.full_like(mean, self.fixed_log_std)
        else:
            log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        if self.is_residual:
            if base is None:
                raise ValueError("a residual actor needs the base policy's mean")
            if self._per_entry_residual:
                mean = base + self._residual_scales * torch.tanh(mean)
            else:
                assert self.residual_scale is not None
                mean = base + self.residual_scale * torch.tanh(mean)
        return mean, log_std

    @property
    def is_residual(self) -> bool:
        """Whether the mean is a bounded residual on a base policy's mean."""
        return self.residual_scale is not None or self._per_entry_residual

    def sample(
        self,
        features: torch.Tensor,
        generator: torch.Generator | None = None,
        base: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised action (B, A) and its log-probability (B,)."""
        mean, log_std = self(features, base)
        noise = torch.randn(mean.shape, device=mean.device, generator=generator)
        u = mean + log_std.exp() * noise
        log_prob = (-0.5 * noise.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        # log|d tanh(u)/du| = 2 (log 2 - u - softplus(-2u)), stable for large |u|.
        log_prob = log_prob - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)
        return torch.tanh(u), log_prob

    def log_prob(
        self, features: torch.Tensor, action: torch.Tensor, base: torch.Tensor | None = None
    ) -> torch.Tensor:
        """log pi(action | features) (B,) for actions strictly inside (-1, 1)."""
        mean, log_std = self(features, base)
        u = torch.atanh(action)
        z = (u - mean) / log_std.exp()
        log_prob = (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        return log_prob - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)


class ActorPolicy(nn.Module):
    """Encoder + tanh-Gaussian actor: everything needed to act, nothing needed to learn."""

    def __init__(
        self,
        obs_spec: ObsSpec,
        action_dim: int,
        encoder: EncoderConfig,
        hidden_dims: Sequence[int],
        *,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.obs_spec = dict(obs_spec)
        self.action_dim = action_dim
        self.encoder = ObservationEncoder(obs_spec, encoder)
        self.actor = TanhGaussianActor(self.encoder.out_dim, hidden_dims, action_dim)
        self._seed = seed
        self._generator: torch.Generator | None = None
        self.always_deterministic = False  # BC with an MSE loss has no meaningful std

    def mean_log_std(self, obs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The pre-tanh Gaussian (B, A) for a batched observation."""
        return self.actor(self.encoder(obs))  # type: ignore[no-any-return]

    def _noise_generator(self, device: torch.device) -> torch.Generator:
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device)
            self._generator.manual_seed(self._seed)
        return self._generator

    def act(self, obs: dict[str, np.ndarray], *, deterministic: bool = False) -> np.ndarray:
        """Action float32 (A,) in [-1, 1] for one unbatched observation.

        Raises NonFiniteActionError (a ValueError) if the network outputs a non-finite action
        (never sent to the env; the actor hands it to the safety layer, which holds).
        """
        device = next(self.parameters()).device
        batch: dict[str, torch.Tensor] = {}
        for key in self.encoder.image_keys + self.encoder.state_keys:
            if key not in obs:
                raise KeyError(
                    f"observation is missing key {key!r} (policy expects {sorted(self.obs_spec)})"
                )
            batch[key] = torch.as_tensor(np.asarray(obs[key])).unsqueeze(0).to(device)
        with torch.inference_mode():
            action = self.act_batch(batch, deterministic=deterministic)
        out = action[0].to("cpu", torch.float32).numpy()
        if not np.isfinite(out).all():
            raise NonFiniteActionError(
                f"policy produced a non-finite action {out}; not sending it to the env", out
            )
        return out

    def act_batch(self, obs: dict[str, torch.Tensor], *, deterministic: bool) -> torch.Tensor:
        """Actions (B, A) in [-1, 1] for a batched observation: tanh of the mean, or of a
        sample drawn with the policy's own noise generator."""
        mean, log_std = self.mean_log_std(obs)
        if deterministic or self.always_deterministic:
            return torch.tanh(mean)
        gen = self._noise_generator(mean.device)
        noise = torch.randn(mean.shape, device=mean.device, generator=gen)
        return torch.tanh(mean + log_std.exp() * noise)

    def load_state_dict(  # type: ignore[override]
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any:
        """nn.Module.load_state_dict, refusing (NonFiniteWeightsError, nothing loaded) weights
        with a NaN or inf entry: a policy that acts on them only ever outputs NaN."""
        check_finite_weights(state_dict, where=f"{type(self).__name__}.load_state_dict")
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
