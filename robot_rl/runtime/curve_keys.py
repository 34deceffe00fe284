"""CURVE keys of a run (ZeroMQ's authenticated, encrypted transport) and the loopback rule.

Off loopback the learner socket must not take steps from, or send weights to, whoever
connects. ZeroMQ's CURVE does the cryptography (pyzmq ships libsodium-backed CURVE and its ZAP
authenticator); here are only the file layout and who needs which file::

    RUN_DIR/keys/learner.key          learner public key       -> the actor machine too
    RUN_DIR/keys/learner.key_secret   learner key pair         (learner machine only)
    RUN_DIR/keys/actor.key_secret     actor key pair           -> the actor machine
    RUN_DIR/keys/authorized_actors/   public keys the learner accepts (actor.key; add more)

A learner with ``learner.key_secret`` in its run directory serves CURVE only, and accepts only
clients whose public key is in ``authorized_actors/``; an actor with ``actor.key_secret`` and
``learner.key`` connects with CURVE. Without keys both sides are plain zmq, and the learner then
refuses to bind anything but a loopback (or ipc/inproc) address.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth

KEYS_DIR = "keys"
AUTHORIZED_DIR = "authorized_actors"


class CurveKeyError(ValueError):
    """A key file that is missing a part or cannot be read; the message names the file."""


@dataclass(frozen=True)
class LearnerKeys:
    """The learner's CURVE key pair and the folder of actor public keys it accepts."""

    public_key: bytes
    secret_key: bytes
    authorized_dir: Path


@dataclass(frozen=True)
class ActorKeys:
    """An actor's CURVE key pair and the learner public key it expects."""

    public_key: bytes
    secret_key: bytes
    server_public_key: bytes


def is_loopback_address(address: str) -> bool:
    """Whether a zmq bind/connect address stays on this machine (loopback tcp, ipc, inproc)."""
    scheme, _, rest = address.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    if scheme != "tcp" or not rest:
        return False
    host = rest.rsplit(":", 1)[0] if ":" in rest else rest
    host = host.removeprefix("[").removesuffix("]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # "*", an interface name or a host name: not provably loopback
        return False


def _load(path: Path, *, secret: bool) -> tuple[bytes, bytes | None]:
    try:
        public, secret_key = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as err:
        raise CurveKeyError(f"{path}: not a readable CURVE key file ({err})") from None
    if secret and not secret_key:
        raise CurveKeyError(f"{path}: has no secret key (a .key_secret file is needed here)")
    return public, secret_key


def create_keys(run_dir: Path) -> Path:
    """Write a learner and an actor key pair into ``run_dir/keys`` (kept if already there)."""
    keys = run_dir / KEYS_DIR
    authorized = keys / AUTHORIZED_DIR
    authorized.mkdir(parents=True, exist_ok=True)
    os.chmod(keys, 0o700)
    for name in ("learner", "actor"):
        if not (keys / f"{name}.key_secret").is_file():
            zmq.auth.create_certificates(str(keys), name)
            os.chmod(keys / f"{name}.key_secret", 0o600)
    if not (authorized / "actor.key").is_file():
        shutil.copyfile(keys / "actor.key", authorized / "actor.key")
    return keys


def learner_keys(run_dir: Path) -> LearnerKeys | None:
    """The learner's keys from ``run_dir/keys``; None when the run has none."""
    path = run_dir / KEYS_DIR / "learner.key_secret"
    if not path.is_file():
        return None
    public, secret = _load(path, secret=True)
    authorized = run_dir / KEYS_DIR / AUTHORIZED_DIR
    if not authorized.is_dir() or not any(authorized.glob("*.key")):
        raise CurveKeyError(f"{authorized}: no actor public key (*.key): no actor could connect")
    assert secret is not None
    return LearnerKeys(public, secret, authorized)


def actor_keys(run_dir: Path) -> ActorKeys | None:
    """An actor's keys from ``run_dir/keys``; None when the run has none."""
    path = run_dir / KEYS_DIR / "actor.key_secret"
    if not path.is_file():
        return None
    public, secret = _load(path, secret=True)
    server_path = run_dir / KEYS_DIR / "learner.key"
    if not server_path.is_file():
        raise CurveKeyError(f"{server_path}: missing (the learner's public key, from its run dir)")
    server_public, _ = _load(server_path, secret=False)
    assert secret is not None
    return ActorKeys(public, secret, server_public)


__all__ = [
    "ActorKeys",
    "CurveKeyError",
    "LearnerKeys",
    "actor_keys",
    "create_keys",
    "is_loopback_address",
    "learner_keys",
]
