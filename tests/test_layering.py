"""The core's import graph: every layer imports only layers below it, no cycles, no ROS, no web.

The graph is read from the sources with ``ast`` (every ``import``, lazy ones inside functions
included), so a lazy import cannot hide an upward dependency or a cycle. One test also imports
the core modules and checks that neither rclpy nor the web stack came along.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "robot_rl"

# Parts of robot_rl/ (a subpackage or a top-level module), lowest first. A part may import
# itself and parts of strictly lower layers only; parts of one layer never import each other
# (runtime/ never imports dashboard/ or rewards/, and they never import it).
LAYERS: list[set[str]] = [
    {"config_bounds"},  # the range of every numeric config field (a table, no imports)
    {"keys", "config", "geometry"},  # observation keys, config loading, rotation maths
    {"envs", "wire"},  # the env contract; the actor <-> learner wire format and array codec
    {"data", "agents", "safety", "teleop"},
    {"hil", "evaluate", "resets"},  # intervention config, mixer, run controls; eval; resets
    {"runtime", "rewards", "dashboard"},  # actor and learner loops; reward models; web UI
    {"run_config"},  # the whole run's config, composed of the parts' sections
    {"app"},  # the composition root: builds a run from its config
    {"cli", "ros_compat"},  # entry points and the ROS 2 adapters
    {"cameras"},  # real camera sources (use ros_compat's image fitting)
]
CORE_MODULES = [
    "robot_rl",
    "robot_rl.cli",
    "robot_rl.app.launch",
    "robot_rl.app.learner_main",
    "robot_rl.runtime.actor",
    "robot_rl.runtime.learner",
    "robot_rl.agents",
    "robot_rl.data.episode_store",
    "robot_rl.data.replay",
]


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _imports(path: Path) -> set[str]:
    """Every robot_rl name imported anywhere in ``path`` (``from a import b`` gives ``a.b``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name.split(".")[0] == "robot_rl"}


def _graph() -> dict[str, set[str]]:
    """module -> robot_rl modules it imports (a name resolves to its longest module prefix)."""
    mods = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in mods.items():
        for name in _imports(path):
            while name not in mods:
                name = name.rpartition(".")[0]
            if name != module:
                graph[module].add(name)
    return graph


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "robot_rl"


def _layer_of() -> dict[str, int]:
    return {part: i for i, layer in enumerate(LAYERS) for part in layer}


def test_every_part_has_a_layer() -> None:
    parts = {_part(module) for module in _modules()} - {"robot_rl"}
    layer = _layer_of()
    assert parts == set(layer), (
        f"without a layer: {sorted(parts - set(layer))}; gone: {sorted(set(layer) - parts)}"
    )


def test_no_import_goes_up_or_sideways() -> None:
    layer = _layer_of()
    bad = []
    for module, targets in sorted(_graph().items()):
        for target in sorted(targets):
            src, dst = _part(module), _part(target)
            if "robot_rl" in (src, dst) or src == dst:
                continue
            if layer[dst] >= layer[src]:
                bad.append(f"{module} (layer {layer[src]}) -> {target} (layer {layer[dst]})")
    assert not bad, "\n".join(bad)


def test_runtime_imports_neither_dashboard_nor_rewards() -> None:
    graph = _graph()
    bad = [
        f"{module} -> {target}"
        for module, targets in graph.items()
        if _part(module) == "runtime"
        for target in targets
        if _part(target) in ("dashboard", "rewards", "app", "run_config", "cli")
    ]
    assert not bad, bad


def test_no_import_cycle() -> None:
    graph = _graph()
    # Tarjan's strongly connected components, iteratively.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for start in sorted(_modules()):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    assert not cycles, cycles


def test_the_checker_sees_lazy_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from robot_rl.app import launch\n    import robot_rl.cli\n")
    assert _imports(source) == {"robot_rl.app.launch", "robot_rl.cli"}


def test_the_twin_imports_only_keys_and_geometry_from_the_core() -> None:
    mods = _modules()
    for path in (ROOT / "sim").rglob("*.py"):
        names = set()
        for name in _imports(path):
            while name not in mods:
                name = name.rpartition(".")[0]
            names.add(name)
        assert names <= {"robot_rl.keys", "robot_rl.geometry"}, (path, names)


def test_core_imports_neither_rclpy_nor_fastapi() -> None:
    code = (
        "import importlib, sys\n"
        f"for m in {CORE_MODULES!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('rclpy', 'fastapi', 'starlette'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_no_rclpy_or_pickle_in_core_sources() -> None:
    for path in list(PACKAGE.rglob("*.py")) + list((ROOT / "sim").rglob("*.py")):
        text = path.read_text()
        assert "import rclpy" not in text and "from rclpy" not in text, path
        assert "import pickle" not in text and "pickle.loads" not in text, path


def _top_level_names(path: Path) -> set[str]:
    """Names a module defines or imports at its top level (in if/try blocks too)."""
    names: set[str] = set()
    body = list(ast.parse(path.read_text(), str(path)).body)
    while body:
        node = body.pop()
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.If | ast.Try):
            for block in ("body", "orelse", "finalbody", "handlers"):
                body.extend(getattr(node, block, []))
        elif isinstance(node, ast.ExceptHandler):
            body.extend(node.body)
    return names


def test_every_robot_rl_import_resolves() -> None:
    """Tests, scripts, the twin and the ROS nodes import robot_rl names that exist (a moved
    module leaves no stale import behind, lazy ones included)."""
    mods = _modules()
    sources = [
        path
        for folder in ("robot_rl", "sim", "tests", "scripts", "ros_ws")
        for path in (ROOT / folder).rglob("*.py")
    ]
    bad = []
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                bad += [
                    f"{path.relative_to(ROOT)}:{node.lineno}: import {a.name}"
                    for a in node.names
                    if a.name.split(".")[0] == "robot_rl" and a.name not in mods
                ]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module.split(".")[0] != "robot_rl":
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno}: from {node.module}"
                if node.module not in mods:
                    bad.append(where)
                    continue
                names = _top_level_names(mods[node.module])
                bad += [
                    f"{where} import {a.name}"
                    for a in node.names
                    if a.name != "*"
                    and f"{node.module}.{a.name}" not in mods
                    and a.name not in names
                ]
    assert not bad, "\n".join(bad)
