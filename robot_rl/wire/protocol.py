"""The actor <-> learner wire format: versioned msgpack envelopes, never executable payloads.

Every message is one msgpack map ``{"magic", "v", "type", "seq", "t", "src", "body"}``; numpy
arrays travel as tagged maps of a whitelisted dtype, a shape and raw little-endian C-order
bytes; weights travel as a safetensors blob. Decoding only ever builds plain data and checks
every field, so a bad or hostile payload raises ``ProtocolError`` instead of running code (the
SERL / LeRobot transports unpickle whatever arrives). msgpack and safetensors do the byte
work; the field checks (robot_rl/wire/fields.py) are written by hand because they are
the contract. See docs/wire_format.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import msgpack
import numpy as np

from robot_rl import keys
from robot_rl.wire.fields import (
    MAX_CONTAINER_LEN,
    MAX_STR_BYTES,
    ProtocolError,
    check_safetensors,
    decode_array,
    encode_array,
    float_field,
    obs_map,
    require_field,
    scalar_map,
)

if TYPE_CHECKING:
    import torch

MAGIC = "robot_rl"
PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS: frozenset[int] = frozenset({1})
DEFAULT_MAX_MESSAGE_BYTES = 128 * 1024 * 1024  # a large image-encoder policy fits; a bug does not


# -- messages ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hello:
    """First message of a peer: who it is and which run configuration it serves."""

    TYPE: ClassVar[str] = "hello"
    role: str  # "actor" or "learner"
    run_id: str
    config_hash: str
    # The secret the learner was launched with (``robot-rl train`` hands it to both sides);
    # only an actor that shows it may stop or pace the learner. "" when there is none.
    launch_token: str = ""

    def to_body(self) -> dict[str, Any]:
        body = {"role": self.role, "run_id": self.run_id, "config_hash": self.config_hash}
        if self.launch_token:  # optional: peers without the field still decode this message
            body["launch_token"] = self.launch_token
        return body

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Hello:
        role = require_field(body, "role", str, "hello")
        if role not in ("actor", "learner"):
            raise ProtocolError(f"hello.role: expected 'actor' or 'learner', got {role!r:.40}")
        token = body.get("launch_token", "")
        if not isinstance(token, str) or len(token) > 256:
            raise ProtocolError("hello.launch_token: expected a str of at most 256 characters")
        return cls(
            role,
            require_field(body, "run_id", str, "hello"),
            require_field(body, "config_hash", str, "hello"),
            token,
        )


@dataclass(frozen=True)
class Heartbeat:
    """Liveness only; transports consume it and never hand it to the caller."""

    TYPE: ClassVar[str] = "heartbeat"

    def to_body(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Heartbeat:
        return cls()


@dataclass(frozen=True)
class Step:
    """One env step, actor -> learner. ``first_obs`` is sent only with ``t == 0``."""

    TYPE: ClassVar[str] = "step"
    episode_id: int
    t: int  # step index within the episode
    first_obs: dict[str, np.ndarray] | None  # obs_0 when t == 0, else None
    action: np.ndarray  # (A,) float32 in [-1, 1], finite
    reward: float
    next_obs: dict[str, np.ndarray]  # obs_{t+1}: float32 state, uint8 (H, W, 3) images
    terminated: bool
    truncated: bool
    intervened: bool
    source: int  # code of keys.SOURCES
    timestamp: float  # actor clock, s
    info: dict[str, str | int | float | bool] = field(
        default_factory=dict
    )  # scalars; success at the end

    def to_body(self) -> dict[str, Any]:
        first = None
        if self.first_obs is not None:
            first = {
                k: encode_array(v, f"step.first_obs[{k!r}]") for k, v in self.first_obs.items()
            }
        return {
            "episode_id": int(self.episode_id),
            "t": int(self.t),
            "first_obs": first,
            "action": encode_array(self.action, "step.action"),
            "reward": float(self.reward),
            "next_obs": {
                k: encode_array(v, f"step.next_obs[{k!r}]") for k, v in self.next_obs.items()
            },
            "terminated": bool(self.terminated),
            "truncated": bool(self.truncated),
            "intervened": bool(self.intervened),
            "source": int(self.source),
            "timestamp": float(self.timestamp),
            "info": dict(self.info),
        }

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Step:
        w = "step"
        t = require_field(body, "t", int, w)
        if t < 0:
            raise ProtocolError(f"step.t: must be >= 0, got {t}")
        if "first_obs" not in body:
            raise ProtocolError("step: missing field 'first_obs'")
        first = None if body["first_obs"] is None else obs_map(body["first_obs"], "step.first_obs")
        if (t == 0) != (first is not None):
            raise ProtocolError(f"step.first_obs: must be present exactly when t == 0 (t={t})")
        action = decode_array(require_field(body, "action", dict, w), "step.action")
        if action.dtype != np.float32 or action.ndim != 1:
            raise ProtocolError(
                f"step.action: expected float32 (A,), got {action.dtype} {action.shape}"
            )
        if not np.all(np.isfinite(action)):
            raise ProtocolError(f"step.action: non-finite values {action}")
        source = require_field(body, "source", int, w)
        if not 0 <= source < len(keys.SOURCES):
            raise ProtocolError(f"step.source: {source} is not a code of {keys.SOURCES}")
        return cls(
            episode_id=require_field(body, "episode_id", int, w),
            t=t,
            first_obs=first,
            action=action,
            reward=float_field(body, "reward", w, finite=True),
            next_obs=obs_map(require_field(body, "next_obs", dict, w), "step.next_obs"),
            terminated=require_field(body, "terminated", bool, w),
            truncated=require_field(body, "truncated", bool, w),
            intervened=require_field(body, "intervened", bool, w),
            source=source,
            timestamp=float_field(body, "timestamp", w),
            info=scalar_map(
                require_field(body, "info", dict, w), "step.info", (str, int, float, bool)
            ),
        )


@dataclass(frozen=True)
class Weights:
    """Policy weights, learner -> actor, as a safetensors blob with a version and config hash."""

    TYPE: ClassVar[str] = "weights"
    version: int
    config_hash: str
    tensors_safetensors: bytes

    @classmethod
    def from_state_dict(
        cls, state: dict[str, torch.Tensor], *, version: int, config_hash: str
    ) -> Weights:
        """Serialise a torch state dict (copied to CPU; tied tensors become separate copies)."""
        from safetensors.torch import save  # torch only where weights are made or used

        tensors = {name: t.detach().to("cpu", copy=True).contiguous() for name, t in state.items()}
        return cls(version=version, config_hash=config_hash, tensors_safetensors=save(tensors))

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The tensors, on CPU."""
        from safetensors.torch import load

        return load(self.tensors_safetensors)

    def to_body(self) -> dict[str, Any]:
        return {
            "version": int(self.version),
            "config_hash": self.config_hash,
            "tensors": self.tensors_safetensors,
        }

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Weights:
        blob = require_field(body, "tensors", bytes, "weights")
        check_safetensors(blob, "weights.tensors")
        return cls(
            require_field(body, "version", int, "weights"),
            require_field(body, "config_hash", str, "weights"),
            blob,
        )


