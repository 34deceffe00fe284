"""The range every numeric config field must lie in, as one table checked on load.

``robot_rl.config.from_dict`` checks each value it read from a file (or ``--set``) against
``BOUNDS[<config class name>][<field>]`` after the class's own ``validate()``; a value out of
range is a ConfigError naming the file and the dotted field. Every float is also checked to be
finite (NaN never passes; ``inf`` only where the rule is ``"any"``), whether listed or not.
Entries apply to each item of a tuple/list and each value of a mapping.

Every int must also fit in 64 bits (numpy, torch and msgpack hold no more).
Rules: ``"> 0"``, ``">= 1"``, ``"<= 5"``, intervals ``"[0, 1]"``, ``"(0, 1]"``, ``"[0, 1)"``;
``"int"`` (any int, e.g. a seed that may be negative); ``"any"`` (floats: +-inf allowed).
Keyed by class name (the names are unique; a test checks that every entry names a real field
and that every int field reachable from RunConfig has an entry), so that this module imports
nothing and the config dataclasses stay as they are (their fields, and so the config hash, are
unchanged).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_NON_NEG = ">= 0"
_POS = "> 0"
_ONE_UP = ">= 1"
_UNIT = "[0, 1]"

BOUNDS: dict[str, dict[str, str]] = {
    "RunConfig": {"seed": _NON_NEG},
    "TwinConfig": {
        "control_hz": _POS,
        "physics_dt": _POS,
        "action_scale_xyz": _POS,
        "action_scale_rot": _POS,
        "max_tilt": _NON_NEG,
        "max_yaw": _NON_NEG,
        "target_leash": _POS,
        "image_size": ">= 16",
        "render_size": ">= 16",
        "max_episode_steps": _ONE_UP,
        "lift_height": _POS,
        "cube_xy_range": _NON_NEG,
        "cube_yaw_range": _NON_NEG,
        "cube_half_size": _POS,
        "distractors": "[0, 3]",
        "distractor_clearance": _NON_NEG,
        "peg_clearance": _NON_NEG,
        "board_xy_range": _NON_NEG,
        "board_yaw_range": _NON_NEG,
        "insert_depth": _NON_NEG,
        "tcp_start_range": _NON_NEG,
        "solver_iterations": _ONE_UP,
        "solver_ls_iterations": _NON_NEG,
        "noslip_iterations": _NON_NEG,
        "ik_iterations": _ONE_UP,
        "expert_noise_std": _NON_NEG,
        "expert_misalign": "[0, 1]",
        "fine_offset_scale": _NON_NEG,
    },
    "RandomizeConfig": {
        "light_scale": "[0, 1)",
        "light_pos": _NON_NEG,
        "ambient": _NON_NEG,
        "table_rgb": _NON_NEG,
        "object_rgb": _NON_NEG,
        "camera_pos": _NON_NEG,
        "camera_rot_deg": _NON_NEG,
    },
    "SACConfig": {
        "hidden_dims": _ONE_UP,
        "critic_ensemble_size": _ONE_UP,
        "critic_subsample": _ONE_UP,
        "utd_ratio": _ONE_UP,
        "batch_size": _ONE_UP,
        "discount": _UNIT,
        "n_step": _ONE_UP,
        "actor_lr": _POS,
        "critic_lr": _POS,
        "temp_lr": _POS,
        "tau": "(0, 1]",
        "init_temperature": _POS,
        "demo_fraction": _UNIT,
        "bc_weight": _NON_NEG,
        "residual_scale": _POS,
        "base_pretrain_updates": _NON_NEG,
        "actor_delay": _NON_NEG,
        "action_std": _POS,
        "hl_gauss_bins": ">= 2",
        "hl_gauss_sigma": _POS,
        "calql_alpha": _NON_NEG,
        "calql_actions": _ONE_UP,
        "critic_pretrain_updates": _NON_NEG,
        "gripper_epsilon": _UNIT,
        "grasp_penalty": _NON_NEG,
        "gripper_demo_margin": _NON_NEG,
        "bc_weight_min": _NON_NEG,
        "bc_decay_window": _ONE_UP,
        "dormant_reset_every": _ONE_UP,
        "dormant_reset_threshold": _UNIT,
        "dormant_reset_rate": _NON_NEG,
        "dormant_reset_alpha_min": _UNIT,
        "dormant_reset_alpha_max": _UNIT,
    },
    "EncoderConfig": {
        "conv_channels": _ONE_UP,
        "conv_strides": _ONE_UP,
        "num_spatial_embeddings": _ONE_UP,
        "latent_dim": _ONE_UP,
        "drq_pad": _NON_NEG,
        "state_std_floor": _POS,
        "state_clip": _POS,
    },
    "BCConfig": {
        "hidden_dims": _ONE_UP,
        "lr": _POS,
        "batch_size": _ONE_UP,
        "num_updates": _ONE_UP,
    },
    "DemoConfig": {
        "num_episodes": _NON_NEG,
        "noise": _NON_NEG,
        "max_attempts": _ONE_UP,
        "seed": _NON_NEG,
    },
    "TrainConfig": {
        "env_steps": _ONE_UP,
        "max_wall_s": _NON_NEG,
        "learning_starts": _NON_NEG,
        "replay_capacity": _ONE_UP,
        "intervention_capacity": _NON_NEG,
        "self_imitation_capacity": _ONE_UP,
        "updates_per_env_step": _NON_NEG,
        "max_steps_ahead": _ONE_UP,
        "weights_push_every": _ONE_UP,
        "checkpoint_every": _ONE_UP,
        "keep_checkpoints": _ONE_UP,
        "eval_every": _NON_NEG,  # 0: only the final evaluation
        "eval_episodes": _ONE_UP,
        "final_eval_episodes": _ONE_UP,
        "log_every": _ONE_UP,
    },
    "HilConfig": {"max_action_delta": "(0, 2]"},
    "SafetyConfig": {
        "action_scale_xyz": _POS,
        "action_scale_rot": _POS,
        "control_hz": _POS,
        "max_tilt": _NON_NEG,
        "max_yaw": _NON_NEG,
        "max_step_xyz": _POS,
        "max_step_rot": _POS,
        "max_speed": _POS,
        "max_measured_speed": _POS,
        "max_gripper_step": _POS,
        "joint_margin": _NON_NEG,
        "action_tolerance": _NON_NEG,
        "pose_jump": _POS,
        "pose_settle_steps": _NON_NEG,
        "stream_deadlines": _POS,
        "stale_timeout": _POS,
        "action_dim": _ONE_UP,  # validate() names the two allowed values
    },
    "EnvRewardConfig": {
        "threshold": _UNIT,
        "consecutive_steps": _ONE_UP,
        "timeout_s": _POS,
    },
    "ClipRewardConfig": {"alpha": _UNIT, "max_batch": _ONE_UP},
    "VLMJudgeConfig": {"threshold": _UNIT, "max_batch": _ONE_UP},
    "TeleopConfig": {
        "deadzone": "[0, 1)",
        "scale_xyz": _POS,
        "scale_rot": _POS,
        "axis_map": _NON_NEG,
        "timeout_s": _POS,
    },
    "DashboardConfig": {
        "port": "[0, 65535]",
        "image_size": ">= 16",
        "camera_hz": "(0, 60]",
        "jpeg_quality": "[1, 95]",
    },
    "ResetsConfig": {
        "human_timeout_s": _POS,
        "home_tolerance": _POS,
        "home_max_steps": _ONE_UP,
    },
    "RuntimeConfig": {
        "heartbeat_interval_s": _POS,
        "heartbeat_timeout_s": _POS,
        "torch_threads": _ONE_UP,
        "learner_nice": "[0, 19]",
        "startup_timeout_s": _POS,
        "max_learner_restarts": _NON_NEG,
        "num_actors": _ONE_UP,
        "max_actor_restarts": _NON_NEG,
        "ray_actor_cpus": _POS,
    },
    # ---- configs of other commands (reward, reset-free, the real cell)
    "RewardConfig": {"lift_height": _POS, "intervention_penalty": _NON_NEG},
    "RewardDataConfig": {"positive_last": _ONE_UP, "margin": _NON_NEG},
    "TwinFramesConfig": {
        "episodes": _ONE_UP,
        "image_size": ">= 16",
        "noisy_fraction": _UNIT,
        "noisy_std": _NON_NEG,
        "drop_fraction": _UNIT,
        "random_fraction": _UNIT,
        "partial_fraction": _UNIT,
        "hold_steps": _NON_NEG,
        "max_steps": _ONE_UP,
        "lift_height": _POS,
        "seed": _NON_NEG,
    },
    "ClassifierConfig": {
        "image_size": ">= 16",
        "hidden_dim": _ONE_UP,
        "learning_rate": _POS,
        "batch_size": _ONE_UP,
        "train_steps": _ONE_UP,
        "calibration_fraction": "(0, 1)",
        "target_fpr": _UNIT,
        "min_threshold": _UNIT,
        "consecutive_steps": _ONE_UP,
        "seed": _NON_NEG,
    },
    "StateCheck": {"index": _NON_NEG, "low": "any", "high": "any"},
    "ResetFreeConfig": {
        "demos_per_task": _NON_NEG,
        "demo_noise": _NON_NEG,
        "pretrain_updates": _NON_NEG,
        "env_steps": _ONE_UP,
        "time_budget_s": _NON_NEG,  # 0: no limit
        "updates_per_step": _NON_NEG,
        "explore_noise": _NON_NEG,
        "self_imitation_capacity": _ONE_UP,
        "max_failures": _ONE_UP,
        "replay_capacity": _ONE_UP,
        "window": _ONE_UP,
        "seed": _NON_NEG,
    },
    "PlaceConfig": {"region_half": _NON_NEG, "spawn_half": _NON_NEG},
    "CellConfig": {
        "control_hz": _POS,
        "image_size": ">= 16",
        "action_scale_xyz": _POS,
        "action_scale_rot": _POS,
        "target_leash": _POS,
        "max_age_s": _POS,
        "step_timeout_s": _POS,
        "intervention_timeout_s": _POS,
        "max_episode_steps": _ONE_UP,
        "reset_settle_s": _NON_NEG,
    },
}


@dataclass(frozen=True)
class Bound:
    """A parsed rule: ``low``/``high`` (None: open-ended), whether each end is included."""

    text: str
    low: float | None = None
    high: float | None = None
    low_closed: bool = True
    high_closed: bool = True
    allow_inf: bool = False

    def error(self, value: float) -> str | None:
        """Why ``value`` breaks the rule (None when it holds)."""
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            return f"must fit in 64 bits, got {value}"
        if isinstance(value, float) and math.isnan(value):
            return f"must be finite, got {value}"
        if math.isinf(value) and not self.allow_inf:
            return f"must be finite, got {value}"
        if self.low is not None and not (
            value >= self.low if self.low_closed else value > self.low
        ):
            return f"must be {self.text}, got {value!r}"
        if self.high is not None and not (
            value <= self.high if self.high_closed else value < self.high
        ):
            return f"must be {self.text}, got {value!r}"
        return None


FINITE = Bound("finite")
_COMPARE = re.compile(r"^(>=|>|<=|<)\s*(-?[\d.e+-]+)$")
_INTERVAL = re.compile(r"^([\[(])\s*(-?[\d.e+-]+)\s*,\s*(-?[\d.e+-]+)\s*([\])])$")


def parse_bound(text: str) -> Bound:
    """A Bound from its table text; ValueError for a rule this module cannot read."""
    if text in ("int", "finite"):
        return Bound(text)
    if text == "any":
        return Bound(text, allow_inf=True)
    if match := _COMPARE.match(text):
        op, number = match.group(1), float(match.group(2))
        if op.startswith(">"):
            return Bound(text, low=number, low_closed=op == ">=")
        return Bound(text, high=number, high_closed=op == "<=")
    if match := _INTERVAL.match(text):
        return Bound(
            f"in {text}",
            low=float(match.group(2)),
            high=float(match.group(3)),
            low_closed=match.group(1) == "[",
            high_closed=match.group(4) == "]",
        )
    raise ValueError(f"config bound {text!r}: not a rule (e.g. '>= 0', '(0, 1]')")


PARSED: dict[str, dict[str, Bound]] = {
    cls: {name: parse_bound(rule) for name, rule in rules.items()} for cls, rules in BOUNDS.items()
}


def bound_for(class_name: str, field_name: str) -> Bound:
    """The rule of one field (FINITE when the table has none)."""
    return PARSED.get(class_name, {}).get(field_name, FINITE)


__all__ = ["BOUNDS", "FINITE", "Bound", "bound_for", "parse_bound"]
