"""robot-rl sweep: seeds as Ray tasks (real Ray, real twin runs), each its own run dir, one report."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from robot_rl.app.sweep import parse_seeds, seed_configs
from tests.runtime.test_resume import tiny_config


def test_seeds_are_parsed_and_bad_ones_named() -> None:
    assert parse_seeds("0,1,2") == [0, 1, 2]
    assert parse_seeds("3-5") == [3, 4, 5]
    for bad in ("", "a", "1,1"):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)


def test_each_seed_gets_its_own_name_and_run_dir(tmp_path: Path) -> None:
    configs = seed_configs(tiny_config(tmp_path), [0, 7], tmp_path / "runs")
    assert [(c.seed, c.name) for c in configs] == [(0, "r-seed0"), (7, "r-seed7")]


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_sweep_runs_seeds_as_ray_tasks_and_reports_them(tmp_path: Path, ray_session: None) -> None:
    from robot_rl.app.sweep import sweep

    config = tiny_config(tmp_path, env_steps=100)
    summary = sweep(config, [0, 1], tmp_path / "sweep")
    assert summary["failed"] == []
    runs = sorted((tmp_path / "sweep" / "runs").iterdir())
    assert [p.name for p in runs] == ["r-seed0", "r-seed1"]
    for seed, run in enumerate(runs):
        assert f"seed: {seed}" in (run / "config.yaml").read_text()
        assert json.loads((run / "result.json").read_text())["env_steps"] == 100
    report = json.loads((tmp_path / "sweep" / "report" / "report.json").read_text())
    assert report["groups"]["r"]["seeds"] == [0, 1]  # one group, both seeds
    assert (tmp_path / "sweep" / "report" / "index.html").is_file()
