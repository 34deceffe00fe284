"""TwinConfig validation and the sample configs in configs/twin/."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from robot_rl_sim import GymHilMissingError, TwinConfig, make_env
from robot_rl_sim import model as twin_model

from robot_rl.config import ConfigError, from_dict, load_yaml


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("image_size", 0),
        ("image_size", -64),
        ("cameras", ("front", "ceiling")),
        ("control_hz", 0.0),
        ("physics_dt", 0.003),  # 0.1 s is not a whole number of 3 ms steps
        ("obs_mode", "depth"),
        ("action_scale_xyz", float("nan")),
        ("workspace_low", (0.8, -0.3, 0.01)),
        ("tcp_start", (0.45, 0.0, 0.9)),
        ("cube_xy_range", (0.1,)),
        ("max_episode_steps", 0),
        ("expert_noise_std", -0.1),
    ],
)
def test_validate_names_the_bad_field(field: str, value: Any) -> None:
    cfg = dataclasses.replace(TwinConfig(), **{field: value})
    with pytest.raises(ValueError, match=f"^{field}: "):
        cfg.validate()


def test_env_refuses_invalid_config() -> None:
    with pytest.raises(ValueError, match="cameras: unknown camera 'top'"):
        make_env(TwinConfig(obs_mode="pixels", cameras=("top",)))


def test_sample_configs_load(repo_root: str) -> None:
    folder = Path(repo_root) / "configs" / "twin"
    state = load_yaml(TwinConfig, folder / "pick_cube_state.yaml")
    pixels = load_yaml(TwinConfig, folder / "pick_cube_pixels.yaml")
    assert state.obs_mode == "state" and pixels.obs_mode == "pixels"
    assert pixels.cameras == ("front", "wrist") and pixels.image_size == 128


def test_loader_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match="image_size: must be"):
        from_dict(TwinConfig, {"image_size": -1})
    with pytest.raises(ConfigError, match="camera_list: unknown key"):
        from_dict(TwinConfig, {"camera_list": ["front"]})


def test_missing_gym_hil_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(twin_model.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(GymHilMissingError, match=r"pip install gym-hil==0\.1\.14 --no-deps"):
        twin_model.gym_hil_assets()
