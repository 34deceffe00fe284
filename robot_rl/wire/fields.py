"""Checked field codecs of the wire format: arrays, observations, scalar maps, safetensors.

Every decoder here builds plain data and checks it, naming the bad field in a ``ProtocolError``;
the message classes in :mod:`robot_rl.wire.protocol` are written with them.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np

from robot_rl import keys

MAX_STR_BYTES = 1024 * 1024
MAX_CONTAINER_LEN = 1_000_000  # items in one msgpack array or map
MAX_NDIM = 8
MAX_DIM = 2**31 - 1  # one array dimension; numpy's own limits are far above what a step holds

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
        or not all(type(d) is int and 0 <= d <= MAX_DIM for d in shape)
    ):
        raise ProtocolError(
            f"{field_name}: shape must be a list of <= {MAX_NDIM} ints in [0, {MAX_DIM}], "
            f"got {shape!r:.80}"
        )
    if not isinstance(data, bytes):
        raise ProtocolError(f"{field_name}: array data must be binary, got {type(data).__name__}")
    dtype = ARRAY_DTYPES[dtype_name]
    expected = math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        raise ProtocolError(
            f"{field_name}: {len(data)} data bytes do not fit {dtype_name} {tuple(shape)} ({expected} bytes)"
        )
    try:
        return np.frombuffer(data, dtype=dtype).reshape(shape)
    except ValueError as err:  # e.g. a zero dimension beside dimensions whose product overflows
        raise ProtocolError(
            f"{field_name}: shape {shape!r:.80} is not a valid array ({err})"
        ) from None


def require_field(
    body: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str
) -> Any:
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


def float_field(body: dict[str, Any], name: str, where: str, *, finite: bool = False) -> float:
    value = float(require_field(body, name, (float, int), where))
    if finite and not math.isfinite(value):
        raise ProtocolError(f"{where}.{name}: must be finite, got {value}")
    return value


def obs_map(value: Any, where: str) -> dict[str, np.ndarray]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: expected a map of arrays, got {type(value).__name__}")
    out: dict[str, np.ndarray] = {}
    for key, item in value.items():
        check_key(key, where)
        arr = decode_array(item, f"{where}[{key!r}]")
        if keys.is_image_key(key) and (
            arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[-1] != 3
        ):
            raise ProtocolError(
                f"{where}[{key!r}]: images must be uint8 (H, W, 3), got {arr.dtype} {arr.shape}"
            )
        out[key] = arr
    return out


def check_key(key: Any, where: str) -> None:
    if not isinstance(key, str):  # msgpack also allows binary map keys
        raise ProtocolError(f"{where}: keys must be strings, got {type(key).__name__} {key!r:.40}")


def scalar_map(value: Any, where: str, kinds: tuple[type, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: expected a map, got {type(value).__name__}")
    for key, item in value.items():
        check_key(key, where)
        if not isinstance(item, kinds):
            raise ProtocolError(f"{where}[{key!r}]: expected a scalar, got {type(item).__name__}")
    return dict(value)


def check_safetensors(blob: bytes, where: str) -> None:
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
