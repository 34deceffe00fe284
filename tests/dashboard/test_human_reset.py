"""``robot-rl train CONFIG --dashboard`` with ``resets.mode=human`` in a real browser: after an
episode the actor waits, the page shows the request, continue starts the next episode; the
safety layer's counters are on the page."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from robot_rl.data.episode_store import EpisodeStore
from tests.dashboard.test_train_dashboard import TrainRun, train_with_dashboard
from tests.waiting import wait_for

EPISODE_STEPS = 15
OVERRIDES = {
    "dashboard.port": "0",
    "dashboard.realtime": "always",  # 10 Hz as on the cell: the page sees each episode run
    "demos.num_episodes": "1",
    "train.env_steps": "1000000",  # the test ends the run with Ctrl-C
    "train.learning_starts": "1000",  # no learner updates needed: keeps the CPU for the page
    "train.eval_every": "0",
    "sac.batch_size": "32",
    "env.max_episode_steps": str(EPISODE_STEPS),
    "runtime.transport": "inprocess",
    "resets.mode": "human",
    "resets.human_message": "put the cube back, then press continue",
}

pytestmark = pytest.mark.twin


@pytest.fixture(scope="module")
def human_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrainRun]:
    with train_with_dashboard(tmp_path_factory.mktemp("human_reset") / "run", OVERRIDES) as run:
        yield run


@pytest.fixture(scope="module")
def page(human_run: TrainRun, browser: Any) -> Iterator[Any]:
    page = browser.new_page()
    page.goto(human_run.url)
    try:
        yield page
    finally:
        page.close()


def _waiting(run: TrainRun) -> bool:
    return bool(run.status()["human_reset"]["pending"])


def test_the_actor_waits_for_the_person_after_an_episode(human_run: TrainRun, page: Any) -> None:
    page.wait_for_selector("#human_reset:not([hidden])", timeout=60000)
    assert page.text_content("#human_reset_message") == "put the cube back, then press continue"
    status = human_run.status()
    assert status["mode"] == "waiting for person" and status["phase"] == "training"
    assert status["env_steps"] == EPISODE_STEPS and status["episode"] == 0
    time.sleep(1.0)
    assert human_run.status()["env_steps"] == EPISODE_STEPS  # no step while the person works
    assert human_run.status()["human_reset"]["waiting_s"] >= 1.0
    page.wait_for_function(
        "() => Number(document.getElementById('human_reset_waiting').textContent) >= 1"
    )
    wait_for(lambda: 0 in EpisodeStore.open(human_run.run_dir / "episodes").episode_ids())


def test_safety_counters_are_on_the_page(human_run: TrainRun, page: Any) -> None:
    safety = human_run.status()["safety"]
    # the episode's commands, all through the layer (random actions: some clipped at the box)
    assert safety["commands"] >= EPISODE_STEPS and safety["estop_latched"] == 0
    summary = page.text_content("#safety_summary") or ""
    assert f"of {safety['commands']} commands" in summary and "e-stop clear" in summary
    events = [k for k in safety if k.startswith("event/")]
    assert page.locator("#safety_events tr").count() == len(events)
    page.click("#estop")  # latches the layer too: its counter says so
    page.wait_for_function(
        "() => document.getElementById('safety_summary').textContent.includes('LATCHED')"
    )
    latched = human_run.status()["safety"]
    assert latched["estop_latched"] == 1
    assert latched["estop_triggered"] == safety.get("estop_triggered", 0) + 1
    assert f"e-stops so far: {latched['estop_triggered']}" in (
        page.text_content("#safety_summary") or ""
    )
    page.click("#release_estop")
    page.wait_for_function(
        "() => document.getElementById('safety_summary').textContent.includes('e-stop clear')"
    )


def test_continue_needs_the_token_and_starts_the_next_episode(
    human_run: TrainRun, page: Any, artifacts_dir: Path
) -> None:
    assert _waiting(human_run)
    assert httpx.post(human_run.base + "/api/control/continue").status_code == 401
    assert _waiting(human_run)
    page.screenshot(path=str(artifacts_dir / "dashboard_human_reset.png"))
    with page.expect_response("**/api/control/continue") as response:
        page.click("#continue")
    assert response.value.ok
    page.wait_for_selector("#human_reset", state="hidden")
    wait_for(lambda: human_run.status()["env_steps"] > EPISODE_STEPS, what="the next episode")
    status = human_run.status()
    assert status["episode"] == 1 and status["mode"] == "policy"
    # the next boundary asks again
    page.wait_for_selector("#human_reset:not([hidden])", timeout=30000)
    status = human_run.status()
    assert status["episode"] == 1 and status["env_steps"] == 2 * EPISODE_STEPS


def test_ctrl_c_while_waiting_ends_the_run_cleanly(human_run: TrainRun) -> None:
    assert _waiting(human_run)
    human_run.proc.send_signal(signal.SIGINT)
    assert human_run.proc.wait(timeout=30) == 130
    assert EpisodeStore.open(human_run.run_dir / "episodes").episode_ids() == [0, 1]


def test_nobody_continues_the_run_ends_with_its_episodes(tmp_path: Path) -> None:
    from robot_rl.app.launch import train
    from robot_rl.config import from_dict
    from robot_rl.resets.human import HumanResetTimeout
    from robot_rl.run_config import RunConfig

    config = from_dict(
        RunConfig,
        {
            "env": {"obs_mode": "state", "max_episode_steps": EPISODE_STEPS},
            "sac": {"hidden_dims": [16, 16]},
            "demos": {"num_episodes": 0},
            "train": {"env_steps": 1000, "learning_starts": 1000, "eval_every": 0},
            "runtime": {"transport": "inprocess"},
            "dashboard": {"enabled": True, "port": 0, "cameras": ["front"], "image_size": 32},
            "resets": {"mode": "human", "human_timeout_s": 0.5},
        },
    )
    with pytest.raises(HumanResetTimeout, match=r"resets\.human_timeout_s.*within 0\.5 s"):
        train(config, run_dir=tmp_path / "run", progress=False)
    assert EpisodeStore.open(tmp_path / "run" / "episodes").episode_ids() == [0]
    lines = (tmp_path / "run" / "metrics" / "actor.jsonl").read_text().splitlines()
    assert [json.loads(line)["charts/episode_length"] for line in lines] == [EPISODE_STEPS]


def test_cli_reports_a_human_reset_timeout_and_how_to_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from robot_rl.cli import main

    sets = {
        **OVERRIDES,
        "train.env_steps": "1000",
        "demos.num_episodes": "0",
        "dashboard.realtime": "never",
        "dashboard.cameras": "[front]",
        "dashboard.image_size": "32",
        "resets.human_timeout_s": "0.5",
    }
    args = [arg for key, value in sets.items() for arg in ("--set", f"{key}={value}")]
    run_dir = tmp_path / "run"
    code = main(["train", "configs/pick_cube_state.yaml", "--dashboard", "--quiet",
                 "--run-dir", str(run_dir), *args])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1, err
    assert "resets.human_timeout_s" in err and f"--resume {run_dir}" in err
    assert EpisodeStore.open(run_dir / "episodes").episode_ids() == [0]
