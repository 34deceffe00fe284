"""The actor <-> learner wire format: versioned msgpack envelopes, never executable payloads.

Every message is one msgpack map ``{"magic", "v", "type", "seq", "t", "src", "body"}``; numpy
arrays travel as tagged maps of a whitelisted dtype, a shape and raw little-endian C-order
bytes; weights travel as a safetensors blob. Decoding only ever builds plain data and checks
every field, so a bad or hostile payload raises ``ProtocolError`` instead of running code (the
SERL / LeRobot transports unpickle whatever arrives). msgpack and safetensors do the byte
work; the field checks are written here because they are the contract. See docs/wire_format.md.
"""

from __future__ import annotations

import json
import math
import struct
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import msgpack
import numpy as np

from robot_rl import keys

if TYPE_CHECKING:
    import torch

MAGIC = "robot_rl"
PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS: frozenset[int] = frozenset({1})
DEFAULT_MAX_MESSAGE_BYTES = 128 * 1024 * 1024  # a large image-encoder policy fits; a bug does not
MAX_STR_BYTES = 1024 * 1024
MAX_CONTAINER_LEN = 1_000_000  # items in one msgpack array or map
MAX_NDIM = 8

# Whitelisted array dtypes: name on the wire -> little-endian numpy dtype.
ARRAY_DTYPES: dict[str, np.dtype] = {
    "bool": np.dtype("bool"),
    "uint8": np.dtype("uint8"),
    "int32": np.dtype("<i4"),
    "int64": np.dtype("<i8"),
    "float32": np.dtype("<f4"),
    "float64": np.dtype("<f8"),
}
_DTYPE_NAMES = {dt: name for name, dt in ARRAY_DTYPES.items()}
# safetensors header dtypes and their item sizes (bytes), for the cheap blob check at decode.
_SAFETENSORS_ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip


class ProtocolError(ValueError):
    """A payload that is not a valid robot_rl message; the message names the bad field."""


# -- field helpers ----------------------------------------------------------------------------
def encode_array(arr: np.ndarray, field_name: str) -> dict[str, Any]:
    """Tagged map of a numpy array: dtype name, shape and raw little-endian C-order bytes."""
    if not isinstance(arr, np.ndarray):
        raise ProtocolError(f"{field_name}: expected a numpy array, got {type(arr).__name__}")
    dtype = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        allowed = ", ".join(ARRAY_DTYPES)
        raise ProtocolError(f"{field_name}: dtype {arr.dtype} is not sendable (allowed: {allowed})")
    flat = np.ascontiguousarray(arr, dtype=dtype).reshape(-1)
    # A byte view of the array's memory: msgpack copies it once into the packed message.
    return {"dtype": name, "shape": list(arr.shape), "data": flat.view(np.uint8).data}


