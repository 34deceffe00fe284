"""The ROS adapter's core half never needs ROS; the ament package's entry points exist."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "ros_ws" / "src" / "robot_rl"


def test_ros_compat_and_cameras_import_without_rclpy_rosbags_or_web_stack() -> None:
    code = (
        "import sys\n"
        "import robot_rl.ros_compat.bag, robot_rl.ros_compat.bridge_env, robot_rl.ros_compat.joy\n"
        "import robot_rl.ros_compat.cell_actor, robot_rl.ros_compat.cell_reset\n"
        "import robot_rl.ros_compat.cell_reward, robot_rl.ros_compat.remote_dashboard\n"
        "import robot_rl.cameras, robot_rl.cameras.realsense\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('rclpy', 'rosbags', 'pyrealsense2', 'cv_bridge', 'fastapi', 'uvicorn'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_no_rclpy_in_core_sources() -> None:
    for folder in ("ros_compat", "cameras"):
        for path in (ROOT / "robot_rl" / folder).rglob("*.py"):
            text = path.read_text()
            assert "import rclpy" not in text and "from rclpy" not in text, path


def test_console_scripts_point_at_main_functions() -> None:
    setup = (PKG / "setup.py").read_text()
    scripts = [line.strip().strip("',") for line in setup.splitlines() if "= robot_rl_ros." in line]
    names = {script.split("=")[0].strip() for script in scripts}
    nodes = {"actor_node", "learner_node", "twin_node", "teleop_node", "reward_node",
             "reset_node", "dashboard_node"}  # fmt: skip
    assert names == nodes | {"bag_record", "bag_play"} and len(scripts) == len(names)
    for script in scripts:
        _name, target = (s.strip() for s in script.split("="))
        module, func = target.split(":")
        tree = ast.parse((PKG / (module.replace(".", "/") + ".py")).read_text())
        assert any(isinstance(n, ast.FunctionDef) and n.name == func for n in tree.body), script
    assert (PKG / "resource" / "robot_rl").exists()
    assert "<build_type>ament_python</build_type>" in (PKG / "package.xml").read_text()


def test_shipped_cell_and_run_configs_load() -> None:
    from robot_rl.config import load_yaml
    from robot_rl.ros_compat.config import CellConfig
    from robot_rl.run_config import RunConfig

    for name in ("twin_cell", "ci_cell", "panda_cell"):
        load_yaml(CellConfig, PKG / "config" / f"{name}.yaml").validate()
    load_yaml(RunConfig, PKG / "config" / "pick_cube_ros.yaml")
