"""Task suite: curve figures on hand-made curves, config lookup errors, a real short BC run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robot_rl.app.suite import config_path, expert_success, learner_keys, run_suite, summarise
from robot_rl.config import load_yaml, to_dict
from robot_rl.run_config import RunConfig


def _curve(*points: tuple[int, float]) -> list[dict[str, float]]:
    return [{"env_steps": float(s), "success_rate": r} for s, r in points]


def test_summarise_curves() -> None:
    a = _curve((1000, 0.2), (2000, 0.85), (3000, 0.7), (4000, 0.95))
    b = _curve((1000, 0.9), (2000, 0.9), (3000, 1.0), (4000, 1.0))
    c = _curve((1000, 0.5), (2000, 0.6), (3000, 0.8), (4000, 0.8))
    figures = summarise([a, b, c])
    assert figures["final_success"] == 0.95
    assert figures["env_steps_to_80"] == 2000.0  # median of 2000, 1000, 3000
    assert figures["env_steps_to_90"] is None  # seed c never reached 90 %
    assert figures["min_after_80"] == 0.7  # seed a dipped after its first 80 %
    assert summarise([_curve((0, 0.3))])["min_after_80"] is None
    with pytest.raises(ValueError, match="curves"):
        summarise([[]])


def test_learner_keys_take_the_worst_task() -> None:
    high = summarise([_curve((1000, 0.85), (2000, 0.75), (3000, 0.95))])
    low = summarise([_curve((1000, 0.4), (2000, 0.6))])
    bc_high, bc_low = summarise([_curve((0, 0.5))]), summarise([_curve((0, 0.55))])
    figures = {"a": {"sac": high, "bc": bc_high}, "b": {"sac": low, "bc": bc_low}}
    keys = learner_keys(figures, ["a", "b"], ["bc", "sac"])
    assert keys["worst_sac_final"] == 0.6
    assert keys["worst_sac_minus_bc"] == pytest.approx(0.05)  # b: 0.6 - 0.55
    assert keys["worst_min_after_80"] == 0.75  # only a reached 80 %
    assert learner_keys(figures, ["a"], ["sac"])["worst_sac_minus_bc"] is None
    assert learner_keys(figures, ["a"], ["bc"])["worst_sac_final"] is None


def test_learner_keys_of_the_pixel_pair() -> None:
    sac, bc = summarise([_curve((1000, 0.2), (2000, 0.45))]), summarise([_curve((0, 0.1))])
    figures = {"a": {"sac_pixels": sac, "bc_pixels": bc}}
    methods = ["bc_pixels", "sac_pixels"]
    keys = learner_keys(
        figures, ["a"], methods, sac="sac_pixels", bc="bc_pixels", prefix="pixels_worst_"
    )
    assert keys == {
        "pixels_worst_sac_final": 0.45,
        "pixels_worst_sac_minus_bc": pytest.approx(0.35),
        "pixels_worst_min_after_80": None,
    }
    assert learner_keys(figures, ["a"], methods)["worst_sac_final"] is None  # no state pair


def test_config_lookup_names_the_bad_method_or_task() -> None:
    assert config_path("peg_insert", "sac").name == "peg_insert_state.yaml"
    assert config_path("pick_cube_hard", "bc").name == "pick_cube_hard_bc.yaml"
    assert config_path("pick_cube_hard", "sac_pixels").name == "pick_cube_hard_pixels.yaml"
    assert config_path("pick_cube_hard", "bc_pixels").name == "pick_cube_hard_bc_pixels.yaml"
    with pytest.raises(ValueError, match="task: no config for sac_pixels on 'peg_insert'"):
        config_path("peg_insert", "sac_pixels")
    with pytest.raises(ValueError, match="method: unknown method 'ppo'"):
        config_path("peg_insert", "ppo")
    with pytest.raises(ValueError, match="task: no config for bc on 'peg_jam'"):
        config_path("peg_jam", "bc")


@pytest.mark.parametrize(
    ("task", "bc", "sac"),
    [
        ("pick_cube", "bc", "sac"),
        ("pick_cube_hard", "bc", "sac"),
        ("pick_cube_hard", "bc_pixels", "sac_pixels"),
        ("peg_insert", "bc", "sac"),
    ],
)
def test_each_bc_baseline_sees_the_env_and_demos_of_its_learner(
    task: str, bc: str, sac: str
) -> None:
    """A baseline is fair only on the same observation and demos: an env option in a learner's
    recipe (peg's ``fine_offset_scale``) must be in its BC config too."""
    base = load_yaml(RunConfig, config_path(task, bc))
    learner = load_yaml(RunConfig, config_path(task, sac))
    assert base.task == learner.task == task
    assert to_dict(base.env) == to_dict(learner.env)
    assert to_dict(base.demos) == to_dict(learner.demos)


@pytest.mark.twin
def test_expert_success_of_the_hard_tasks() -> None:
    assert expert_success("peg_insert", episodes=3, noise=0.1) == 1.0
    assert expert_success("pick_cube_hard", episodes=3, noise=0.1) == 1.0


@pytest.mark.twin
def test_short_bc_suite_writes_curves_and_summary(tmp_path: Path) -> None:
    summary = run_suite(
        ["pick_cube_hard"],
        ["bc"],
        1,
        out=tmp_path,
        expert_episodes=2,
        overrides=[
            "demos.num_episodes=2",
            "bc.num_updates=20",
            "train.final_eval_episodes=2",
            "runtime.transport=inprocess",
        ],
    )
    figures = summary["tasks"]["pick_cube_hard"]["bc"]
    assert 0.0 <= figures["final_success"] <= 1.0
    assert summary["bc_final_max"] == figures["final_success"]
    assert summary["expert_success_min"] == 1.0
    curves = json.loads((tmp_path / "curves.json").read_text())
    (seed0,) = curves["pick_cube_hard"]["bc"]
    assert seed0[-1]["success_rate"] == figures["final_success"]
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert (
        report["groups"]["suite_pick_cube_hard_bc"]["final_success_mean"]
        == figures["final_success"]
    )
    assert (tmp_path / "report" / "success_vs_env_steps.png").stat().st_size > 0
    assert Path(summary["report"]).is_file()