def decode_array(value: Any, field_name: str) -> np.ndarray:
    """Checked numpy array from a tagged map; a read-only view on the received bytes."""
    if not isinstance(value, dict):
        raise ProtocolError(f"{field_name}: expected an array map, got {type(value).__name__}")
    for name in ("dtype", "shape", "data"):
        if name not in value:
            raise ProtocolError(f"{field_name}: array map lacks {name!r}")
    dtype_name, shape, data = value["dtype"], value["shape"], value["data"]
    if not isinstance(dtype_name, str) or dtype_name not in ARRAY_DTYPES:
        allowed = ", ".join(ARRAY_DTYPES)
        raise ProtocolError(
            f"{field_name}: dtype {dtype_name!r:.40} is not allowed (allowed: {allowed})"
        )
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_NDIM
        or not all(type(d) is int and d >= 0 for d in shape)
    ):
        raise ProtocolError(
            f"{field_name}: shape must be a list of <= {MAX_NDIM} ints >= 0, got {shape!r:.80}"
        )
    if not isinstance(data, bytes):
        raise ProtocolError(f"{field_name}: array data must be binary, got {type(data).__name__}")
    dtype = ARRAY_DTYPES[dtype_name]
    expected = math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        raise ProtocolError(
            f"{field_name}: {len(data)} data bytes do not fit {dtype_name} {tuple(shape)} ({expected} bytes)"
        )
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _require(body: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if name not in body:
        raise ProtocolError(f"{where}: missing field {name!r}")
    value = body[name]
    # bool is an int subclass in Python; an int field must not accept True/False silently.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        want = "/".join(k.__name__ for k in _as_tuple(kind))
        raise ProtocolError(f"{where}.{name}: expected {want}, got {type(value).__name__}")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _float(body: dict[str, Any], name: str, where: str, *, finite: bool = False) -> float:
    value = float(_require(body, name, (float, int), where))
    if finite and not math.isfinite(value):
        raise ProtocolError(f"{where}.{name}: must be finite, got {value}")
    return value


def _obs(value: Any, where: str) -> dict[str, np.ndarray]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: expected a map of arrays, got {type(value).__name__}")
    out: dict[str, np.ndarray] = {}
    for key, item in value.items():
        _check_key(key, where)
        arr = decode_array(item, f"{where}[{key!r}]")
        if keys.is_image_key(key) and (
            arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[-1] != 3
        ):
            raise ProtocolError(
                f"{where}[{key!r}]: images must be uint8 (H, W, 3), got {arr.dtype} {arr.shape}"
            )
        out[key] = arr
    return out


def _check_key(key: Any, where: str) -> None:
    if not isinstance(key, str):  # msgpack also allows binary map keys
        raise ProtocolError(f"{where}: keys must be strings, got {type(key).__name__} {key!r:.40}")


def _scalar_map(value: Any, where: str, kinds: tuple[type, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: expected a map, got {type(value).__name__}")
    for key, item in value.items():
        _check_key(key, where)
        if not isinstance(item, kinds):
            raise ProtocolError(f"{where}[{key!r}]: expected a scalar, got {type(item).__name__}")
    return dict(value)


def _check_safetensors(blob: bytes, where: str) -> None:
    """Cheap structural check of a safetensors blob (header JSON and byte ranges)."""
    if len(blob) < 8:
        raise ProtocolError(f"{where}: safetensors blob of {len(blob)} bytes is too short")
    (header_len,) = struct.unpack("<Q", blob[:8])
    if header_len > len(blob) - 8:
        raise ProtocolError(f"{where}: safetensors header length {header_len} exceeds the blob")
    try:
        header = json.loads(blob[8 : 8 + header_len])
    except ValueError as err:
        raise ProtocolError(f"{where}: safetensors header is not JSON ({err})") from None
    if not isinstance(header, dict):
        raise ProtocolError(f"{where}: safetensors header is not a map")
    data_len = len(blob) - 8 - header_len
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            start, end = entry["data_offsets"]
            nbytes = math.prod(entry["shape"]) * _SAFETENSORS_ITEMSIZE[entry["dtype"]]
            ok = 0 <= start <= end <= data_len and end - start == nbytes
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise ProtocolError(
                f"{where}: safetensors entry {name!r:.80} is malformed: {entry!r:.200}"
            )


# -- messages ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hello:
    """First message of a peer: who it is and which run configuration it serves."""

    TYPE: ClassVar[str] = "hello"
    role: str  # "actor" or "learner"
    run_id: str
    config_hash: str

    def to_body(self) -> dict[str, Any]:
        return {"role": self.role, "run_id": self.run_id, "config_hash": self.config_hash}

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Hello:
        role = _require(body, "role", str, "hello")
        if role not in ("actor", "learner"):
            raise ProtocolError(f"hello.role: expected 'actor' or 'learner', got {role!r:.40}")
        return cls(
            role,
            _require(body, "run_id", str, "hello"),
            _require(body, "config_hash", str, "hello"),
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
        t = _require(body, "t", int, w)
        if t < 0:
            raise ProtocolError(f"step.t: must be >= 0, got {t}")
        if "first_obs" not in body:
            raise ProtocolError("step: missing field 'first_obs'")
        first = None if body["first_obs"] is None else _obs(body["first_obs"], "step.first_obs")
        if (t == 0) != (first is not None):
            raise ProtocolError(f"step.first_obs: must be present exactly when t == 0 (t={t})")
        action = decode_array(_require(body, "action", dict, w), "step.action")
        if action.dtype != np.float32 or action.ndim != 1:
            raise ProtocolError(
                f"step.action: expected float32 (A,), got {action.dtype} {action.shape}"
            )
        if not np.all(np.isfinite(action)):
            raise ProtocolError(f"step.action: non-finite values {action}")
        source = _require(body, "source", int, w)
        if not 0 <= source < len(keys.SOURCES):
            raise ProtocolError(f"step.source: {source} is not a code of {keys.SOURCES}")
        return cls(
            episode_id=_require(body, "episode_id", int, w),
            t=t,
            first_obs=first,
            action=action,
            reward=_float(body, "reward", w, finite=True),
            next_obs=_obs(_require(body, "next_obs", dict, w), "step.next_obs"),
            terminated=_require(body, "terminated", bool, w),
            truncated=_require(body, "truncated", bool, w),
            intervened=_require(body, "intervened", bool, w),
            source=source,
            timestamp=_float(body, "timestamp", w),
            info=_scalar_map(_require(body, "info", dict, w), "step.info", (str, int, float, bool)),
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
        blob = _require(body, "tensors", bytes, "weights")
        _check_safetensors(blob, "weights.tensors")
        return cls(
            _require(body, "version", int, "weights"),
            _require(body, "config_hash", str, "weights"),
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
        values = _scalar_map(
            _require(body, "values", dict, "metrics"), "metrics.values", (int, float)
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
        command = _require(body, "command", str, "control")
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
    kind = _require(raw, "type", str, "envelope")
    if kind not in MESSAGE_TYPES:
        raise ProtocolError(
            f"unknown message type {kind!r:.60} (known: {', '.join(MESSAGE_TYPES)})"
        )
    seq = _require(raw, "seq", int, "envelope")
    if seq < 0:
        raise ProtocolError(f"envelope.seq: must be >= 0, got {seq}")
    t = _float(raw, "t", "envelope")
    src = _require(raw, "src", str, "envelope")
    body = _require(raw, "body", dict, "envelope")
    return Envelope(kind, seq, t, MESSAGE_TYPES[kind].from_body(body), src)
