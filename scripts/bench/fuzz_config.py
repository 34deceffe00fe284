"""The fuzz corpus of config files and ``--set`` values (groups ``config`` and ``set``).

``config``: hand-written bad YAML files; ``set``: a bad value for every numeric field of a run
config, generated from ``robot_rl.config_bounds.BOUNDS`` (so a new field is fuzzed once it has
a rule), plus malformed overrides. Each case runs ``robot-rl train`` (or ``demos``) on it.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable

from fuzz import CliCase
from fuzz_files import SHIPPED, Fixtures, _file

# ------------------------------------------------------------------------------ config files
_SECTIONS = ["train", "sac", "sac.encoder", "bc", "env", "env.randomize", "demos", "runtime",
             "safety", "dashboard", "hil", "reward", "teleop", "resets"]  # fmt: skip


def _nested(dotted: str, leaf: str) -> str:
    parts = dotted.split(".")
    text = ""
    for depth, part in enumerate(parts):
        text += "  " * depth + f"{part}:\n"
    return text + "  " * len(parts) + leaf + "\n"


def _bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


CONFIG_FILES: list[tuple[str, bytes | str, str]] = [
    ("empty", b"", "empty"),
    ("null", "null\n", "empty"),
    ("tilde", "~\n", "empty"),
    ("comment-only", "# nothing here\n", "empty"),
    ("whitespace-only", "   \n\n\t\n", ""),
    ("document-marker-only", "---\n", "empty"),
    ("duplicate-top-key", "seed: 1\nseed: 2\n", "seed"),
    ("duplicate-nested-key", "train:\n  env_steps: 10\n  env_steps: 20\n", "env_steps"),
    (
        "duplicate-deep-key",
        "sac:\n  encoder:\n    latent_dim: 8\n    latent_dim: 9\n",
        "latent_dim",
    ),
    ("duplicate-flow-key", "train: {eval_every: 1, eval_every: 2}\n", "eval_every"),
    ("duplicate-section", "train:\n  env_steps: 10\ntrain:\n  eval_every: 0\n", "train"),
    ("latin-1", b"name: caf\xe9\n", "UTF-8"),
    ("utf-16-le-bom", "name: x\n".encode("utf-16"), "UTF-8"),
    ("utf-16-be", "name: x\n".encode("utf-16-be"), ""),
    ("random-binary", bytes(range(256)) * 4, ""),
    ("nul-bytes", b"name: a\x00b\n", ""),
    ("unclosed-bracket", "train: [unclosed\n", "YAML"),
    ("bad-indent", "train:\n  env_steps: 1\n eval_every: 2\n", "YAML"),
    ("tab-indent", "train:\n\tenv_steps: 1\n", "YAML"),
    ("unterminated-string", 'name: "abc\n', "YAML"),
    ("top-level-list", "- a\n- b\n", "mapping"),
    ("top-level-scalar", "42\n", "mapping"),
    ("top-level-string", "hello\n", "mapping"),
    ("python-tag", '!!python/object/apply:os.system ["echo pwned"]\n', ""),
    ("python-tag-value", "name: !!python/object/apply:os.getcwd []\n", ""),
    ("yaml-bomb", _bomb(), ""),
    ("many-unknown-keys", "".join(f"k{i}: {i}\n" for i in range(20_000)), "unknown key"),
    ("int-key", "1: 2\n", ""),
    ("null-key", "null: 3\n", ""),
    ("bool-key", "true: x\n", ""),
    ("unhashable-key", "? [a, b]\n: c\n", ""),
    ("section-is-int", "train: 5\n", "train"),
    ("section-is-list", "sac: [1, 2]\n", "sac"),
    ("section-is-string", "env: pixels\n", "env"),
    ("string-for-int", "train:\n  env_steps: 1e3\n", "env_steps"),
    ("bool-for-int", "train:\n  env_steps: true\n", "env_steps"),
    ("float-for-int", "train:\n  env_steps: 10.5\n", "env_steps"),
    ("nan-in-file", "train:\n  updates_per_env_step: .nan\n", "updates_per_env_step"),
    ("inf-in-file", "sac:\n  actor_lr: .inf\n", "actor_lr"),
    ("negative-eval-every", "train:\n  eval_every: -1\n", "eval_every"),
    ("negative-final-eval", "train:\n  final_eval_episodes: -1\n", "final_eval_episodes"),
    ("zero-keep-checkpoints", "train:\n  keep_checkpoints: 0\n", "keep_checkpoints"),
    ("unknown-task", "task: pick_cube_impossible\n", "task"),
    ("unknown-agent", "agent: ppo\n", "agent"),
    ("huge-int", "train:\n  env_steps: 100000000000000000000000000000\n", ""),
    ("long-string-name", "name: " + "x" * 100_000 + "\n", ""),
] + [(f"unknown-key-in-{s}", _nested(s, "no_such_field: 1"), "no_such_field") for s in _SECTIONS]


def config_group(fx: Fixtures) -> list[CliCase]:
    cases = []
    for i, (name, content, mention) in enumerate(CONFIG_FILES):
        write = _file(content)
        cases.append(CliCase(
            "config", name, lambda d, w=write: ["train", str(w(d)), "--quiet"],
            mention=mention, quick=i % 3 == 0, timeout_s=60,
        ))  # fmt: skip
    cases += [
        CliCase("config", "missing-file", lambda d: ["train", str(d / "absent.yaml")],
                mention="not found"),
        CliCase("config", "path-is-directory", lambda d: ["train", str(d)], mention=""),
        CliCase("config", "demos-shipped-config-ok", lambda d: [
            "demos", str(SHIPPED), "--out", str(d / "demos"), "--set", "demos.num_episodes=1"],
            expect="ok"),
        CliCase("config", "edge-values-ok", lambda d: [
            "demos", str(_file("train:\n  eval_every: 0\n  learning_starts: 0\n"
                               "  updates_per_env_step: 0\nruntime:\n  max_learner_restarts: 0\n"
                               "demos:\n  num_episodes: 1\n")(d)),
            "--out", str(d / "demos")], expect="ok", quick=False),
    ]  # fmt: skip
    return cases


# ------------------------------------------------------------------------------ --set values
def _field_paths() -> list[tuple[str, str, str, typing.Any]]:
    """(dotted path, class name, field, type) of every numeric field of a run config."""
    from robot_rl.run_config import RunConfig

    found = []

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            tp = hints[f.name]
            path = f"{prefix}{f.name}"
            if dataclasses.is_dataclass(tp):
                walk(tp, path + ".")  # type: ignore[arg-type]
                continue
            args = [a for a in typing.get_args(tp) if a not in (type(None), Ellipsis)]
            leaf = args[0] if args else tp
            if leaf in (int, float) or tp in (int, float):
                found.append((path, cls.__name__, f.name, tp))

    walk(RunConfig, "")
    return found


def _bad_values(class_name: str, name: str, tp: typing.Any) -> list[str]:
    from robot_rl.config_bounds import bound_for

    bound = bound_for(class_name, name)
    is_seq = typing.get_origin(tp) in (tuple, list)
    base = typing.get_args(tp)[0] if is_seq else tp
    if typing.get_origin(tp) in (typing.Union, type(int | None)) and not is_seq:
        inner = next(a for a in typing.get_args(tp) if a is not type(None))
        is_seq = typing.get_origin(inner) in (tuple, list)
        base = typing.get_args(inner)[0] if is_seq else inner
    values: list[str] = []
    if bound.low is not None:
        low = bound.low if not bound.low_closed else bound.low - (1 if base is int else 0.5)
        values.append(str(int(low)) if base is int else repr(float(low)))
    if bound.high is not None:
        high = bound.high if not bound.high_closed else bound.high + (1 if base is int else 0.5)
        values.append(str(int(high)) if base is int else repr(float(high)))
    if base is float:
        values.insert(0, ".nan")
        if not bound.allow_inf:
            values.append("-.inf")
    else:
        values.append("1.5")
    if is_seq:
        return [f"[{values[0]}]"]
    return values[:2]


MALFORMED_SETS = [
    ("no-equals", "train.env_steps", "env_steps"),
    ("empty-key", "=5", ""),
    ("dot-key", ".=1", ""),
    ("double-dot", "train..env_steps=1", ""),
    ("into-scalar", "seed.x=1", "seed"),
    ("section-scalar", "train=5", "train"),
    ("empty-value", "train.env_steps=", "env_steps"),
    ("bad-yaml-value", "train.env_steps=[1", "env_steps"),
    ("unknown-section", "nope.x=1", "nope"),
    ("unknown-field", "train.nope=1", "nope"),
    ("duplicate-in-value", "train={eval_every: 1, eval_every: 2}", "eval_every"),
    ("empty-hidden-dims", "sac.hidden_dims=[]", "hidden_dims"),
    ("duplicate-cameras", "env.cameras=[front, front]", "cameras"),
    ("unknown-transport", "runtime.transport=carrier-pigeon", "transport"),
    ("unknown-agent", "agent=ppo", "agent"),
    ("unknown-task", "task=nope", "task"),
    ("python-tag-value", "name=!!python/object/apply:os.getcwd []", ""),
    ("mapping-for-int", "train.env_steps={a: 1}", "env_steps"),
    ("list-for-float", "sac.actor_lr=[1]", "actor_lr"),
    ("string-for-bool", "train.video=maybe", "video"),
    ("huge-int", "train.env_steps=1" + "0" * 40, ""),
    ("nan-updates-per-step", "train.updates_per_env_step=.nan", "updates_per_env_step"),
    ("inf-actor-lr", "sac.actor_lr=.inf", "actor_lr"),
    ("negative-heartbeat", "runtime.heartbeat_timeout_s=-1", "heartbeat_timeout_s"),
    ("zero-heartbeat", "runtime.heartbeat_interval_s=0", "heartbeat_interval_s"),
    ("negative-restarts", "runtime.max_learner_restarts=-1", "max_learner_restarts"),
    ("negative-learning-starts", "train.learning_starts=-1", "learning_starts"),
    ("deadline-nan", "safety.stream_deadlines.state=.nan", "stream_deadlines"),
]


def set_group(fx: Fixtures) -> list[CliCase]:
    cases = []
    for name, item, mention in MALFORMED_SETS:
        cases.append(CliCase("set", name, lambda d, s=item: [
            "train", str(SHIPPED), "--set", s, "--quiet"], mention=mention))  # fmt: skip
    for i, (path, class_name, field_name, tp) in enumerate(_field_paths()):
        for j, value in enumerate(_bad_values(class_name, field_name, tp)):
            cases.append(CliCase(
                "set", f"{path}={value}",
                lambda d, s=f"{path}={value}": ["train", str(SHIPPED), "--set", s, "--quiet"],
                mention=field_name, quick=j == 0 and i % 4 == 0,
            ))  # fmt: skip
    return cases


GROUPS: dict[str, Callable[[Fixtures], list[typing.Any]]] = {
    "config": config_group,
    "set": set_group,
}