@dataclass(frozen=True)
class Metrics:
    """Named scalars for logging (e.g. actor/episode_return, learner/updates)."""

    TYPE: ClassVar[str] = "metrics"
    values: dict[str, float]

    def to_body(self) -> dict[str, Any]:
        return {"values": {str(k): float(v) for k, v in self.values.items()}}

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Metrics:
        values = scalar_map(
            require_field(body, "values", dict, "metrics"), "metrics.values", (int, float)
        )
        return cls({k: float(v) for k, v in values.items()})


@dataclass(frozen=True)
class Control:
    """A command to the peer, e.g. "stop"."""

    TYPE: ClassVar[str] = "control"
    command: str

    def to_body(self) -> dict[str, Any]:
        return {"command": self.command}

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Control:
        command = require_field(body, "command", str, "control")
        if not command or len(command) > 64:
            raise ProtocolError(f"control.command: expected 1..64 characters, got {command!r:.80}")
        return cls(command)


Message = Hello | Heartbeat | Step | Weights | Metrics | Control
MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.TYPE: cls for cls in (Hello, Heartbeat, Step, Weights, Metrics, Control)
}


@dataclass(frozen=True)
class Envelope:
    """A decoded message with its header: sender sequence number, wall time (s) and sender id."""

    type: str
    seq: int
    t: float
    msg: Message
    src: str = ""


# -- encode / decode --------------------------------------------------------------------------
def encode(msg: Message, *, seq: int, t: float | None = None, src: str = "") -> bytes:
    """Bytes of one message. ``seq``: the sender's counter; ``t``: wall time (s), now if None."""
    if type(msg).TYPE not in MESSAGE_TYPES or MESSAGE_TYPES[type(msg).TYPE] is not type(msg):
        raise ProtocolError(f"cannot encode {type(msg).__name__}: not a registered message type")
    envelope = {
        "magic": MAGIC,
        "v": PROTOCOL_VERSION,
        "type": msg.TYPE,
        "seq": int(seq),
        "t": float(time.time() if t is None else t),
        "src": src,
        "body": msg.to_body(),
    }
    try:
        return msgpack.packb(envelope, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as err:  # e.g. a numpy scalar left in info
        raise ProtocolError(f"cannot encode {msg.TYPE} message: {err}") from None


def decode(data: bytes | memoryview, *, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> Envelope:
    """Checked message from bytes; raises ProtocolError naming what is wrong."""
    if len(data) > max_bytes:
        raise ProtocolError(f"message of {len(data)} bytes exceeds the limit of {max_bytes} bytes")
    try:
        raw = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            max_bin_len=max_bytes,
            max_str_len=MAX_STR_BYTES,
            max_array_len=MAX_CONTAINER_LEN,
            max_map_len=MAX_CONTAINER_LEN,
            max_ext_len=0,  # no extension types in this protocol
        )
    except Exception as err:  # msgpack raises several unrelated types for bad input
        raise ProtocolError(f"not a msgpack message ({type(err).__name__}: {err})") from None
    if not isinstance(raw, dict):
        raise ProtocolError(f"message must be a msgpack map, got {type(raw).__name__}")
    if raw.get("magic") != MAGIC:
        raise ProtocolError(
            f"wrong magic {raw.get('magic')!r:.40}, expected {MAGIC!r}: not a robot_rl message"
        )
    version = raw.get("v")
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        raise ProtocolError(
            f"unsupported protocol version {version!r:.40}; this build speaks version {PROTOCOL_VERSION}"
            f" (supported: {sorted(SUPPORTED_VERSIONS)})"
        )
    kind = require_field(raw, "type", str, "envelope")
    if kind not in MESSAGE_TYPES:
        raise ProtocolError(
            f"unknown message type {kind!r:.60} (known: {', '.join(MESSAGE_TYPES)})"
        )
    seq = require_field(raw, "seq", int, "envelope")
    if seq < 0:
        raise ProtocolError(f"envelope.seq: must be >= 0, got {seq}")
    t = float_field(raw, "t", "envelope")
    src = require_field(raw, "src", str, "envelope")
    body = require_field(raw, "body", dict, "envelope")
    return Envelope(kind, seq, t, MESSAGE_TYPES[kind].from_body(body), src)
