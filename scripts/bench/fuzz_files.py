"""The fuzz corpus of policy files, checkpoints, episode stores, train and learner runs.

Each group is a function ``fixtures -> list[CliCase]``, registered in ``GROUPS``; a case names
the ``robot-rl`` arguments (given a fresh directory to put damaged files in) and what the
command must do. Add a case by appending to a list below. Shared inputs (a tiny trained run,
its demo store) come from ``Fixtures``, built once per bench run.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import shutil
import subprocess
import sys
import typing
from collections.abc import Callable
from pathlib import Path

from fuzz import ROOT, CliCase, Outcome

SHIPPED = ROOT / "configs" / "pick_cube_state.yaml"
TINY = """name: fuzz
runs_dir: {runs}
env: {{obs_mode: state, max_episode_steps: 20}}
sac: {{critic_ensemble_size: 2, utd_ratio: 1, batch_size: 16, hidden_dims: [32, 32]}}
demos: {{num_episodes: 2}}
train: {{env_steps: 60, learning_starts: 20, weights_push_every: 10, checkpoint_every: 20,
        eval_every: 0, final_eval_episodes: 1, max_steps_ahead: 20, video: false}}
runtime: {{transport: zmq, heartbeat_timeout_s: 3.0, startup_timeout_s: 60}}
"""
NEEDS_RUN = {"policy", "checkpoint", "store", "socket", "learner_cli"}


class Fixtures:
    """Inputs shared by cases: a tiny config and (when a case needs it) a trained run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.tiny = root / "tiny.yaml"
        self.tiny.write_text(TINY.format(runs=root / "runs"))
        self.run = root / "run"

    def prepare(self, cases: list[typing.Any]) -> None:
        """Train the tiny run once if a case needs it (about 15 s)."""
        if self.run.exists() or not any(c.group in NEEDS_RUN for c in cases):
            return
        out = subprocess.run(
            [sys.executable, "-m", "robot_rl.cli", "train", str(self.tiny), "--run-dir",
             str(self.run), "--quiet"],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"fixture run failed: {out.stderr[-2000:]}")

    def copy_run(self, case_dir: Path, *, full: bool = False) -> Path:
        """A copy of the trained run (config, spec, policy; ``full``: everything)."""
        dst = case_dir / "run"
        if full:
            shutil.copytree(self.run, dst)
        else:
            dst.mkdir()
            for name in ("config.yaml", "spec.json", "policy.safetensors"):
                shutil.copy2(self.run / name, dst / name)
        return dst

    def copy_store(self, case_dir: Path) -> Path:
        """A copy of the run's demo store (2 episodes)."""
        dst = case_dir / "store"
        shutil.copytree(self.run / "demos", dst)
        return dst


def _file(content: bytes | str, name: str = "run.yaml") -> Callable[[Path], Path]:
    def write(case_dir: Path) -> Path:
        path = case_dir / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    return write


# ---------------------------------------------------------------------------- policy files
def _policy_case(name: str, damage: Callable[[Path], None], *, expect: str = "refuse",
                 mention: str = "policy.safetensors", extra: tuple[str, ...] = (),
                 quick: bool = True, fx: Fixtures) -> CliCase:  # fmt: skip
    def argv(case_dir: Path) -> list[str]:
        run = fx.copy_run(case_dir)
        damage(run)
        return ["eval", str(run), "--episodes", "1", "--no-video", *extra]

    return CliCase("policy", name, argv, expect=expect, mention=mention, quick=quick)


def _rewrite_policy(edit: Callable[[dict[str, typing.Any], dict[str, str]], None]) -> Callable[[Path], None]:  # fmt: skip
    def damage(run: Path) -> None:
        from safetensors import safe_open
        from safetensors.torch import load_file, save_file

        path = run / "policy.safetensors"
        with safe_open(str(path), framework="pt") as handle:
            meta = dict(handle.metadata() or {})
        tensors = load_file(str(path))
        edit(tensors, meta)
        save_file(tensors, str(path), metadata=meta)

    return damage


def _truncate(keep: Callable[[int], int]) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        path = run / "policy.safetensors"
        data = path.read_bytes()
        path.write_bytes(data[: keep(len(data))])

    return damage


