"""SAC with the SERL/RLPD recipe: LayerNorm critic ensemble with subsampled min targets, high
update-to-data ratio, DrQ random shifts, an image encoder trained only by the critic.

Reads top to bottom like CleanRL's ``sac_continuous_action.py``: config, networks, losses,
update step. Deviation from SERL, on purpose: as in DrQ-v2 there is no target *encoder*;
next observations are encoded once (no grad) by the online encoder and the features are used
by both the actor (next action) and the target critic heads. This halves the encoder work of
a critic step on CPU, where the encoder dominates the cost.

Batch format (``update``): ``{"obs": {key: (N, ...)}, "next_obs": {key: (N, ...)},
"action": (N, A) float32, "reward": (N,) float32, "terminated": (N,) float32 0/1}`` with
images uint8 (N, H, W, 3) and N = utd_ratio * batch_size (``grasp_penalty`` also needs
``"prev_action": (N, A)``, which replay batches carry; ``calql_alpha`` reads ``"mc_return"``
(N,), the rows' Monte-Carlo returns-to-go, NaN where unknown, when the batch has it).

With ``gripper_critic`` the actor and critic see the arm entries only and a discrete head
(agents/gripper.py) picks the gripper, the action's last entry.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from robot_rl import keys
from robot_rl.agents.bc_decay import SuccessWindow, decayed_bc_weight
from robot_rl.agents.dormant import dormant_ratio
from robot_rl.agents.dormant_reset import forget_optimizer_state, perturb_factor, perturb_toward
from robot_rl.agents.encoders import EncoderConfig, ObservationEncoder, random_shift
from robot_rl.agents.gripper import GRIPPER_CLASSES, GripperCritic, command_of, gripper_td_loss
from robot_rl.agents.hl_gauss import HLGaussSupport
from robot_rl.agents.networks import (
    NLL_ACTION_LIMIT,
    ActorPolicy,
    CriticEnsemble,
    TanhGaussianActor,
    cpu_state_dict,
    demo_action_error,
    make_adam,
    mlp_hidden_activations,
    resolve_device,
)
from robot_rl.envs.spec import ObsSpec


# ---------------------------------------------------------------------------------- config
@dataclass
class SACConfig:
    """SAC / RLPD hyper-parameters (defaults: SERL's recipe)."""

    hidden_dims: tuple[int, ...] = (256, 256)
    """Hidden layer sizes of actor and critic MLPs (each Linear -> LayerNorm -> ReLU)."""
    critic_ensemble_size: int = 10
    """Number of Q-functions in the critic ensemble (RLPD/SERL: 10)."""
    critic_subsample: int = 2
    """Target Q = min over this many randomly chosen target critics (RLPD: 2)."""
    utd_ratio: int = 4
    """Critic updates per actor update; one update() call consumes utd_ratio minibatches."""
    batch_size: int = 256
    """Transitions per minibatch (half demos, half online when demos exist)."""
    discount: float = 0.97
    """Per-step discount factor gamma."""
    n_step: int = 1
    """Rewards summed per TD target: r_t + ... + gamma^(n-1) r_(t+n-1) + gamma^n Q(s_(t+n)),
    cut at the episode's end (1: one-step SAC). Longer sums carry a sparse success back faster
    and lean less on a bootstrap that is still wrong."""
    actor_lr: float = 3e-4
    """Adam learning rate of the actor."""
    critic_lr: float = 3e-4
    """Adam learning rate of the critic ensemble and the image encoder."""
    temp_lr: float = 3e-4
    """Adam learning rate of log(temperature)."""
    tau: float = 0.005
    """Polyak rate of the target critics, applied after every critic update."""
    init_temperature: float = 1e-2
    """Initial entropy temperature alpha; small so that sparse 0/1 rewards are not drowned by entropy bonuses."""
    target_entropy: float | None = None
    """Entropy the temperature steers to; None means -action_dim / 2 (SERL)."""
    backup_entropy: bool = False
    """Subtract alpha * log pi(a'|s') in the critic target (RLPD/SERL default: off)."""
    demo_fraction: float = 0.5
    """Fraction of each batch drawn from demonstrations (RLPD symmetric sampling)."""
    bc_weight: float = 0.0
    """Weight of a behaviour-cloning term on demo rows in the actor loss (0: pure RLPD)."""
    bc_loss: Literal["mse", "nll"] = "mse"
    """The BC term: "mse" pulls the policy's mean action to the demo action; "nll" is the demo
    action's negative log-likelihood, which also fits the policy's spread to the demos' (the
    std that online exploration samples with)."""
    base_policy: Literal["none", "bc"] = "none"
    """"bc": the actor is a bounded residual on a behaviour-cloning base policy (its own
    encoder and MLP, fitted to the demo buffer: ``base_pretrain_updates`` steps before the
    first online update, then one step per update). The critic can move the base's pre-tanh
    mean by at most ``residual_scale`` per entry, so where its values are still guesses it
    cannot pull the policy away from what the demos do, and exploration starts around the
    demonstrated behaviour. "none": plain SAC."""
    residual_scale: float = 0.5
    """Largest change the residual makes to the base policy's pre-tanh mean, per entry."""
    residual_scales: tuple[float, ...] | None = None
    """One ``residual_scale`` per action entry the actor outputs (the arm's, without the
    gripper head's), in place of the single bound: e.g. a small bound across an insertion for
    its millimetres and a larger one along it, so the residual can stop or reverse the base's
    push. None: ``residual_scale`` for every entry."""
    base_pretrain_updates: int = 2000
    """Behaviour-cloning steps of the base policy on the demos before online learning."""
    actor_delay: int = 0
    """update() calls at the start in which only the critics (and a base policy) learn: the
    actor and the temperature stay as they are. The critic first learns the value of the
    policy that acts (a base policy started from the demos) instead of the actor climbing an
    untrained critic's noise from the first update."""
    action_std: float | None = None
    """A fixed pre-tanh std of the actor's exploration noise, the same in every state (None:
    learned, as SAC does). Measured on pick_cube_hard: a learned std grew from 0.07 to 0.2
    within 250 updates (Adam turns even a tiny entropy bonus into full-size steps) and online
    success fell with it, from 26 % to 5 %; a policy started from demonstrations explores
    around them with a small std (BC plus noise 0.05: 80 %, plus 0.3: 30 %). With a fixed
    std the temperature stays at ``init_temperature``: the only entropy left to steer is the
    tanh squashing's, and steering it toward ``target_entropy`` pushes every action toward 0
    (measured on peg_insert before this rule: the temperature grew from 0.01 to 12.9 over 18k
    updates and the entropy term was 700 times the Q term of the actor loss)."""
    q_target_bounds: tuple[float, ...] | None = None
    """(low, high) clamp of the TD target: the range of returns the task can have (None: no clamp)."""
    critic_loss: Literal["mse", "hl_gauss"] = "mse"
    """"mse": each critic regresses its Q-value on the TD target. "hl_gauss" (Stop Regressing,
    Farebrother et al. 2024): each critic outputs ``hl_gauss_bins`` logits over bins of
    ``q_target_bounds`` (required), Q is the histogram's mean, and the loss is the cross-entropy
    against the TD target spread as a Gaussian over the bins. Target minima and the actor use
    the mean."""
    hl_gauss_bins: int = 51
    """Bins of the HL-Gauss value histogram (``critic_loss`` "hl_gauss")."""
    hl_gauss_sigma: float = 0.75
    """Std of the HL-Gauss target Gaussian as a fraction of the bin width (the paper: 0.75)."""
    calql_alpha: float = 0.0
    """Weight of Cal-QL's calibrated conservative term in the critic loss (Nakamoto et al. 2023;
    0: off; CQL/Cal-QL papers: 5 on their manipulation tasks). On every row it pushes down a
    soft maximum of Q over sampled actions (``calql_actions`` from the policy at s, as many at
    s' with ``calql_next_actions``, as many uniform in [-1, 1]) and pushes up Q of the data
    action, each policy sample's Q first raised to at least the row's Monte-Carlo return
    (``keys.MC_RETURN``: the demos'; where none is known, the low end of ``q_target_bounds``,
    or no floor without bounds). See ``calql_penalty``. Costs a critic forward and backward on
    (2 or 3) * ``calql_actions`` times the minibatch per critic update."""
    calql_actions: int = 4
    """Actions sampled per row and per source (policy at s, policy at s', uniform) for the
    Cal-QL term (Cal-QL: 10)."""
    calql_next_actions: bool = True
    """Also sample the Cal-QL term's policy actions at the next observation (CQL and Cal-QL do,
    valued at s); off: the policy at s and uniform actions only, a third less cost."""
    calql_pretrain_only: bool = False
    """Apply the Cal-QL term in the ``critic_pretrain_updates`` alone, not online (WSRL, Zhou et
    al. 2024: a conservative critic offline, then plain SAC fine-tuning, which also saves the
    term's cost on every online update); false: in every update, as Cal-QL fine-tunes."""
    critic_pretrain_updates: int = 0
    """Full SAC updates (critics, actor, temperature, and the Cal-QL term when on) on batches of
    demos alone before online learning, after the base policy's pre-training: the WSRL /
    Cal-QL offline phase, so that online learning starts with a critic that knows the demos'
    values and an actor that climbs it (0: none). Costs this many updates at start-up."""
    gripper_critic: bool = False
    """HIL-SERL's discrete gripper (agents/gripper.py): the actor and critic handle the arm
    entries only (all but the last), and a DQN head on the encoded observation (2 Q-networks,
    min, its own target network and Adam at ``critic_lr``) picks the last entry, open (-1) or
    close (+1). Its TD target: the same reward, discount and done mask as the arm critic, with
    the next state's class chosen greedily by the online head and valued by the target head
    (double DQN). Needs an action of at least 2 entries, the gripper last, as an absolute
    command (-1 open .. +1 closed)."""
    gripper_epsilon: float = 0.1
    """Probability that a sampled (exploring) action takes a uniformly random gripper class
    instead of the greedy one (``gripper_critic``); deterministic actions are greedy."""
    gripper_demo_margin: float = 0.0
    """DQfD's large-margin term on demo rows for the gripper head (0: off): the demonstrated
    class must beat the other by this much in Q on demo states (agents/gripper.py). Without
    it the head learns only the demo's class at each demo state, and its greedy choice there
    agreed with the demos on 44-78 % of pick_cube_hard's demo states over 1000 demo-only
    updates."""
    grasp_penalty: float = 0.0
    """Subtracted from the reward, for the gripper head only, on steps that toggle the gripper:
    the executed command moves away from the end (-1 or +1) that the previous step's held
    (agents/gripper.py; HIL-SERL: 0.02). Needs batches with ``keys.PREV_ACTION`` (the replay
    buffer's)."""
    bc_weight_decay: bool = False
    """Scale the BC term down as the policy succeeds by itself (agents/bc_decay.py): the weight
    used is max(``bc_weight`` * (1 - online success rate), ``bc_weight_min``), the rate being
    the successes among the last ``bc_decay_window`` online episodes that ended without a human
    intervention (the learner feeds them as they end; none yet: the full ``bc_weight``). Needs
    ``bc_weight`` > 0."""
    bc_weight_min: float = 0.0
    """Floor of the decayed BC weight (``bc_weight_decay``), at most ``bc_weight``."""
    bc_decay_window: int = 20
    """Online episodes the success rate of ``bc_weight_decay`` is taken over (the newest)."""
    dormant_reset: bool = False
    """DrM's dormant-ratio-guided perturbation (agents/dormant_reset.py): every
    ``dormant_reset_every`` updates the actor's dormant-neuron ratio beta is measured on the
    update's last minibatch; above ``dormant_reset_threshold`` the actor, the critic ensemble
    and its targets, a conv image encoder and the gripper head (and its target) move toward a
    freshly initialised network, theta <- alpha theta + (1 - alpha) theta_fresh with
    alpha = clip(1 - ``dormant_reset_rate`` * beta, ``dormant_reset_alpha_min``,
    ``dormant_reset_alpha_max``), and the Adam state of what moved is dropped. Never
    perturbed: the BC base policy (``base_policy`` "bc", the demos' behaviour), a
    "pretrained" encoder (its trunk is frozen; its spatial embeddings stay too), the
    temperature."""
    dormant_reset_every: int = 5000
    """update() calls between two dormant-ratio checks of ``dormant_reset``."""
    dormant_reset_threshold: float = 0.2
    """Actor dormant ratio above which ``dormant_reset`` perturbs (0: at every check, DrM's
    own rule, a fixed period; 0.2 is DrM's target dormant ratio of its exploration schedule)."""
    dormant_reset_rate: float = 2.0
    """k of the perturb factor alpha = clip(1 - k * beta, min, max) (DrM: 2)."""
    dormant_reset_alpha_min: float = 0.2
    """Smallest share of the old weights a perturbation keeps (DrM: 0.2)."""
    dormant_reset_alpha_max: float = 0.9
    """Largest share of the old weights a perturbation keeps (DrM: 0.9 on manipulation tasks,
    0.6 on its hardest locomotion)."""
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    """Image encoder (conv / frozen pretrained / none), DrQ pad and memory format."""
    fused_optimizer: bool = True
    """Use fused Adam kernels (faster on CPU and CUDA); else multi-tensor foreach Adam."""
    compile: bool = False
    """torch.compile the encoder, actor and critic (needs a C++ toolchain; slow first update)."""

    def validate(self) -> None:
        """Raise ValueError naming the bad field."""
        if not self.hidden_dims or any(h <= 0 for h in self.hidden_dims):
            raise ValueError("hidden_dims must be a non-empty list of positive ints")
        if self.critic_ensemble_size < 1:
            raise ValueError("critic_ensemble_size must be >= 1")
        if not 1 <= self.critic_subsample <= self.critic_ensemble_size:
            raise ValueError("critic_subsample must be in [1, critic_ensemble_size]")
        if self.base_policy not in ("none", "bc"):
            raise ValueError(f"base_policy: expected 'none' or 'bc', got {self.base_policy!r}")
        if not self.residual_scale > 0:
            raise ValueError("residual_scale must be > 0")
        if self.residual_scales is not None and not (
            len(self.residual_scales) > 0
            and all(math.isfinite(v) and v > 0 for v in self.residual_scales)
        ):
            raise ValueError(
                f"residual_scales must be finite numbers > 0, got {list(self.residual_scales)}"
            )
        if self.base_pretrain_updates < 0:
            raise ValueError("base_pretrain_updates must be >= 0")
        if self.actor_delay < 0:
            raise ValueError("actor_delay must be >= 0")
        for name in ("utd_ratio", "batch_size", "n_step"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if not 0.0 <= self.discount <= 1.0:
            raise ValueError("discount must be in [0, 1]")
        for name in ("actor_lr", "critic_lr", "temp_lr", "init_temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError("tau must be in (0, 1]")
        if not 0.0 <= self.demo_fraction <= 1.0:
            raise ValueError("demo_fraction must be in [0, 1]")
        if not self.bc_weight >= 0.0:
            raise ValueError("bc_weight must be >= 0")
        if self.bc_loss not in ("mse", "nll"):
            raise ValueError(f"bc_loss: expected 'mse' or 'nll', got {self.bc_loss!r}")
        bounds = self.q_target_bounds
        if bounds is not None and (len(bounds) != 2 or not bounds[0] < bounds[1]):
            raise ValueError(f"q_target_bounds must be [low, high] with low < high, got {bounds}")
        if self.critic_loss not in ("mse", "hl_gauss"):
            raise ValueError(f"critic_loss: expected 'mse' or 'hl_gauss', got {self.critic_loss!r}")
        if self.critic_loss == "hl_gauss" and bounds is None:
            raise ValueError(
                "q_target_bounds is required with critic_loss 'hl_gauss' (the histogram's range)"
            )
        if self.hl_gauss_bins < 2:
            raise ValueError(f"hl_gauss_bins must be >= 2, got {self.hl_gauss_bins}")
        if not self.hl_gauss_sigma > 0:
            raise ValueError(f"hl_gauss_sigma must be > 0, got {self.hl_gauss_sigma}")
        if not 0.0 <= self.calql_alpha < math.inf:
            raise ValueError(f"calql_alpha must be a finite number >= 0, got {self.calql_alpha}")
        if self.calql_actions < 1:
            raise ValueError(f"calql_actions must be >= 1, got {self.calql_actions}")
        if self.critic_pretrain_updates < 0:
            raise ValueError(
                f"critic_pretrain_updates must be >= 0, got {self.critic_pretrain_updates}"
            )
        if self.calql_pretrain_only and not (
            self.calql_alpha > 0 and self.critic_pretrain_updates > 0
        ):
            raise ValueError(
                "calql_pretrain_only needs calql_alpha > 0 and critic_pretrain_updates > 0 "
                "(the term it keeps to pre-training, and the pre-training)"
            )
        if not 0.0 <= self.gripper_epsilon <= 1.0:
            raise ValueError(f"gripper_epsilon must be in [0, 1], got {self.gripper_epsilon}")
        for name in ("grasp_penalty", "gripper_demo_margin"):
            value = getattr(self, name)
            if not value >= 0.0:
                raise ValueError(f"{name} must be >= 0, got {value}")
            if value > 0 and not self.gripper_critic:
                raise ValueError(f"{name} > 0 needs gripper_critic: true (the head it trains)")
        if self.bc_decay_window < 1:
            raise ValueError(f"bc_decay_window must be >= 1, got {self.bc_decay_window}")
        if not 0.0 <= self.bc_weight_min <= self.bc_weight:
            raise ValueError(
                f"bc_weight_min must be in [0, bc_weight={self.bc_weight}], got {self.bc_weight_min}"
            )
        if self.bc_weight_decay and not self.bc_weight > 0:
            raise ValueError("bc_weight_decay needs bc_weight > 0 (the weight it decays)")
        if self.dormant_reset_every < 1:
            raise ValueError(f"dormant_reset_every must be >= 1, got {self.dormant_reset_every}")
        if not 0.0 <= self.dormant_reset_threshold <= 1.0:
            raise ValueError(
                f"dormant_reset_threshold must be in [0, 1], got {self.dormant_reset_threshold}"
            )
        if not self.dormant_reset_rate >= 0.0:
            raise ValueError(f"dormant_reset_rate must be >= 0, got {self.dormant_reset_rate}")
        low, high = self.dormant_reset_alpha_min, self.dormant_reset_alpha_max
        if not 0.0 <= low <= 1.0:
            raise ValueError(f"dormant_reset_alpha_min must be in [0, 1], got {low}")
        if not low <= high <= 1.0:
            raise ValueError(
                f"dormant_reset_alpha_max must be in [dormant_reset_alpha_min={low}, 1], got {high}"
            )
        self.encoder.validate()


# -------------------------------------------------------------------------------- networks
# The base policy's pre-tanh mean is clipped here (tanh(3) = 0.995) so that a residual can
# still move an entry the demos hold at +-1 (the gripper).
BASE_MEAN_LIMIT = 3.0


def arm_dim(action_dim: int, config: SACConfig) -> int:
    """Entries of the action the continuous actor and critic handle: all of them, or all but
    the gripper (the last) with ``gripper_critic``. Raises ValueError naming the field when
    the action has no arm entry besides the gripper."""
    if not config.gripper_critic:
        return action_dim
    if action_dim < 2:
        raise ValueError(
            f"gripper_critic: needs an action with arm entries and a gripper entry (the last), "
            f"got a {action_dim}-D action"
        )
    return action_dim - 1


PRETRAIN_PROGRESS_EVERY = 25
"""Pre-training steps between two ``on_progress`` reports of ``SAC.pretrain``."""


def make_actor(feature_dim: int, arm: int, config: SACConfig) -> TanhGaussianActor:
    """SAC's actor on ``feature_dim`` encoded features for ``arm`` action entries: a residual
    on a base policy's mean with ``base_policy`` "bc", a fixed std with ``action_std``. The one
    builder of Policy and of DrM's fresh network (``perturb_dormant``), so the two agree."""
    return TanhGaussianActor(
        feature_dim,
        config.hidden_dims,
        arm,
        residual_scale=(
            (config.residual_scales or config.residual_scale)
            if config.base_policy == "bc"
            else None
        ),
        fixed_std=config.action_std,
    )


def make_critic(feature_dim: int, arm: int, config: SACConfig) -> CriticEnsemble:
    """SAC's critic ensemble on encoded features and ``arm`` action entries: one value per
    critic, or ``hl_gauss_bins`` logits with ``critic_loss`` "hl_gauss"."""
    return CriticEnsemble(
        feature_dim + arm,
        config.hidden_dims,
        config.critic_ensemble_size,
        out_dim=config.hl_gauss_bins if config.critic_loss == "hl_gauss" else 1,
    )


def make_gripper(feature_dim: int, config: SACConfig) -> GripperCritic:
    """The discrete gripper head of ``gripper_critic`` on encoded features."""
    return GripperCritic(feature_dim, config.hidden_dims)


class Policy(ActorPolicy):
    """The acting half of SAC (encoder + actor, and with ``base_policy`` "bc" the base policy
    the actor is a residual on; with ``gripper_critic`` the gripper head that picks the last
    entry), built by the actor process from the config."""

    def __init__(self, obs_spec: ObsSpec, action_dim: int, config: SACConfig, *, seed: int = 0):
        arm = arm_dim(action_dim, config)
        super().__init__(obs_spec, arm, config.encoder, config.hidden_dims, seed=seed)
        self.action_dim = action_dim
        self.base: ActorPolicy | None = None
        if config.base_policy == "bc":
            self.base = ActorPolicy(obs_spec, arm, config.encoder, config.hidden_dims, seed=seed)
        if self.base is not None or config.action_std is not None:
            self.actor = make_actor(self.encoder.out_dim, arm, config)
        self.gripper: GripperCritic | None = None
        self.gripper_epsilon = config.gripper_epsilon
        if config.gripper_critic:
            self.gripper = make_gripper(self.encoder.out_dim, config)

    def base_mean(self, obs: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """The base policy's pre-tanh mean action (B, A), clipped; None without a base."""
        if self.base is None:
            return None
        mean, _ = self.base.mean_log_std(obs)
        return mean.clamp(-BASE_MEAN_LIMIT, BASE_MEAN_LIMIT)

    def mean_log_std(self, obs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.actor(self.encoder(obs), self.base_mean(obs))  # type: ignore[no-any-return]

    def act_batch(self, obs: dict[str, torch.Tensor], *, deterministic: bool) -> torch.Tensor:
        """Actions (B, A); with the gripper head, the arm's then the head's greedy gripper
        command, a uniformly random one with probability ``gripper_epsilon`` when sampling."""
        if self.gripper is None:
            return super().act_batch(obs, deterministic=deterministic)
        features = self.encoder(obs)
        mean, log_std = self.actor(features, self.base_mean(obs))
        classes = self.gripper.greedy(features)  # (B,)
        if deterministic:
            return torch.cat([torch.tanh(mean), command_of(classes)[:, None]], -1)
        gen = self._noise_generator(mean.device)
        noise = torch.randn(mean.shape, device=mean.device, generator=gen)
        explore = torch.rand(classes.shape, device=mean.device, generator=gen)
        random = torch.randint(
            len(GRIPPER_CLASSES), classes.shape, device=mean.device, generator=gen
        )
        classes = torch.where(explore < self.gripper_epsilon, random, classes)
        arm = torch.tanh(mean + log_std.exp() * noise)
        return torch.cat([arm, command_of(classes)[:, None]], -1)


def _split(batch: dict[str, Any], parts: int) -> list[dict[str, Any]]:
    """Split every tensor of a (nested) batch along dim 0 into ``parts`` minibatches."""
    out: list[dict[str, Any]] = [{} for _ in range(parts)]
    for name, value in batch.items():
        if isinstance(value, dict):
            for i, sub in enumerate(_split(value, parts)):
                out[i][name] = sub
        else:
            for i, chunk in enumerate(torch.tensor_split(value, parts)):
                out[i][name] = chunk
    return out


class SAC:
    """Learner-side SAC: networks, target critics, optimisers and the update step."""

    def __init__(
        self,
        obs_spec: ObsSpec,
        action_dim: int,
        config: SACConfig,
        *,
        device: torch.device | str = "auto",
        seed: int = 0,
    ) -> None:
        config.validate()
        self.config = config
        self.device = resolve_device(device)
        self.action_dim = action_dim
        self.arm_dim = arm_dim(action_dim, config)  # what the actor and critic see
        self.target_entropy = (
            -self.arm_dim / 2 if config.target_entropy is None else config.target_entropy
        )
        with torch.random.fork_rng(devices=[]):  # seeded init without touching global RNG
            torch.manual_seed(seed)
            self.policy = Policy(obs_spec, action_dim, config, seed=seed + 1)
            self.critic = make_critic(self.policy.encoder.out_dim, self.arm_dim, config)
        self.policy.to(self.device)
        self.critic.to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.hl_gauss: HLGaussSupport | None = None
        if config.critic_loss == "hl_gauss":
            assert config.q_target_bounds is not None  # validate() checked
            low, high = (float(b) for b in config.q_target_bounds)
            self.hl_gauss = HLGaussSupport(
                low, high, config.hl_gauss_bins, config.hl_gauss_sigma, device=self.device
            )
        self.encoder, self.actor = self.policy.encoder, self.policy.actor
        self.log_alpha = torch.tensor(
            math.log(config.init_temperature), device=self.device, requires_grad=True
        )
        fused = config.fused_optimizer
        encoder_params = [p for p in self.encoder.parameters() if p.requires_grad]
        self.critic_optimizer = make_adam(
            [*encoder_params, *self.critic.parameters()], config.critic_lr, fused=fused
        )
        self.actor_optimizer = make_adam(
            list(self.actor.parameters()), config.actor_lr, fused=fused
        )
        self.temp_optimizer = make_adam([self.log_alpha], config.temp_lr, fused=fused)
        self.base = self.policy.base
        self.base_optimizer = (
            None
            if self.base is None
            else make_adam(list(self.base.parameters()), config.actor_lr, fused=fused)
        )
        self.base_updates = 0
        self.gripper = self.policy.gripper
        self.gripper_target: GripperCritic | None = None
        self.gripper_optimizer: torch.optim.Adam | None = None
        if self.gripper is not None:
            self.gripper_target = copy.deepcopy(self.gripper).requires_grad_(False)
            self.gripper_optimizer = make_adam(
                list(self.gripper.parameters()), config.critic_lr, fused=fused
            )
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed + 2)
        self.critic_updates = 0
        self.actor_updates = 0
        self.updates = 0  # update() calls (actor_updates lags it by actor_delay)
        self.seed = seed
        self.dormant_resets = 0  # perturbations made by dormant_reset
        self.dormant_reset_alpha = 1.0  # alpha of the last one (1: none yet)
        self.success_window = (
            SuccessWindow(config.bc_decay_window) if config.bc_weight_decay else None
        )
        self._pretraining = False  # inside pretrain()'s critic updates (calql_pretrain_only)
        self._encode = self.encoder
        self._critic_fn = self.critic
        self._target_fn = self.critic_target
        if config.compile:
            self._encode = torch.compile(self.encoder)  # type: ignore[assignment]
            self._critic_fn = torch.compile(self.critic)  # type: ignore[assignment]
            self._target_fn = torch.compile(self.critic_target)  # type: ignore[assignment]

    @property
    def alpha(self) -> torch.Tensor:
        """Entropy temperature."""
        return self.log_alpha.exp()

    # ------------------------------------------------------------------------------ losses
    def _expected_q(self, critic_out: torch.Tensor) -> torch.Tensor:
        """Q (E, B) from a critic's output: itself (MSE critic) or the histogram mean."""
        return critic_out if self.hl_gauss is None else self.hl_gauss.expected(critic_out)

    def q_values(self, features: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Every online critic's Q (E, B) for encoded features (B, D) and actions (B, A)."""
        return self._expected_q(self._critic_fn(features, action))

    def _augment(self, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        pad = self.config.encoder.drq_pad
        return {
            k: random_shift(v, pad, self.generator) if k in self.encoder.image_keys else v
            for k, v in obs.items()
        }

    def _arm(self, action: torch.Tensor) -> torch.Tensor:
        """The entries (B, arm_dim) of actions (B, A) that the actor and critic handle."""
        return action if self.gripper is None else action[:, : self.arm_dim]

    def critic_loss(self, mb: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """TD loss of all critics against a min over a random subset of target critics.

        With ``calql_alpha`` > 0 the loss includes the Cal-QL term (``calql_penalty``).
        Returns (loss, q (E, B), features (B, D) with grad into the encoder).
        """
        loss, q, features, _, _ = self._critic_total(mb)
        return loss, q, features

    def _critic_total(
        self, mb: dict[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """_critic_loss plus ``calql_alpha`` * the Cal-QL term, and that term (None: off)."""
        loss, q, features, next_features, next_base = self._critic_loss(mb)
        cfg = self.config
        if cfg.calql_alpha <= 0 or (cfg.calql_pretrain_only and not self._pretraining):
            return loss, q, features, next_features, None
        penalty = self.calql_penalty(mb, features, next_features, q, next_base)
        return loss + self.config.calql_alpha * penalty, q, features, next_features, penalty

    def _critic_loss(
        self, mb: dict[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """critic_loss, the next observations' features (B, D) (no grad) and the base policy's
        mean at them (B, arm; None without a base), which the Cal-QL term reuses."""
        cfg = self.config
        features = self._encode(self._augment(mb[keys.OBS]))
        with torch.no_grad():
            next_features = self._encode(self._augment(mb[keys.NEXT_OBS]))
            next_base = self._base_mean(mb[keys.NEXT_OBS])
            next_action, next_log_prob = self.actor.sample(next_features, self.generator, next_base)
            members = torch.randperm(
                cfg.critic_ensemble_size, device=self.device, generator=self.generator
            )[: cfg.critic_subsample]
            next_out = self._target_fn(next_features, next_action, members=members)
            next_q = self._expected_q(next_out).min(0).values
            if cfg.backup_entropy:
                next_q = next_q - self.alpha * next_log_prob
            not_done = 1.0 - mb[keys.TERMINATED].float()
            discount = mb.get(keys.DISCOUNT, cfg.discount)  # n-step rows carry gamma ** m
            target = mb[keys.REWARD].float() + discount * not_done * next_q  # (B,)
            if cfg.q_target_bounds is not None:
                # No return can leave this range; clamping stops critic errors that the actor
                # exploits from compounding through bootstrapping (seen here: Q > 1 with 0/1
                # terminal rewards, and the policy collapsing with it).
                target = target.clamp(cfg.q_target_bounds[0], cfg.q_target_bounds[1])
        out = self._critic_fn(features, self._arm(mb[keys.ACTION]))  # (E, B) or (E, B, bins)
        q = self._expected_q(out)  # (E, B)
        if self.hl_gauss is not None:
            return self.hl_gauss.loss(out, target), q, features, next_features, next_base
        return (q - target).pow(2).mean(), q, features, next_features, next_base

    def gripper_loss(
        self, mb: dict[str, Any], features: torch.Tensor, next_features: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The gripper head's double-DQN TD loss (and demo margin) and its statistics on a
        minibatch, from the arm critic's features (grad) and next features (no grad); see
        agents/gripper.py ``gripper_td_loss``."""
        assert self.gripper is not None and self.gripper_target is not None
        cfg = self.config
        return gripper_td_loss(
            self.gripper,
            self.gripper_target,
            mb,
            features,
            next_features,
            discount=cfg.discount,
            grasp_penalty=cfg.grasp_penalty,
            q_target_bounds=cfg.q_target_bounds,
            demo_margin=cfg.gripper_demo_margin,
        )

    def calql_lower_bound(self, mb: dict[str, Any]) -> torch.Tensor:
        """(B,) the floor of each row's policy-action Q in the Cal-QL term: its Monte-Carlo
        return-to-go (``keys.MC_RETURN``) where known; else the low end of ``q_target_bounds``
        (no return is below it), or -inf (no floor) without bounds."""
        cfg = self.config
        unknown = -math.inf if cfg.q_target_bounds is None else float(cfg.q_target_bounds[0])
        rows = mb[keys.REWARD].shape[0]
        mc = mb.get(keys.MC_RETURN)
        if mc is None:
            return torch.full((rows,), unknown, device=self.device)
        mc = mc.float()
        return torch.where(torch.isnan(mc), torch.full_like(mc, unknown), mc)

    def calql_penalty(
        self,
        mb: dict[str, Any],
        features: torch.Tensor,
        next_features: torch.Tensor,
        q_data: torch.Tensor,
        next_base: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Cal-QL's conservative term, mean over critics and rows of
        logsumexp_j [Q(s, a_j) - log mu(a_j)] - Q(s, a_data), before its weight ``calql_alpha``.

        The a_j: ``calql_actions`` samples from the policy at s (reparameterised, no grad), as
        many from the policy at s' (``calql_next_actions``, valued at s as in CQL), and as many
        uniform in [-1, 1]^arm; mu is each sample's density (the policy's tanh-Gaussian, or
        2^-arm), the importance-sampled CQL(H) estimate of log integral exp Q(s, a) da (CQL's
        own variant for continuous actions; no log of the sample count is subtracted, a
        constant that leaves the gradient as it is). Cal-QL's calibration: a policy sample's Q
        enters as max(Q, ``calql_lower_bound``), so where the demos' return is known, values
        of the policy's actions are not pushed below it. ``features`` (B, D) carry the grad
        into the encoder; ``next_features`` (B, D) none; ``q_data`` (E, B) is the critics'
        (expected) Q of the batch's actions, with grad. Arm entries only (``gripper_critic``).
        ``next_base``: the base policy's mean at s' when the caller has it (the TD target
        computed it), else it is computed here.
        """
        cfg = self.config
        n, rows = cfg.calql_actions, features.shape[0]
        sources = [(features.detach(), self._base_mean(mb[keys.OBS]))]
        if cfg.calql_next_actions:
            if next_base is None:
                next_base = self._base_mean(mb[keys.NEXT_OBS])
            sources.append((next_features, next_base))
        actions, log_density = [], []
        with torch.no_grad():
            for feats, base in sources:  # the policy's samples, n per row: (B * n, arm)
                action, log_prob = self.actor.sample(
                    feats.repeat_interleave(n, 0),
                    self.generator,
                    None if base is None else base.repeat_interleave(n, 0),
                )
                actions.append(action)
                log_density.append(log_prob.view(rows, n))
            uniform = torch.rand(
                (rows * n, self.arm_dim), device=self.device, generator=self.generator
            )
            actions.append(2.0 * uniform - 1.0)
        groups = len(actions)
        repeated = features.repeat_interleave(n, 0).repeat(groups, 1)  # (groups * B * n, D)
        q = self.q_values(repeated, torch.cat(actions)).view(-1, groups, rows, n)  # (E, g, B, n)
        policy_q = torch.maximum(q[:, :-1], self.calql_lower_bound(mb)[None, None, :, None])
        policy_q = policy_q - torch.stack(log_density)[None]  # (E, g - 1, B, n)
        uniform_q = q[:, -1] + self.arm_dim * math.log(2.0)  # - log 2^-arm; (E, B, n)
        samples = torch.cat([policy_q.transpose(1, 2).flatten(2), uniform_q], -1)  # (E, B, g*n)
        return (torch.logsumexp(samples, -1) - q_data).mean()

    def actor_loss(
        self, features: torch.Tensor, mb: dict[str, Any] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """alpha * log pi - mean ensemble Q, on detached features (the encoder learns from the critic only).

        With ``bc_weight`` > 0 and demo rows in ``mb`` (``keys.IS_DEMO``), adds the squared
        distance of the policy's mean action to the demonstrated action on those rows: it keeps
        the actor near the demonstrations while the sparse-reward critic is still uninformed.
        Returns (loss, log_prob (B,), diagnostics: ``bc_mse`` on demo rows and ``q_pi`` (B,)).
        """
        detached = features.detach()
        base = self._base_mean(mb[keys.OBS]) if mb is not None else None
        action, log_prob = self.actor.sample(detached, self.generator, base)
        q = self._expected_q(self._critic_fn(detached, action)).mean(0)  # (B,)
        loss = (self.alpha.detach() * log_prob - q).mean()
        stats: dict[str, torch.Tensor] = {"q_pi": q.detach()}
        if mb is not None and keys.IS_DEMO in mb:
            is_demo = mb[keys.IS_DEMO].float()  # (B,)
            mean, _log_std = self.actor(detached, base)
            demo_arm = self._arm(mb[keys.ACTION])
            bc = demo_action_error(mean, demo_arm, is_demo)
            stats["bc_mse"] = bc.detach()
            if self.config.bc_loss == "nll":
                demo_action = demo_arm.clamp(-NLL_ACTION_LIMIT, NLL_ACTION_LIMIT)
                log_prob_demo = self.actor.log_prob(detached, demo_action, base)
                bc = -(log_prob_demo * is_demo).sum() / is_demo.sum().clamp_min(1.0)
            if self.config.bc_weight > 0:
                loss = loss + self.bc_weight_now() * bc
        return loss, log_prob, stats

    def bc_weight_now(self) -> float:
        """The BC term's weight in the actor loss: ``bc_weight``, or with ``bc_weight_decay``
        that scaled by (1 - the recent online success rate), floored at ``bc_weight_min``."""
        if self.success_window is None:
            return self.config.bc_weight
        cfg = self.config
        return decayed_bc_weight(cfg.bc_weight, self.success_window.rate, cfg.bc_weight_min)

    def record_episode(self, success: bool) -> None:
        """One finished online episode's outcome (the learner calls it for every episode that
        ended without an intervention); only ``bc_weight_decay`` uses it, a no-op otherwise."""
        if self.success_window is not None:
            self.success_window.record(success)

    def _base_mean(self, obs: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """The base policy's mean (no gradient: the base learns from the demos only)."""
        if self.base is None:
            return None
        with torch.no_grad():
            return self.policy.base_mean(obs)

    def base_loss(self, mb: dict[str, Any]) -> torch.Tensor:
        """Squared distance of the base policy's mean action to the demonstrated action, on the
        demo rows of ``mb`` (every row when it has no ``keys.IS_DEMO``)."""
        assert self.base is not None
        mean, _ = self.base.mean_log_std(self._augment(mb[keys.OBS]))
        return demo_action_error(mean, self._arm(mb[keys.ACTION]), mb.get(keys.IS_DEMO))

    def _base_step(self, mb: dict[str, Any]) -> torch.Tensor:
        assert self.base_optimizer is not None
        loss = self.base_loss(mb)
        self.base_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.base_optimizer.step()
        self.base_updates += 1
        return loss.detach()

    def pretrain(
        self,
        sample: Callable[[int], dict[str, Any]],
        on_progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, float]:
        """Before online learning, on demo batches (``sample(rows)``, every row a demo): fit
        the base policy for ``base_pretrain_updates`` steps (with ``base_policy`` "bc"), then
        ``critic_pretrain_updates`` full update() calls. Returns the losses, each the mean of
        its last 50 steps ("losses/base_bc", "losses/pretrain_critic", "losses/pretrain_actor",
        "losses/pretrain_calql" with the Cal-QL term); {} when there is nothing to pre-train.

        ``on_progress(done, total)``: called every ``PRETRAIN_PROGRESS_EVERY`` steps of both
        phases together and after the last (a learner process reports it to its launcher,
        whose start-up deadline counts from the last report).

        Raises FloatingPointError naming the loss if one is not finite.
        """
        cfg = self.config
        values: dict[str, float] = {}
        base_steps = cfg.base_pretrain_updates if self.base is not None else 0
        total = base_steps + cfg.critic_pretrain_updates
        done = 0

        def step_done() -> None:
            nonlocal done
            done += 1
            if on_progress is not None and (done % PRETRAIN_PROGRESS_EVERY == 0 or done == total):
                on_progress(done, total)

        if base_steps > 0:
            losses = []
            for _ in range(base_steps):
                losses.append(self._base_step(sample(cfg.batch_size)))
                step_done()
            value = float(torch.stack(losses[-50:]).mean())
            if not math.isfinite(value):
                raise FloatingPointError(f"base policy pre-training: losses/base_bc is {value}")
            values["losses/base_bc"] = value
        history: list[dict[str, float]] = []
        self._pretraining = True
        try:
            for _ in range(cfg.critic_pretrain_updates):
                batch = sample(cfg.batch_size * cfg.utd_ratio)
                if keys.IS_DEMO not in batch:  # the BC term and the demo statistics need it
                    rows = batch[keys.REWARD].shape[0]
                    batch[keys.IS_DEMO] = torch.ones(rows, device=self.device)
                try:
                    history.append(self.update(batch))
                except FloatingPointError as err:
                    raise FloatingPointError(f"critic pre-training: {err}") from err
                history = history[-50:]
                step_done()
        finally:
            self._pretraining = False
        names = {"critic": "losses/critic", "actor": "losses/actor", "calql": "losses/calql"}
        for short, name in names.items():
            if history and name in history[-1]:
                value = float(np.mean([h[name] for h in history]))
                if not math.isfinite(value):
                    raise FloatingPointError(f"critic pre-training: {name} is {value}")
                values[f"losses/pretrain_{short}"] = value
        return values

    def temperature_loss(self, log_prob: torch.Tensor) -> torch.Tensor:
        """Drives the policy entropy -E[log pi] toward target_entropy."""
        return -(self.alpha * (log_prob.detach() + self.target_entropy)).mean()

    # -------------------------------------------------------------------------- update step
    def update(self, batch: dict[str, Any]) -> dict[str, float]:
        """utd_ratio critic updates on consecutive minibatches, then one actor + temperature update.

        Raises FloatingPointError naming the loss if a loss is not finite.
        """
        minibatches = _split(batch, self.config.utd_ratio)
        critic_losses, q_means, calql_terms = [], [], []
        gripper_losses: list[torch.Tensor] = []
        gripper_stats: dict[str, list[torch.Tensor]] = {}
        features = q = torch.empty(0)
        for mb in minibatches:
            loss, q, features, next_features, calql = self._critic_total(mb)
            if calql is not None:
                calql_terms.append(calql.detach())
            total = loss
            self.critic_optimizer.zero_grad(set_to_none=True)
            if self.gripper_optimizer is not None:
                gripper_loss, head_stats = self.gripper_loss(mb, features, next_features)
                total = loss + gripper_loss  # one backward: both train the shared encoder
                self.gripper_optimizer.zero_grad(set_to_none=True)
                gripper_losses.append(gripper_loss.detach())
                for stat, value in head_stats.items():
                    gripper_stats.setdefault(stat, []).append(value)
            total.backward()
            self.critic_optimizer.step()
            targets: list[torch.Tensor] = list(self.critic_target.parameters())
            online: list[torch.Tensor] = list(self.critic.parameters())
            if self.gripper_optimizer is not None:
                assert self.gripper is not None and self.gripper_target is not None
                self.gripper_optimizer.step()
                targets += list(self.gripper_target.parameters())
                online += list(self.gripper.parameters())
            with torch.no_grad():  # Polyak: target += tau * (online - target)
                torch._foreach_lerp_(targets, online, self.config.tau)
            self.critic_updates += 1
            critic_losses.append(loss.detach())
            q_means.append(q.detach().mean())

        self.critic.requires_grad_(False)  # the actor loss must not build critic grads
        try:
            actor_loss, log_prob, diag = self.actor_loss(features, minibatches[-1])
        finally:
            self.critic.requires_grad_(True)
        temp_loss = self.temperature_loss(log_prob)
        self.updates += 1
        if self.updates > self.config.actor_delay:
            self.actor_optimizer.zero_grad(set_to_none=True)
            actor_loss.backward()
            self.actor_optimizer.step()
            if self.config.action_std is None:  # a fixed std keeps a fixed temperature
                self.temp_optimizer.zero_grad(set_to_none=True)
                temp_loss.backward()
                self.temp_optimizer.step()
            self.actor_updates += 1
            if self.config.dormant_reset and self.updates % self.config.dormant_reset_every == 0:
                self._dormant_check(minibatches[-1])

        scalars = [
            torch.stack(critic_losses).mean(),
            actor_loss.detach(),
            temp_loss.detach(),
            self.alpha.detach(),
            torch.stack(q_means).mean(),
            -log_prob.detach().mean(),
        ]
        names = ["losses/critic", "losses/actor", "losses/temperature"]
        names += ["charts/temperature", "charts/q_mean", "charts/entropy"]
        if calql_terms:  # the Cal-QL term before its weight (losses/critic includes it)
            scalars.append(torch.stack(calql_terms).mean())
            names.append("losses/calql")
        if gripper_losses:
            scalars.append(torch.stack(gripper_losses).mean())
            names.append("learner/gripper_q_loss")
            for stat, series in gripper_stats.items():
                scalars.append(torch.stack(series).mean())
                names.append(f"learner/gripper_{stat}")
        last = minibatches[-1]
        if self.base is not None:
            scalars.append(self._base_step(last))
            names.append("losses/base_bc")
        if keys.IS_DEMO in last:
            # Where the critic's values sit: on demo rows vs online rows (data actions), and the
            # policy's own action vs the demonstrated one on demo rows. Q(s, pi) far above
            # Q(s, a_demo) on demo states is the critic overrating what it has not tried.
            is_demo = last[keys.IS_DEMO].float()
            q_data = q.detach().mean(0)  # (B,)
            n_demo, n_online = is_demo.sum().clamp_min(1.0), (1 - is_demo).sum().clamp_min(1.0)
            scalars += [
                (q_data * is_demo).sum() / n_demo,
                (q_data * (1 - is_demo)).sum() / n_online,
                ((diag["q_pi"] - q_data) * is_demo).sum() / n_demo,
                diag["bc_mse"],
            ]
            names += ["charts/q_demo", "charts/q_online", "charts/q_pi_minus_demo"]
            names += ["charts/bc_mse"]
        stats = torch.stack(scalars).tolist()  # one host sync for all scalars
        values = dict(zip(names, stats))
        if self.config.dormant_reset:
            values["learner/dormant_resets"] = float(self.dormant_resets)
            values["learner/dormant_reset_alpha"] = self.dormant_reset_alpha
        if self.success_window is not None:
            values["learner/bc_weight"] = self.bc_weight_now()
            values["learner/online_success_rate"] = self.success_window.rate
        guarded = names[:3] + (["learner/gripper_q_loss"] if gripper_losses else [])
        for name in guarded:
            if not math.isfinite(values[name]):
                raise FloatingPointError(
                    f"SAC update {self.actor_updates}: {name} is {values[name]} (non-finite)"
                )
        return values

    @torch.no_grad()
    def dormant_ratios(self, batch: dict[str, Any]) -> dict[str, float]:
        """Dormant-neuron ratios (ReDo/DrM, see agents/dormant.py) of the actor's and the
        critics' hidden layers on the last minibatch of an update batch: one extra no-grad
        forward, no augmentation and no random draws (training is unchanged by calling it)."""
        mb = _split(batch, self.config.utd_ratio)[-1]
        features = self.encoder(mb[keys.OBS])
        critic_hidden: list[torch.Tensor] = []
        self.critic(features, self._arm(mb[keys.ACTION]), hidden=critic_hidden)
        return {
            "learner/dormant_actor": dormant_ratio(
                mlp_hidden_activations(self.actor.net, features)
            ),
            "learner/dormant_critic": dormant_ratio(critic_hidden),
        }

    @torch.no_grad()
    def actor_dormant_ratio(self, mb: dict[str, Any]) -> float:
        """The actor's dormant-neuron ratio on a minibatch's observations (no augmentation)."""
        features = self.encoder(mb[keys.OBS])
        return dormant_ratio(mlp_hidden_activations(self.actor.net, features))

    def _dormant_check(self, mb: dict[str, Any]) -> None:
        ratio = self.actor_dormant_ratio(mb)
        if ratio > self.config.dormant_reset_threshold:
            self.perturb_dormant(ratio)

    def perturb_dormant(self, ratio: float) -> float:
        """DrM's perturbation for an actor dormant ratio ``ratio`` (see ``dormant_reset``):
        returns the alpha used. The fresh networks are drawn from a seed of their own (the
        agent's seed and the perturbation's number), so neither the global RNG nor the
        agent's generator moves."""
        cfg = self.config
        alpha = perturb_factor(
            ratio,
            rate=cfg.dormant_reset_rate,
            low=cfg.dormant_reset_alpha_min,
            high=cfg.dormant_reset_alpha_max,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 7919 + self.dormant_resets + 1)
            fresh_actor = make_actor(self.encoder.out_dim, self.arm_dim, cfg)
            fresh_critic = make_critic(self.encoder.out_dim, self.arm_dim, cfg)
            # A frozen pretrained trunk is not perturbed (nor rebuilt: that reads its file).
            fresh_encoder = (
                ObservationEncoder(self.policy.obs_spec, cfg.encoder)
                if cfg.encoder.type == "conv" and self.encoder.image_keys
                else None
            )
            fresh_gripper = (
                None if self.gripper is None else make_gripper(self.encoder.out_dim, cfg)
            )
        moved = perturb_toward(self.actor, fresh_actor, alpha)
        forget_optimizer_state(self.actor_optimizer, moved)
        moved = perturb_toward(self.critic, fresh_critic, alpha)
        # The targets move toward the same fresh network: target - online keeps its meaning.
        perturb_toward(self.critic_target, fresh_critic, alpha, trainable_only=False)
        if fresh_encoder is not None:
            moved += perturb_toward(self.encoder, fresh_encoder, alpha)
        forget_optimizer_state(self.critic_optimizer, moved)
        if fresh_gripper is not None:
            assert self.gripper is not None and self.gripper_target is not None
            assert self.gripper_optimizer is not None
            moved = perturb_toward(self.gripper, fresh_gripper, alpha)
            perturb_toward(self.gripper_target, fresh_gripper, alpha, trainable_only=False)
            forget_optimizer_state(self.gripper_optimizer, moved)
        self.dormant_resets += 1
        self.dormant_reset_alpha = alpha
        return alpha

    # ------------------------------------------------------------------------------ acting
    def act(self, obs: dict[str, np.ndarray], *, deterministic: bool = False) -> np.ndarray:
        """Action float32 (A,) for one unbatched observation (see Policy.act)."""
        return self.policy.act(obs, deterministic=deterministic)

    def policy_state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors a Policy needs to act (encoder + actor, and the base policy and gripper head
        when configured), on CPU and contiguous."""
        return cpu_state_dict(self.policy)

    # ------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything to resume training: networks, targets, optimisers, temperature, counters, RNG."""
        return {
            "policy": self.policy.state_dict(),
            "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "temp_optimizer": self.temp_optimizer.state_dict(),
            "critic_updates": self.critic_updates,
            "actor_updates": self.actor_updates,
            "updates": self.updates,
            "generator": self.generator.get_state(),
            **(
                {}
                if not self.config.dormant_reset
                else {
                    "dormant_resets": self.dormant_resets,
                    "dormant_reset_alpha": self.dormant_reset_alpha,
                    "dormant_reset_seed": self.seed,  # draws the next fresh networks
                }
            ),
            **(
                {}
                if self.success_window is None
                else {"success_window": self.success_window.state_dict()}
            ),
            **(
                {}
                if self.base_optimizer is None
                else {
                    "base_optimizer": self.base_optimizer.state_dict(),
                    "base_updates": self.base_updates,
                }
            ),
            **(
                {}
                if self.gripper_optimizer is None or self.gripper_target is None
                else {
                    "gripper_target": self.gripper_target.state_dict(),
                    "gripper_optimizer": self.gripper_optimizer.state_dict(),
                }
            ),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` (strict: every part must be present)."""
        for name in (
            "policy",
            "critic",
            "critic_target",
            "log_alpha",
            "critic_optimizer",
            "actor_optimizer",
            "temp_optimizer",
            "critic_updates",
            "actor_updates",
        ):
            if name not in state:
                raise KeyError(f"SAC state is missing {name!r} (not a SAC checkpoint?)")
        self.policy.load_state_dict(state["policy"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.temp_optimizer.load_state_dict(state["temp_optimizer"])
        self.critic_updates = int(state["critic_updates"])
        self.actor_updates = int(state["actor_updates"])
        # checkpoints from before actor_delay existed: every update() was an actor update
        self.updates = int(state.get("updates", self.actor_updates))
        if "generator" in state:
            self.generator.set_state(state["generator"].cpu())
        # Switched on at a resume: counted from there (the saved run had none of these).
        self.dormant_resets = int(state.get("dormant_resets", 0))
        self.dormant_reset_alpha = float(state.get("dormant_reset_alpha", 1.0))
        self.seed = int(state.get("dormant_reset_seed", self.seed))
        if self.success_window is not None and "success_window" in state:
            self.success_window.load_state_dict(state["success_window"])
        if self.base_optimizer is not None:
            if "base_optimizer" not in state:
                raise KeyError("SAC state is missing 'base_optimizer' (saved without base_policy?)")
            self.base_optimizer.load_state_dict(state["base_optimizer"])
            self.base_updates = int(state["base_updates"])
        if self.gripper_optimizer is not None and self.gripper_target is not None:
            for name in ("gripper_target", "gripper_optimizer"):
                if name not in state:
                    raise KeyError(f"SAC state is missing {name!r} (saved without gripper_critic?)")
            self.gripper_target.load_state_dict(state["gripper_target"])
            self.gripper_optimizer.load_state_dict(state["gripper_optimizer"])
