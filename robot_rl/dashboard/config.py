"""The ``dashboard:`` block of a run config (plain dataclass: importing it pulls in no web stack)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from robot_rl.dashboard.guard import check_token, normalise_origin


@dataclass
class DashboardConfig:
    """The live web dashboard of a training run (``robot-rl train CONFIG --dashboard``)."""

    enabled: bool = False
    """Serve the dashboard while training (the CLI's ``--dashboard`` sets this)."""
    host: str = "127.0.0.1"
    """Bind address; loopback only unless set otherwise (e.g. 0.0.0.0 to reach it from the LAN)."""
    port: int = 8765
    """TCP port (0 picks a free one; the printed URL names it)."""
    token: str = ""
    """Access token every HTTP and websocket call must carry; empty: a random one, printed at start. A given one needs >= 16 URL-safe characters, >= 8 different (``dashboard/guard.py``)."""
    allowed_origins: tuple[str, ...] = ()
    """Origins (``http://host:port``) besides the page's own whose pages may press buttons and open the websocket; needed when the page is opened under a DNS name (the page's own origin counts only under an IP address or localhost)."""
    cameras: tuple[str, ...] = ()
    """Twin cameras to show; empty: every camera of ``env.cameras``."""
    image_size: int = 256
    """Height and width (px) of the dashboard's camera views, rendered apart from the policy's images."""
    camera_hz: float = 15.0
    """Camera frames rendered per second per camera on a thread of their own (only while the twin moves)."""
    jpeg_quality: int = 80
    """JPEG quality (1-95) of the streamed frames."""
    realtime: Literal["human", "always", "never"] = "human"
    """When the twin steps in wall-clock time at ``env.control_hz``: while a person drives (take over, or browser teleop switched on), always, or never (as fast as training goes)."""
    browser_teleop: bool = True
    """The page's keyboard/gamepad can drive the arm when ``teleop.device`` is none."""

    def validate(self) -> None:
        """Raise ValueError naming the bad field."""
        if not 0 <= self.port <= 65535:
            raise ValueError(f"dashboard.port: expected 0..65535, got {self.port}")
        if self.image_size < 16:
            raise ValueError(f"dashboard.image_size: expected >= 16 px, got {self.image_size}")
        if not 0.0 < self.camera_hz <= 60.0:
            raise ValueError(f"dashboard.camera_hz: expected in (0, 60], got {self.camera_hz}")
        if not 1 <= self.jpeg_quality <= 95:
            raise ValueError(f"dashboard.jpeg_quality: expected 1..95, got {self.jpeg_quality}")
        if self.token:
            check_token(self.token, where="dashboard.token")
        for i, origin in enumerate(self.allowed_origins):
            normalise_origin(origin, where=f"dashboard.allowed_origins[{i}]")
