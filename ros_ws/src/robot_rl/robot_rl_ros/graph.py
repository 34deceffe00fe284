"""
Start the training graph from a venv, without colcon or ros2 launch: the graph table's rows.

    python -m robot_rl_ros.graph sim:=true env_steps:=3000 run_dir:=runs/ros-graph

Takes the launch file's arguments (``name:=value``), starts every robot_rl node of
``robot_rl_ros.graph_table`` as ``python -m robot_rl_ros.<executable>`` with its parameters
in a ROS params file, and stops them all when the actor finishes, a node fails or on Ctrl-C.
A thin process starter, not a launch system: ROS installs use ``ros2 launch robot_rl
train.launch.py`` with the same table. Nodes of other packages (realsense2_camera) need a
ROS install; start them yourself and pass cameras_running:=true.
"""

import os
from pathlib import Path
import signal
import subprocess
import sys
import tempfile
import time

from robot_rl_ros.graph_table import ARGUMENTS, node_rows, NodeRow
import yaml

SHARE = str(Path(__file__).resolve().parents[1])  # the package source: config/ is there


def parse_arguments(argv):
    """Parse ``name:=value`` arguments; raise ValueError naming a malformed or unknown one."""
    arg = {}
    for item in argv:
        name, sep, value = item.partition(':=')
        if not sep:
            raise ValueError(f'{item!r}: arguments are name:=value (as for ros2 launch)')
        if name not in ARGUMENTS:
            known = ', '.join(ARGUMENTS)
            raise ValueError(f'{name}: unknown argument; known: {known}')
        arg[name] = value
    return arg


def node_command(row, params_file):
    """Return the command line that runs one table row as a process in this interpreter."""
    if row.package != 'robot_rl':
        raise ValueError(f'{row.package}/{row.executable}: not a robot_rl node; start it with '
                         'ROS tooling and pass cameras_running:=true')
    return [sys.executable, '-m', f'robot_rl_ros.{row.executable}', '--ros-args',
            '-r', f'__node:={row.name}', '--params-file', str(params_file)]


def write_params_file(row, directory):
    """Write the row's parameters as a ROS params file in ``directory``; return its path."""
    path = Path(directory) / f'{row.name}.params.yaml'
    path.write_text(yaml.safe_dump({row.name: {'ros__parameters': row.parameters}}))
    return path


class Graph:
    """The graph's node processes; a context manager that stops what is left on exit."""

    def __init__(self, arg, *, share=SHARE, env=None, log_dir=None):
        self.rows = node_rows(arg, share)
        self.params_dir = Path(log_dir or tempfile.mkdtemp(prefix='robot_rl_graph_'))
        self.params_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ if env is None else env)
        env.setdefault('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
        self.env = env
        self.processes = {}

    def start(self, name=None, parameters=None):
        """
        Start every node (or the one named ``name``); return the started processes.

        ``parameters`` override the row's for this start (a restart with ``resume: True``).
        """
        started = {}
        for row in self.rows:
            if name is not None and row.name != name:
                continue
            if parameters:
                row = NodeRow(row.executable, row.name, {**row.parameters, **parameters},
                              row.package, row.namespace)
            command = node_command(row, write_params_file(row, self.params_dir))
            log = open(self.params_dir / f'{row.name}.log', 'ab')  # noqa: SIM115
            started[row.name] = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
            log.close()
        if name is not None and not started:
            raise KeyError(f'{name}: not a node of this graph ({[r.name for r in self.rows]})')
        self.processes.update(started)
        return started

    def log(self, name):
        """Return what node ``name`` printed so far."""
        path = self.params_dir / f'{name}.log'
        return path.read_text(errors='replace') if path.exists() else ''

    def stop(self, timeout_s=10.0):
        """Send SIGINT to every running node, then SIGKILL what is left after timeout_s."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout_s
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    """Start the graph; return the actor's exit status (or 1 if another node failed first)."""
    try:
        arg = parse_arguments(sys.argv[1:] if argv is None else argv)
        graph = Graph(arg)
    except (ValueError, OSError) as err:
        print(f'robot_rl_ros.graph: {err}', file=sys.stderr)
        return 2
    print(f'robot_rl_ros.graph: nodes {[r.name for r in graph.rows]}; logs in '
          f'{graph.params_dir}')
    with graph:
        graph.start()
        try:
            running = dict(graph.processes)
            while True:
                for name, process in list(running.items()):
                    code = process.poll()
                    if code is None:
                        continue
                    print(f'robot_rl_ros.graph: {name} exited with {code}')
                    if name == 'robot_rl_actor' or code != 0:
                        return code
                    del running[name]  # the learner ends once the actor said stop
                time.sleep(0.2)
        except KeyboardInterrupt:
            return 130


if __name__ == '__main__':
    sys.exit(main())
