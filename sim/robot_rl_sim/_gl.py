"""Headless OpenGL backend choice for MuJoCo; must run before ``mujoco`` is first imported.

MuJoCo reads ``MUJOCO_GL`` once, when ``mujoco`` is imported, and (3.x) imports the GL
bindings right then: an unusable value makes ``import mujoco`` itself fail, which would break
state-only envs that never render. So:

- MUJOCO_GL unset: pick ``egl`` if libEGL loads, else ``osmesa`` if libOSMesa loads, and set
  ``PYOPENGL_PLATFORM`` to match (PyOpenGL refuses a mismatch);
- MUJOCO_GL set by the user to a backend whose library loads (or glx/glfw): keep it;
- otherwise (no library, unknown name): set MUJOCO_GL=disable so physics still imports, and
  remember why; the first renderer then raises :class:`RenderBackendError` with that reason and
  the Debian packages to install. State-only envs never create a renderer.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import dataclass

BACKEND_LIBS: dict[str, tuple[tuple[str, ...], str]] = {
    "egl": (("libEGL.so.1",), "EGL"),
    "osmesa": (("libOSMesa.so.8", "libOSMesa.so.6"), "OSMesa"),
}
OTHER_BACKENDS: tuple[str, ...] = ("glx", "glfw")
DISABLED = ("disable", "disabled", "off", "false", "0")
INSTALL_HINT = (
    "install a headless OpenGL backend: `apt-get install -y libegl1 libegl-mesa0 libgl1-mesa-dri` "
    "(EGL, then MUJOCO_GL=egl) or `apt-get install -y libosmesa6` (software, then MUJOCO_GL=osmesa)"
)


class RenderBackendError(RuntimeError):
    """No OpenGL backend is usable for MuJoCo's offscreen renderer."""


@dataclass(frozen=True)
class BackendChoice:
    """The backend MuJoCo was configured with, and why rendering cannot work (if it cannot)."""

    name: str | None
    problem: str | None = None


def _loadable(backend: str) -> bool:
    """True if the shared library of an egl/osmesa backend can be loaded."""
    sonames, libname = BACKEND_LIBS[backend]
    found = ctypes.util.find_library(libname)
    for name in (*sonames, *([found] if found else [])):
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


def choose_backend(requested: str) -> BackendChoice:
    """Backend for a MUJOCO_GL value ('' = choose automatically); never raises."""
    requested = requested.strip().lower()
    if not requested:
        for backend in BACKEND_LIBS:
            if _loadable(backend):
                return BackendChoice(backend)
        return BackendChoice(None, "neither libEGL nor libOSMesa can be loaded")
    if requested in OTHER_BACKENDS or requested in DISABLED:
        return BackendChoice(requested)
    if requested in BACKEND_LIBS:
        if _loadable(requested):
            return BackendChoice(requested)
        return BackendChoice(None, f"MUJOCO_GL={requested!r} but its library cannot be loaded")
    known = ", ".join((*BACKEND_LIBS, *OTHER_BACKENDS))
    return BackendChoice(None, f"MUJOCO_GL={requested!r} is not a MuJoCo backend (known: {known})")


def configure_environment() -> BackendChoice:
    """Set MUJOCO_GL / PYOPENGL_PLATFORM for this process before mujoco is imported."""
    choice = choose_backend(os.environ.get("MUJOCO_GL", ""))
    if choice.name is None:
        os.environ["MUJOCO_GL"] = "disable"  # physics must still import; rendering will raise
        return choice
    os.environ["MUJOCO_GL"] = choice.name
    if choice.name in BACKEND_LIBS:
        os.environ.setdefault("PYOPENGL_PLATFORM", choice.name)
    return choice


def backend_error(detail: str) -> RenderBackendError:
    """RenderBackendError for a failed renderer, with the reason and the packages to install."""
    reason = BACKEND.problem or f"MUJOCO_GL={os.environ.get('MUJOCO_GL', '')!r}"
    return RenderBackendError(f"cannot render with MuJoCo: {reason} ({detail}); {INSTALL_HINT}")


BACKEND = configure_environment()
