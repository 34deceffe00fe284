"""Camera frame -> browser latency of the dashboard on loopback (2 cameras x 10 fps).

Synthetic (default): frames are published at ``--fps`` per camera (twin-sized images that
change every frame). ``--twin``: the twin steps at ``--step-hz`` on this thread and its
front and wrist cameras are rendered by the dashboard's TwinCameraStream (the path of
``robot-rl train --dashboard``) at ``--fps``, so the frame rate per camera is measured too.
The page timestamps each frame when its <img> has decoded it. Last line: JSON with
p50_ms, p95_ms, fps_per_camera. Needs /usr/bin/chromium and the playwright package.
"""

from __future__ import annotations

import argparse
import json
import threading
import time

import numpy as np

from robot_rl.dashboard.app import DashboardServer
from robot_rl.dashboard.state import DashboardFeed
from robot_rl.hil import RunControls

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--cameras", type=int, default=2)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--twin", action="store_true", help="render the stepping twin's cameras")
    parser.add_argument("--step-hz", type=float, default=20.0, help="twin steps per s (--twin)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    feed = DashboardFeed(RunControls())
    server = DashboardServer(feed, port=0).start()
    stop = threading.Event()
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (args.size, args.size, 3), dtype=np.uint8)

    def publish() -> None:
        n = 0
        while not stop.is_set():
            for cam in range(args.cameras):
                frame = np.roll(base, n + cam, axis=1)  # (H, W, 3) uint8, changes every frame
                feed.publish_frame(f"cam{cam}", frame)
            n += 1
            time.sleep(1.0 / args.fps)

    def step_twin() -> None:
        from robot_rl_sim import TwinConfig, make_env

        from robot_rl.dashboard.twin_cameras import TwinCameraStream

        env = make_env(TwinConfig(obs_mode="state", max_episode_steps=50), seed=0)
        env.reset()
        stream = TwinCameraStream(
            env, feed, cameras=("front", "wrist")[: args.cameras], size=args.size, hz=args.fps
        ).start()
        while not stop.is_set():
            _obs, _r, term, trunc, _i = env.step(env.action_space.sample())
            stream.capture()
            if term or trunc:
                env.reset()
            time.sleep(1.0 / args.step_hz)
        stream.close()
        env.close()

    thread = threading.Thread(target=step_twin if args.twin else publish, daemon=True)
    thread.start()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page()
        page.goto(server.url)
        page.wait_for_function("() => window.__latencies.length > 10", timeout=15000)
        page.evaluate("() => { window.__latencies = []; window.__frames = {}; }")  # drop warm-up
        time.sleep(args.seconds)
        lat = np.asarray(page.evaluate("() => window.__latencies"), dtype=float)
        frames = page.evaluate("() => window.__frames")
        browser.close()
    stop.set()
    thread.join(timeout=5)
    server.stop()
    fps = {cam: n / args.seconds for cam, n in frames.items()}
    print(f"frames per camera per s: {fps}")
    print(json.dumps({
        "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
        "max_ms": float(lat.max()), "frames": int(lat.size), "fps_per_camera": fps,
        "cameras": args.cameras, "image_size": args.size, "source": "twin" if args.twin else "synthetic",
    }))  # fmt: skip


if __name__ == "__main__":
    main()
