"""``robot-rl dataset info|verify|video|export-lerobot|import-lerobot``: look after episode stores."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _open(path: str) -> Any:
    from robot_rl.data.episode_store import EpisodeStore

    return EpisodeStore.open(path)


def cmd_info(args: argparse.Namespace) -> int:
    """Print a store's summary as JSON; damaged episodes are named on stderr too."""
    info = _open(args.store).info()
    for item in info["damaged"]:
        print(f"DAMAGED episode {item['episode']}: {item['error']}", file=sys.stderr)
    print(json.dumps(info, indent=1, default=str))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Read every episode back; exit 1 when any is damaged."""
    from robot_rl.data.store_tools import verify_store

    report = verify_store(Path(args.store))
    for item in report["damaged"]:
        print(f"DAMAGED episode {item['episode']}: {item['error']}", file=sys.stderr)
    for name in report["incomplete"]:
        print(f"incomplete (uncommitted, ignored by readers): {name}", file=sys.stderr)
    print(json.dumps(report, indent=1))
    return 1 if report["damaged"] else 0


def cmd_video(args: argparse.Namespace) -> int:
    """One mp4 per episode and camera: OUT/ep_NNNNNN_<camera>.mp4."""
    from robot_rl import keys
    from robot_rl.data.video import episode_video

    store = _open(args.store)
    cameras = [k for k in store.obs_spec if keys.is_image_key(k)]
    if args.camera:
        cameras = [c for c in cameras if c in (args.camera, keys.pixels_key(args.camera))]
    if not cameras:
        print(f"error: {args.store} has no camera {args.camera or ''}", file=sys.stderr)
        return 2
    ids = args.episode if args.episode else store.episode_ids()
    out = Path(args.out)
    for episode_id in ids:
        for camera in cameras:
            name = camera.removeprefix("pixels_")
            path = out / f"ep_{episode_id:06d}_{name}.mp4"
            episode_video(store, camera, path, episode_id=episode_id, fps=args.fps)
            print(path)
    return 0


def cmd_export_lerobot(args: argparse.Namespace) -> int:
    """Export to a LeRobotDataset v3.0 directory."""
    from robot_rl.data.lerobot_export import export_lerobot

    info = export_lerobot(_open(args.store), Path(args.out), fps=args.fps, task=args.task)
    keys = ("total_episodes", "total_frames", "fps", "skipped_episodes")
    print(json.dumps({k: info[k] for k in keys}))
    return 0


def cmd_import_lerobot(args: argparse.Namespace) -> int:
    """Import a LeRobotDataset v3.0 directory into a new episode store."""
    from robot_rl.data.lerobot_import import import_lerobot

    store = import_lerobot(
        Path(args.dataset), Path(args.out), assume_success=args.assume_success, task=args.task
    )
    info = store.info()
    print(json.dumps({k: info[k] for k in ("path", "episodes", "transitions", "successes")}))
    return 0


def _run(func: Any) -> Any:
    """Store errors become a one-line message and exit code 2, not a traceback."""

    def wrapped(args: argparse.Namespace) -> int:
        from robot_rl.data.episode_store import EpisodeStoreError
        from robot_rl.data.lerobot_import import LeRobotImportError

        try:
            return int(func(args))
        except (EpisodeStoreError, FileExistsError, LeRobotImportError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2

    return wrapped


def add_dataset_commands(subparsers: Any) -> None:
    """Add ``dataset`` with its subcommands to the ``robot-rl`` parser."""
    top = subparsers.add_parser(
        "dataset", help="inspect, verify, view and export episode stores", description=__doc__
    )
    sub = top.add_subparsers(dest="dataset_command", required=True, metavar="SUBCOMMAND")

    p = sub.add_parser("info", help="summary: episodes, transitions, successes, size, spec")
    p.add_argument("store", help="episode store directory (e.g. RUN_DIR/episodes)")
    p.set_defaults(func=_run(cmd_info))

    p = sub.add_parser("verify", help="read every episode back; exit 1 naming damaged ones")
    p.add_argument("store")
    p.set_defaults(func=_run(cmd_verify))

    p = sub.add_parser("video", help="an mp4 per episode and camera")
    p.add_argument("store")
    p.add_argument("--out", required=True, help="folder for the mp4 files")
    p.add_argument("--camera", help="one camera (default: all)")
    p.add_argument("--episode", type=int, action="append", help="episode id (repeatable)")
    p.add_argument("--fps", type=float, default=10.0)
    p.set_defaults(func=_run(cmd_video))

    p = sub.add_parser("export-lerobot", help="export to the LeRobotDataset v3.0 layout")
    p.add_argument("store")
    p.add_argument("--out", required=True, help="new directory for the dataset")
    p.add_argument("--fps", type=float, default=10.0, help="control rate of the recording")
    p.add_argument("--task", help="task description (default: the store's task attribute)")
    p.set_defaults(func=_run(cmd_export_lerobot))

    p = sub.add_parser(
        "import-lerobot", help="import a LeRobotDataset v3.0 directory into a new episode store"
    )
    p.add_argument("dataset", help="LeRobotDataset v3.0 directory (meta/, data/, videos/)")
    p.add_argument("--out", required=True, help="new episode store directory")
    p.add_argument(
        "--assume-success",
        action="store_true",
        help="every episode is a successful demo: reward 1 and terminated on its last step",
    )
    p.add_argument("--task", help="task attribute of the store (default: the dataset's task)")
    p.set_defaults(func=_run(cmd_import_lerobot))
