"""``robot-rl report``: curves of run directories (as ``robot-rl train`` writes them)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from robot_rl.cli import main


def _run(root: Path, name: str, agent: str, seed: int, evals: list[tuple[int, float]],
         final: float, *, env_steps: int, lr: float = 3e-4) -> Path:  # fmt: skip
    """A run directory: config.yaml, spec.json (start), metrics/eval.jsonl, result.json."""
    run = root / f"{name}-20261203-0000{seed}"
    (run / "metrics").mkdir(parents=True)
    config = {"name": name, "seed": seed, "agent": agent, "sac": {"lr": lr}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    (run / "spec.json").write_text("{}")
    start = 1_700_000_000.0
    os.utime(run / "spec.json", (start, start))
    rows = [{"env_steps": s, "time": start + 2.0 * s, "eval/success_rate": v} for s, v in evals]
    (run / "metrics" / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = {"final_success_rate": final, "wall_s": 2.0 * env_steps + 5, "env_steps": env_steps}
    if agent == "bc":
        result.pop("env_steps")
    (run / "result.json").write_text(json.dumps(result))
    return run


def test_report_groups_seeds_and_draws_bc_as_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = [
        _run(tmp_path, "peg_sac_s0", "sac", 0, [(100, 0.0), (200, 0.4)], 0.8, env_steps=300),
        _run(
            tmp_path, "peg_sac_s1", "sac", 1, [(100, 0.2), (200, 0.6)], 1.0, env_steps=300, lr=1e-3
        ),
        _run(tmp_path, "peg_bc_s0", "bc", 0, [], 0.3, env_steps=0),
        _run(tmp_path, "peg_bc_s1", "bc", 1, [], 0.5, env_steps=0),
    ]
    out = tmp_path / "report"
    assert main(["report", *map(str, runs), "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["final_success"] == {"peg_sac": 0.9, "peg_bc": 0.4}
    groups = json.loads((out / "report.json").read_text())["groups"]
    sac = groups["peg_sac"]
    assert sac["seeds"] == [0, 1]
    assert sac["vs_env_steps"] == {
        "x": [100.0, 200.0, 300.0],
        "mean": pytest.approx([0.1, 0.5, 0.9]),
        "min": [0.0, 0.4, 0.8],
        "max": [0.2, 0.6, 1.0],
    }
    assert sac["vs_wall_s"]["x"] == [200.0, 400.0, 605.0]  # eval time - start; final: wall_s
    assert "vs_env_steps" not in groups["peg_bc"]
    assert groups["peg_bc"]["final_success_mean"] == pytest.approx(0.4)
    for png in ("success_vs_env_steps.png", "success_vs_wall_time.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    page = (out / "index.html").read_text()
    assert 'src="success_vs_env_steps.png"' in page and 'src="success_vs_wall_time.png"' in page
    assert "<td>sac.lr</td>" in page and "<td>0.001</td>" in page  # the differing field
    assert page.count("class='cfg'") == 4


def test_one_name_two_methods_gives_two_groups(tmp_path: Path) -> None:
    from robot_rl.app.report import write_report

    runs = [
        _run(tmp_path, "peg", "sac", 0, [(100, 0.5)], 0.7, env_steps=200),
        _run(tmp_path, "peg", "bc", 1, [], 0.2, env_steps=0),
    ]
    groups = write_report(runs, tmp_path / "r")
    assert set(groups) == {"peg [sac]", "peg [bc]"}


def test_report_names_a_directory_that_is_not_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "r")]) == 2
    assert "empty: not a finished run (config.yaml not found)" in capsys.readouterr().err