def _write(name: str, content: bytes | str) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        (run / name).write_bytes(content.encode() if isinstance(content, str) else content)

    return damage


def _torch_saved(run: Path) -> None:
    import torch

    torch.save({"w": torch.ones(3)}, run / "policy.safetensors")


def _first_key_shape(tensors: dict[str, typing.Any], _meta: dict[str, str]) -> None:
    import torch

    key = sorted(tensors)[0]
    tensors[key] = torch.zeros(*[s + 1 for s in tensors[key].shape])


def _drop_half(tensors: dict[str, typing.Any], _meta: dict[str, str]) -> None:
    for key in sorted(tensors)[::2]:
        del tensors[key]


def _fill(value: float) -> Callable[[dict[str, typing.Any], dict[str, str]], None]:
    def edit(tensors: dict[str, typing.Any], _meta: dict[str, str]) -> None:
        for key in sorted(tensors):
            if tensors[key].is_floating_point():
                tensors[key] = tensors[key].clone().fill_(value)
                return

    return edit


def policy_group(fx: Fixtures) -> list[CliCase]:
    header = (2**40).to_bytes(8, "little") + b"{" * 64
    bad_offsets = b'{"w":{"dtype":"F32","shape":[1000],"data_offsets":[0,4000]}}'
    cases = [
        ("intact-ok", lambda r: None, "ok", "", ()),
        ("zero-length", _write("policy.safetensors", b""), "refuse", "policy.safetensors", ()),
        ("truncated-8", _truncate(lambda n: 8), "refuse", "policy.safetensors", ()),
        ("truncated-100", _truncate(lambda n: 100), "refuse", "policy.safetensors", ()),
        ("truncated-half", _truncate(lambda n: n // 2), "refuse", "policy.safetensors", ()),
        ("truncated-last-byte", _truncate(lambda n: n - 1), "refuse", "policy.safetensors", ()),
        (
            "pickled-dict",
            _write("policy.safetensors", pickle.dumps({"w": [1.0]})),
            "refuse",
            "policy.safetensors",
            (),
        ),
        ("torch-save-zip", _torch_saved, "refuse", "policy.safetensors", ()),
        (
            "random-bytes",
            _write("policy.safetensors", bytes(range(256)) * 16),
            "refuse",
            "policy.safetensors",
            (),
        ),
        ("json-text", _write("policy.safetensors", '{"w": 1}'), "refuse", "policy.safetensors", ()),
        (
            "huge-header-length",
            _write("policy.safetensors", header),
            "refuse",
            "policy.safetensors",
            (),
        ),
        (
            "offsets-past-end",
            _write("policy.safetensors", len(bad_offsets).to_bytes(8, "little") + bad_offsets),
            "refuse",
            "policy.safetensors",
            (),
        ),
        ("size-mismatch", _rewrite_policy(_first_key_shape), "refuse", "policy.safetensors", ()),
        ("missing-keys", _rewrite_policy(_drop_half), "refuse", "policy.safetensors", ()),
        ("nan-weights", _rewrite_policy(_fill(float("nan"))), "refuse", "", ()),
        ("inf-weights", _rewrite_policy(_fill(float("inf"))), "refuse", "", ()),
        (
            "config-hash-mismatch",
            _rewrite_policy(lambda t, m: m.update(config_hash="0" * 16)),
            "refuse",
            "config hash",
            (),
        ),
        (
            "config-hash-mismatch-allowed",
            _rewrite_policy(lambda t, m: m.update(config_hash="0" * 16)),
            "ok",
            "",
            ("--allow-config-mismatch",),
        ),
        ("no-metadata", _rewrite_policy(lambda t, m: m.clear()), "refuse", "config hash", ()),
        (
            "policy-missing",
            lambda r: (r / "policy.safetensors").unlink(),
            "refuse",
            "policy.safetensors",
            (),
        ),
        (
            "policy-is-directory",
            lambda r: ((r / "policy.safetensors").unlink(), (r / "policy.safetensors").mkdir()),
            "refuse",
            "policy.safetensors",
            (),
        ),
        ("spec-missing", lambda r: (r / "spec.json").unlink(), "refuse", "spec.json", ()),
        ("spec-empty", _write("spec.json", b""), "refuse", "spec.json", ()),
        ("spec-garbage", _write("spec.json", b"\x00\xffnot json"), "refuse", "spec.json", ()),
        ("spec-list", _write("spec.json", "[1, 2]"), "refuse", "spec.json", ()),
        (
            "spec-action-dim-zero",
            _write(
                "spec.json",
                json.dumps(
                    {
                        "action_dim": 0,
                        "observations": {"state": {"shape": [28], "dtype": "float32"}},
                    }
                ),
            ),
            "refuse",
            "spec.json",
            (),
        ),
        (
            "spec-action-dim-wrong",
            _write(
                "spec.json",
                json.dumps(
                    {
                        "action_dim": 5,
                        "observations": {"state": {"shape": [28], "dtype": "float32"}},
                    }
                ),
            ),
            "refuse",
            "",
            (),
        ),
        (
            "spec-negative-shape",
            _write(
                "spec.json",
                json.dumps(
                    {
                        "action_dim": 4,
                        "observations": {"state": {"shape": [-3], "dtype": "float32"}},
                    }
                ),
            ),
            "refuse",
            "spec.json",
            (),
        ),
        (
            "spec-bad-dtype",
            _write(
                "spec.json",
                json.dumps(
                    {"action_dim": 4, "observations": {"state": {"shape": [28], "dtype": "quux"}}}
                ),
            ),
            "refuse",
            "spec.json",
            (),
        ),
        (
            "spec-wrong-obs-size",
            _write(
                "spec.json",
                json.dumps(
                    {
                        "action_dim": 4,
                        "observations": {"state": {"shape": [29], "dtype": "float32"}},
                    }
                ),
            ),
            "refuse",
            "",
            (),
        ),
        (
            "run-config-duplicate-key",
            lambda r: (r / "config.yaml").write_text((r / "config.yaml").read_text() + "seed: 3\n"),
            "refuse",
            "seed",
            (),
        ),
        (
            "run-config-latin-1",
            lambda r: (r / "config.yaml").write_bytes(
                (r / "config.yaml").read_bytes() + b"# caf\xe9\n"
            ),
            "refuse",
            "UTF-8",
            (),
        ),
        ("run-config-missing", lambda r: (r / "config.yaml").unlink(), "refuse", "config.yaml", ()),
    ]
    return [
        _policy_case(name, damage, expect=expect, mention=mention, extra=extra,
                     quick=i % 3 == 0, fx=fx)
        for i, (name, damage, expect, mention, extra) in enumerate(cases)
    ]  # fmt: skip


# ---------------------------------------------------------------------------- checkpoints
def _ckpts(run: Path) -> list[Path]:
    return sorted((run / "checkpoints").glob("ckpt_*.pt"))


def _resume_case(name: str, damage: Callable[[Path], None], *, expect: str, mention: str,
                 check: Callable[[Path, Outcome], str | None] | None = None,
                 quick: bool = False, fx: Fixtures) -> CliCase:  # fmt: skip
    def argv(case_dir: Path) -> list[str]:
        run = fx.copy_run(case_dir, full=True)
        damage(run)
        return ["train", "--resume", str(run), "--set", "train.env_steps=90", "--quiet"]

    return CliCase("checkpoint", name, argv, expect=expect, mention=mention, check=check,
                   timeout_s=180, quick=quick)  # fmt: skip


def _says_skipping(_d: Path, out: Outcome) -> str | None:
    return None if "skipping" in out.stderr else "silent_ok"


def checkpoint_group(fx: Fixtures) -> list[CliCase]:
    def junk_all(run: Path) -> None:
        for path in _ckpts(run):
            path.write_bytes(b"junk")

    def empty_all(run: Path) -> None:
        for path in _ckpts(run):
            path.write_bytes(b"")

    def truncate_newest(run: Path) -> None:
        newest = _ckpts(run)[-1]
        newest.write_bytes(newest.read_bytes()[:200])

    def pickle_with_code(run: Path) -> None:
        for path in _ckpts(run):
            path.write_bytes(pickle.dumps(subprocess.Popen))  # a global: weights_only refuses

    def not_a_dict(run: Path) -> None:
        import torch

        for path in _ckpts(run):
            torch.save([1, 2, 3], path)

    def ckpt_dir_is_file(run: Path) -> None:
        shutil.rmtree(run / "checkpoints")
        (run / "checkpoints").write_text("")

    def config_duplicate(run: Path) -> None:
        (run / "config.yaml").write_text((run / "config.yaml").read_text() + "seed: 4\n")

    return [
        _resume_case("all-junk", junk_all, expect="refuse", mention="checkpoint", quick=True, fx=fx),
        _resume_case("all-empty", empty_all, expect="refuse", mention="checkpoint", fx=fx),
        _resume_case("newest-truncated", truncate_newest, expect="ok", mention="",
                     check=_says_skipping, fx=fx),
        _resume_case("pickle-with-code", pickle_with_code, expect="refuse", mention="checkpoint",
                     fx=fx),
        _resume_case("not-a-learner-checkpoint", not_a_dict, expect="refuse", mention="checkpoint",
                     fx=fx),
        _resume_case("checkpoints-is-a-file", ckpt_dir_is_file, expect="refuse", mention="learner",
                     fx=fx),
        _resume_case("config-duplicate-key", config_duplicate, expect="refuse", mention="seed",
                     quick=True, fx=fx),
    ]  # fmt: skip


# ---------------------------------------------------------------------------- episode stores
def _episode_json(store: Path, i: int) -> Path:
    return store / "episodes" / f"ep_{i:06d}" / "zarr.json"


def _set_length(value: object) -> Callable[[Path], None]:
    def damage(store: Path) -> None:
        path = _episode_json(store, 0)
        meta = json.loads(path.read_text())
        meta["attributes"]["length"] = value
        path.write_text(json.dumps(meta))

    return damage


def _truncate_chunk(store: Path) -> None:
    chunks = sorted(p for p in (store / "episodes" / "ep_000000").rglob("c*") if p.is_file())
    chunks[0].write_bytes(chunks[0].read_bytes()[:3])


def _lengths(store: Path) -> dict[int, int]:
    out = {}
    for path in sorted((store / "episodes").glob("ep_*/zarr.json")):
        with contextlib.suppress(ValueError, KeyError, TypeError):
            out[int(path.parent.name[3:])] = int(
                json.loads(path.read_text())["attributes"]["length"]
            )
    return out


def _info_counts_only_good(fx: Fixtures) -> Callable[[Path, Outcome], str | None]:
    def check(case_dir: Path, out: Outcome) -> str | None:
        try:
            info = json.loads(out.stdout)
        except json.JSONDecodeError:
            return "wrong_refusal"
        good = _lengths(fx.run / "demos")
        expected = sum(v for k, v in good.items() if k != 0)
        if info.get("transitions") != expected or not info.get("damaged"):
            return "bad_data"
        return None

    return check


def _export_skips_one(case_dir: Path, out: Outcome) -> str | None:
    try:
        info = json.loads(out.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return "wrong_refusal"
    if info.get("total_episodes") != 1:
        return "bad_data"
    return None if "episode 0" in out.stderr else "silent_ok"


def _store_case(name: str, damage: Callable[[Path], None], command: list[str], *,
                expect: str, mention: str = "", check: Callable[[Path, Outcome], str | None] | None = None,
                timeout_s: float = 60, quick: bool = True, fx: Fixtures) -> CliCase:  # fmt: skip
    def argv(case_dir: Path) -> list[str]:
        store = fx.copy_store(case_dir)
        damage(store)
        return [
            a.replace("STORE", str(store))
            .replace("CASE", str(case_dir))
            .replace("TINY", str(fx.tiny))
            for a in command
        ]

    return CliCase("store", name, argv, expect=expect, mention=mention, check=check,
                   timeout_s=timeout_s, quick=quick)  # fmt: skip


def store_group(fx: Fixtures) -> list[CliCase]:
    garbage_episode = _write_rel("episodes/ep_000000/zarr.json", b"{garbage")
    info, verify = ["dataset", "info", "STORE"], ["dataset", "verify", "STORE"]
    export = ["dataset", "export-lerobot", "STORE", "--out", "CASE/lerobot"]
    bc = ["train", "TINY", "--demos", "STORE", "--run-dir", "CASE/bc", "--quiet",
          "--set", "agent=bc", "--set", "bc.num_updates=20"]  # fmt: skip
    sac = ["train", "TINY", "--demos", "STORE", "--run-dir", "CASE/sac", "--quiet"]
    counts = _info_counts_only_good(fx)
    cases = [
        ("info-intact-ok", lambda s: None, info, "ok", "", None),
        ("info-episode-json-garbage", garbage_episode, info, "ok", "", counts),
        ("info-length-lies", _set_length(999), info, "ok", "", counts),
        ("info-length-negative", _set_length(-5), info, "ok", "", counts),
        ("info-length-string", _set_length("many"), info, "ok", "", counts),
        ("info-length-missing", _set_length(None), info, "ok", "", counts),
        ("info-root-json-garbage", _write_rel("zarr.json", b"\xff\xfe"), info, "refuse", "STORE", None),
        ("info-root-json-missing", lambda s: (s / "zarr.json").unlink(), info, "refuse", "zarr.json", None),
        ("info-no-episodes-dir", lambda s: shutil.rmtree(s / "episodes"), info, "refuse", "episodes", None),
        ("info-schema-version-99", _root_attr("schema_version", 99), info, "refuse", "schema_version", None),
        ("info-wrong-format", _root_attr("format", "other"), info, "refuse", "format", None),
        ("info-store-missing", lambda s: shutil.rmtree(s), info, "refuse", "", None),
        ("verify-chunk-truncated", _truncate_chunk, verify, "refuse", "", None),
        ("verify-episode-json-garbage", garbage_episode, verify, "refuse", "", None),
        ("export-episode-json-garbage", garbage_episode, export, "ok", "", _export_skips_one),
        ("export-chunk-truncated", _truncate_chunk, export, "ok", "", _export_skips_one),
        ("export-all-damaged", _all_episodes_garbage, export, "refuse", "readable", None),
        ("video-no-camera", lambda s: None, ["dataset", "video", "STORE", "--out", "CASE/v"],
         "refuse", "camera", None),
        ("bc-damaged-demo", garbage_episode, bc, "ok", "", _says_skipping),
        ("bc-all-damaged", _all_episodes_garbage, bc, "refuse", "readable", None),
        ("sac-damaged-demo", garbage_episode, sac, "ok", "", _says_skipping),
        ("import-lerobot-garbage", lambda s: None,
         ["dataset", "import-lerobot", "STORE", "--out", "CASE/imported"], "refuse", "", None),
    ]  # fmt: skip
    return [
        _store_case(name, damage, command, expect=expect, mention=mention.replace("STORE", ""),
                    check=check, timeout_s=180 if command[0] == "train" else 60,
                    quick=command[0] != "train" or name == "bc-damaged-demo", fx=fx)
        for name, damage, command, expect, mention, check in cases
    ]  # fmt: skip


def _write_rel(rel: str, content: bytes) -> Callable[[Path], None]:
    def damage(store: Path) -> None:
        (store / rel).write_bytes(content)

    return damage


def _root_attr(key: str, value: object) -> Callable[[Path], None]:
    def damage(store: Path) -> None:
        meta = json.loads((store / "zarr.json").read_text())
        meta["attributes"][key] = value
        (store / "zarr.json").write_text(json.dumps(meta))

    return damage


def _all_episodes_garbage(store: Path) -> None:
    for path in (store / "episodes").glob("ep_*/zarr.json"):
        path.write_bytes(b"{garbage")


# ---------------------------------------------------------------------------- train / learner
def _tiny_with(fx: Fixtures, *sets: str) -> Callable[[Path], list[str]]:
    def argv(case_dir: Path) -> list[str]:
        args = ["train", str(fx.tiny), "--run-dir", str(case_dir / "run"), "--quiet"]
        for item in sets:
            args += ["--set", item]
        return args

    return argv


def _checkpoints_file(fx: Fixtures, *sets: str) -> Callable[[Path], list[str]]:
    def argv(case_dir: Path) -> list[str]:
        (case_dir / "run").mkdir()
        (case_dir / "run" / "checkpoints").write_text("")  # the first checkpoint save fails
        return _tiny_with(fx, *sets)(case_dir)

    return argv


def train_group(fx: Fixtures) -> list[CliCase]:
    return [
        CliCase("train", "bad-bind-address", _tiny_with(fx, "runtime.learner_address=tcp://999.1.1.1:0"),
                mention="learner", timeout_s=120),
        CliCase("train", "bind-not-tcp", _tiny_with(fx, "runtime.learner_address=nonsense"),
                mention="learner", timeout_s=120, quick=False),
        CliCase("train", "huge-replay", _tiny_with(fx, "train.replay_capacity=100000000000"),
                mention="learner", timeout_s=120, quick=False),
        CliCase("train", "inprocess-learner-thread-fails",
                _checkpoints_file(fx, "runtime.transport=inprocess"), mention="learner", timeout_s=180),
        CliCase("train", "zmq-learner-keeps-dying",
                _checkpoints_file(fx, "runtime.max_learner_restarts=1"), mention="learner",
                timeout_s=240, quick=False),
        CliCase("train", "too-few-demo-successes",
                _tiny_with(fx, "demos.max_attempts=1", "demos.num_episodes=3", "demos.noise=3"),
                mention="demos", timeout_s=120),
        CliCase("train", "demos-command-too-few", lambda d: [
            "demos", str(fx.tiny), "--out", str(d / "demos"), "--set", "demos.max_attempts=1",
            "--set", "demos.num_episodes=3", "--set", "demos.noise=3"], mention="demos"),
        CliCase("train", "resume-not-a-run", lambda d: ["train", "--resume", str(d)],
                mention="config.yaml"),
        CliCase("train", "resume-and-run-dir", lambda d: [
            "train", str(fx.tiny), "--resume", str(d), "--run-dir", str(d)], mention="--resume"),
        CliCase("train", "demos-store-missing", lambda d: [
            "train", str(fx.tiny), "--demos", str(d / "absent"), "--run-dir", str(d / "r"),
            "--quiet"], mention="absent", timeout_s=120, quick=False),
        CliCase("train", "eval-not-a-run", lambda d: ["eval", str(d)], mention="run directory"),
    ]  # fmt: skip


def learner_cli_group(fx: Fixtures) -> list[CliCase]:
    def with_run(edit: Callable[[Path], None], *extra: str) -> Callable[[Path], list[str]]:
        def argv(case_dir: Path) -> list[str]:
            run = fx.copy_run(case_dir)
            edit(run)
            return ["learner", str(run), *extra]

        return argv

    def port_in_use(case_dir: Path) -> list[str]:
        import socket

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        (case_dir / "holder.txt").write_text(str(port))
        _HELD.append(sock)  # kept open (in the forked child too) until the bench ends
        return with_run(lambda r: None, "--bind", f"tcp://127.0.0.1:{port}")(case_dir)

    return [
        CliCase("learner_cli", "port-in-use", port_in_use, mention="in use", timeout_s=60),
        CliCase("learner_cli", "bad-bind", with_run(lambda r: None, "--bind", "tcp://nonsense"),
                mention="bind", timeout_s=60),
        CliCase("learner_cli", "no-config", lambda d: ["learner", str(d)], mention="config.yaml"),
        CliCase("learner_cli", "spec-garbage", with_run(_write("spec.json", b"{{{"),
                "--bind", "tcp://127.0.0.1:0"), mention="spec.json", timeout_s=60),
        CliCase("learner_cli", "spec-missing", with_run(lambda r: (r / "spec.json").unlink(),
                "--bind", "tcp://127.0.0.1:0"), mention="spec.json", timeout_s=60),
        CliCase("learner_cli", "set-non-runtime", with_run(lambda r: None, "--set",
                "sac.batch_size=5"), mention="runtime", timeout_s=60),
        CliCase("learner_cli", "set-nan-heartbeat", with_run(lambda r: None, "--set",
                "runtime.heartbeat_interval_s=.nan"), mention="heartbeat_interval_s", timeout_s=60),
        CliCase("learner_cli", "demos-missing", with_run(lambda r: None, "--demos",
                "/nonexistent/store", "--bind", "tcp://127.0.0.1:0"), mention="nonexistent",
                timeout_s=60),
    ]  # fmt: skip


_HELD: list[object] = []

GROUPS: dict[str, Callable[[Fixtures], list[typing.Any]]] = {
    "policy": policy_group,
    "checkpoint": checkpoint_group,
    "store": store_group,
    "train": train_group,
    "learner_cli": learner_cli_group,
}
