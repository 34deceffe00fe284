"""The wire format: every message type round-trips; every kind of bad payload is refused clearly."""

from __future__ import annotations

import contextlib
import random
from typing import Any

import msgpack
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_rl import keys
from robot_rl.wire.protocol import (
    MAGIC,
    MESSAGE_TYPES,
    PROTOCOL_VERSION,
    Control,
    Heartbeat,
    Hello,
    Message,
    Metrics,
    ProtocolError,
    Step,
    Weights,
    decode,
    encode,
)


def make_obs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        keys.STATE: rng.standard_normal(18).astype(np.float32),  # (D,) float32
        keys.pixels_key("front"): rng.integers(0, 256, (128, 128, 3), dtype=np.uint8),
        keys.pixels_key("wrist"): rng.integers(0, 256, (128, 128, 3), dtype=np.uint8),
    }


def make_step(t: int = 0, *, seed: int = 0) -> Step:
    rng = np.random.default_rng(seed)
    return Step(
        episode_id=3,
        t=t,
        first_obs=make_obs(rng) if t == 0 else None,
        action=rng.uniform(-1, 1, 4).astype(np.float32),
        reward=0.5,
        next_obs=make_obs(rng),
        terminated=True,
        truncated=False,
        intervened=True,
        source=keys.SOURCE_CODE["human"],
        timestamp=12.25,
        info={keys.SUCCESS: True, "seed": 7, "task": "pick_cube", "dist": 0.01},
    )


def raw_of(msg: Message) -> dict[str, Any]:
    """The envelope of ``msg`` as a plain dict, to tamper with."""
    return msgpack.unpackb(encode(msg, seq=1), raw=False)


def pack(raw: dict[str, Any]) -> bytes:
    return msgpack.packb(raw, use_bin_type=True)


def assert_steps_equal(a: Step, b: Step) -> None:
    for name in (
        "episode_id",
        "t",
        "reward",
        "terminated",
        "truncated",
        "intervened",
        "source",
        "timestamp",
        "info",
    ):
        assert getattr(a, name) == getattr(b, name), name
    np.testing.assert_array_equal(a.action, b.action)
    for obs_a, obs_b in ((a.next_obs, b.next_obs), (a.first_obs or {}, b.first_obs or {})):
        assert obs_a.keys() == obs_b.keys()
        for k in obs_a:
            assert obs_a[k].dtype == obs_b[k].dtype and obs_a[k].shape == obs_b[k].shape, k
            np.testing.assert_array_equal(obs_a[k], obs_b[k])


# -- round trips ------------------------------------------------------------------------------
@pytest.mark.parametrize("t", [0, 5])
def test_step_round_trip_with_images(t: int) -> None:
    step = make_step(t)
    env = decode(encode(step, seq=42, t=1000.5, src="actor-x"))
    assert (env.type, env.seq, env.t, env.src) == ("step", 42, 1000.5, "actor-x")
    assert isinstance(env.msg, Step)
    assert_steps_equal(step, env.msg)
    assert env.msg.next_obs[keys.pixels_key("front")].shape == (128, 128, 3)


def test_image_batch_array_round_trip() -> None:
    """A (2, 128, 128, 3) uint8 stack survives as one array (non-image key: no (H, W, 3) rule)."""
    frames = np.random.default_rng(1).integers(0, 256, (2, 128, 128, 3), dtype=np.uint8)
    step = make_step(3)
    step = Step(**{**step.__dict__, "next_obs": {"stack": frames}})
    out = decode(encode(step, seq=1)).msg
    assert isinstance(out, Step)
    np.testing.assert_array_equal(out.next_obs["stack"], frames)
    assert out.next_obs["stack"].dtype == np.uint8


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int32", "int64", "float32", "float64"])
def test_every_whitelisted_dtype_round_trips(dtype: str) -> None:
    arr = (np.arange(24).reshape(2, 3, 4) % 2).astype(dtype)
    step = Step(
        **{**make_step(1).__dict__, "next_obs": {"x": arr, "empty": np.zeros((0, 3), dtype)}}
    )
    out = decode(encode(step, seq=1)).msg
    assert isinstance(out, Step)
    np.testing.assert_array_equal(out.next_obs["x"], arr)
    assert out.next_obs["x"].dtype == arr.dtype and out.next_obs["empty"].shape == (0, 3)


def test_big_endian_and_non_contiguous_arrays_are_sent_as_values() -> None:
    arr = np.arange(12, dtype=">f4").reshape(3, 4)[:, ::2]
    step = Step(**{**make_step(1).__dict__, "next_obs": {"x": arr}})
    out = decode(encode(step, seq=1)).msg
    assert isinstance(out, Step)
    np.testing.assert_array_equal(out.next_obs["x"], arr)


def test_weights_round_trip_keeps_tensors() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    state = net.state_dict()
    state["steps"] = torch.tensor(11, dtype=torch.int64)
    state["tied"] = state["0.weight"]  # shares memory: must still serialise
    msg = Weights.from_state_dict(state, version=4, config_hash="abc123")
    out = decode(encode(msg, seq=9)).msg
    assert isinstance(out, Weights)
    assert (out.version, out.config_hash) == (4, "abc123")
    loaded = out.state_dict()
    assert loaded.keys() == state.keys()
    for name, tensor in state.items():
        assert torch.equal(loaded[name], tensor), name
        assert loaded[name].dtype == tensor.dtype
    net.load_state_dict({k: v for k, v in loaded.items() if k not in ("steps", "tied")})


@pytest.mark.parametrize(
    "msg",
    [
        Hello(role="actor", run_id="run-1", config_hash="deadbeef"),
        Hello(role="actor", run_id="run-1", config_hash="deadbeef", launch_token="0123abcd"),
        Heartbeat(),
        Metrics({"actor/episode_return": 1.5, "actor/success": 1.0, "eval/nan": float("nan")}),
        Control(command="stop"),
    ],
)
def test_small_messages_round_trip(msg: Message) -> None:
    out = decode(encode(msg, seq=1)).msg
    assert type(out) is type(msg)
    if isinstance(msg, Metrics):
        assert isinstance(out, Metrics)
        assert out.values.keys() == msg.values.keys()
        np.testing.assert_equal(list(out.values.values()), list(msg.values.values()))
    else:
        assert out == msg


def test_registry_names_every_type() -> None:
    assert set(MESSAGE_TYPES) == {"hello", "heartbeat", "step", "weights", "metrics", "control"}
    assert all(name == cls.TYPE for name, cls in MESSAGE_TYPES.items())


def test_decoded_arrays_are_read_only_views() -> None:
    out = decode(encode(make_step(1), seq=1)).msg
    assert isinstance(out, Step)
    assert not out.next_obs[keys.STATE].flags.writeable  # zero-copy view on the received bytes


# -- rejections -------------------------------------------------------------------------------
def reject(data: bytes, *words: str, **kwargs: Any) -> str:
    with pytest.raises(ProtocolError) as info:
        decode(data, **kwargs)
    text = str(info.value)
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"
    return text


def test_rejects_garbage_bytes() -> None:
    reject(b"\xc1\x00garbage", "not a msgpack message")
    reject(b"", "not a msgpack message")
    reject(msgpack.packb([1, 2, 3]), "must be a msgpack map")


def test_rejects_wrong_magic() -> None:
    raw = raw_of(Heartbeat())
    raw["magic"] = "serl"
    reject(pack(raw), "wrong magic", "'serl'", MAGIC)


def test_rejects_unsupported_version_naming_both() -> None:
    raw = raw_of(Heartbeat())
    raw["v"] = 999
    reject(pack(raw), "999", f"version {PROTOCOL_VERSION}")
    raw["v"] = True  # not an int version, even though True == 1
    reject(pack(raw), "unsupported protocol version")


def test_rejects_unknown_type() -> None:
    raw = raw_of(Heartbeat())
    raw["type"] = "pickle_blob"
    reject(pack(raw), "unknown message type", "'pickle_blob'")


def test_rejects_disallowed_dtype() -> None:
    raw = raw_of(make_step(1))
    raw["body"]["next_obs"]["state"]["dtype"] = "object"
    reject(pack(raw), "step.next_obs['state']", "'object'", "not allowed")
    with pytest.raises(ProtocolError, match="not sendable"):
        encode(Step(**{**make_step(1).__dict__, "next_obs": {"x": np.array([None])}}), seq=1)


def test_rejects_truncated_array_bytes() -> None:
    raw = raw_of(make_step(1))
    image = raw["body"]["next_obs"][keys.pixels_key("front")]
    image["data"] = image["data"][:-1]
    reject(pack(raw), "pixels_front", "49151 data bytes", "49152 bytes")


def test_rejects_bad_shape() -> None:
    raw = raw_of(make_step(1))
    raw["body"]["action"]["shape"] = [-4]
    reject(pack(raw), "step.action", "shape")


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [
        ([0, 2**62], "float32"),  # 0 bytes of data "fit" it; numpy refuses the shape itself
        ([0, 2**63], "uint8"),  # beyond numpy's largest dimension
        ([0, 2**64 - 1], "float64"),
        ([2**31 - 1] * 7 + [0], "float32"),  # every dimension in range, their product is not
        ([-1], "float32"),
        ([3, -2], "uint8"),
    ],
)
def test_absurd_array_shapes_are_protocol_errors_not_numpy_errors(
    shape: list[int], dtype: str
) -> None:
    raw = raw_of(make_step(1))
    raw["body"]["action"] = {"dtype": dtype, "shape": shape, "data": b""}
    reject(pack(raw), "step.action", "shape")


@pytest.mark.parametrize(
    "name", ["action", "reward", "next_obs", "terminated", "source", "info", "first_obs"]
)
def test_rejects_missing_field_naming_it(name: str) -> None:
    raw = raw_of(make_step(1))
    del raw["body"][name]
    reject(pack(raw), "missing field", repr(name))


def test_rejects_missing_envelope_field() -> None:
    raw = raw_of(Heartbeat())
    del raw["seq"]
    reject(pack(raw), "missing field 'seq'")


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("t", True, ("step.t", "int", "bool")),
        ("episode_id", "3", ("step.episode_id", "int", "str")),
        ("terminated", 1, ("step.terminated", "bool")),
        ("reward", float("nan"), ("step.reward", "finite")),
        ("source", 99, ("step.source", "99")),
        ("info", {"x": [1]}, ("step.info['x']", "scalar")),
    ],
)
def test_rejects_ill_typed_fields(name: str, value: Any, words: tuple[str, ...]) -> None:
    raw = raw_of(make_step(1))
    raw["body"][name] = value
    reject(pack(raw), *words)


def test_rejects_binary_map_keys() -> None:
    raw = raw_of(make_step(1))
    raw["body"]["next_obs"][b"pixels_front"] = raw["body"]["next_obs"].pop(keys.pixels_key("front"))
    reject(pack(raw), "step.next_obs", "keys must be strings")
    raw = raw_of(Metrics({"a": 1.0}))
    raw["body"]["values"] = {b"a": 1.0}
    reject(pack(raw), "metrics.values", "keys must be strings")


def test_rejects_contract_violations_in_steps() -> None:
    raw = raw_of(make_step(0))
    raw["body"]["t"] = 4  # first_obs only with t == 0
    reject(pack(raw), "first_obs", "t == 0")
    raw = raw_of(make_step(1))
    raw["body"]["action"] = raw_of(make_step(1))["body"]["next_obs"]["state"]  # (18,) ok shape
    raw["body"]["action"]["data"] = np.full(18, np.inf, np.float32).tobytes()
    reject(pack(raw), "step.action", "non-finite")
    raw = raw_of(make_step(1))
    raw["body"]["next_obs"][keys.pixels_key("front")]["dtype"] = "int32"
    raw["body"]["next_obs"][keys.pixels_key("front")]["shape"] = [128, 32, 3]
    reject(pack(raw), "pixels_front", "uint8 (H, W, 3)")


def test_rejects_corrupt_weights_blob() -> None:
    raw = raw_of(Weights.from_state_dict({"w": torch.ones(4)}, version=1, config_hash="h"))
    raw["body"]["tensors"] = raw["body"]["tensors"][:-3]
    reject(pack(raw), "weights.tensors", "'w'")
    raw["body"]["tensors"] = b"\xff" * 16
    reject(pack(raw), "weights.tensors", "header length")


def test_rejects_oversize_payload() -> None:
    data = encode(make_step(1), seq=1)
    reject(data, "exceeds the limit of 1000 bytes", max_bytes=1000)


def test_rejects_extension_types() -> None:
    raw = raw_of(Heartbeat())
    raw["body"] = msgpack.ExtType(1, b"code")
    reject(pack(raw), "not a msgpack message")


def test_encode_refuses_numpy_scalars_in_info() -> None:
    bad = Step(**{**make_step(1).__dict__, "info": {"x": np.float32(1.0)}})
    with pytest.raises(ProtocolError, match="cannot encode step"):
        encode(bad, seq=1)


# -- fuzzing: any bytes give a message or a ProtocolError, nothing else -------------------------
def _decode_or_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode(data, max_bytes=1 << 20)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_fuzz_random_bytes(data: bytes) -> None:
    _decode_or_protocol_error(data)


def test_fuzz_mutated_valid_messages() -> None:
    rng = random.Random(0)
    rs = np.random.default_rng(0)
    small = Step(**{**make_step(0).__dict__, "first_obs": {"state": np.ones(3, np.float32)},
                    "next_obs": {"state": np.ones(3, np.float32), "pixels_a": np.zeros((2, 2, 3), np.uint8)}})  # fmt: skip
    weights = Weights.from_state_dict({"w": torch.ones(3)}, version=1, config_hash="h")
    seeds = [
        encode(m, seq=1) for m in (small, weights, Hello("actor", "r", "h"), Metrics({"a": 1.0}))
    ]
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(data))
            data[pos] = int(rs.integers(0, 256))
        if rng.random() < 0.2:
            data = data[: rng.randrange(len(data))]
        _decode_or_protocol_error(bytes(data))


def test_fuzz_every_field_with_every_kind_of_value() -> None:
    values: list[Any] = [None, True, 0, -1, 2**63, 1.5, float("inf"), "x", b"x", [], [1, "a"], {}, {"a": None},
                         {"dtype": "uint8", "shape": [1], "data": b"\x00"}, {b"k": 1}]  # fmt: skip
    weights = Weights.from_state_dict({"w": torch.ones(3)}, version=1, config_hash="h")
    for msg in (
        make_step(0),
        make_step(2),
        weights,
        Hello("actor", "r", "h"),
        Metrics({"a": 1.0}),
        Control("stop"),
    ):
        base = raw_of(msg)
        paths = [(k,) for k in base] + [("body", k) for k in base["body"]]
        for path in paths:
            for value in values:
                raw = raw_of(msg)
                target = raw if len(path) == 1 else raw["body"]
                target[path[-1]] = value
                _decode_or_protocol_error(pack(raw))


def test_unknown_keys_are_ignored_within_a_version() -> None:
    """Additive optional fields need no version bump (docs/wire_format.md, Versioning)."""
    raw = raw_of(Control(command="stop"))
    raw["future_header"] = 1
    raw["body"]["future_field"] = [1, 2]
    assert decode(pack(raw)).msg == Control(command="stop")


def test_hello_launch_token_is_optional_and_bounded() -> None:
    raw = raw_of(Hello("actor", "r", "h"))
    assert "launch_token" not in raw["body"]  # a learner of before the field reads it as ever
    assert decode(pack(raw)).msg == Hello("actor", "r", "h", launch_token="")
    raw["body"]["launch_token"] = "x" * 257
    reject(pack(raw), "hello.launch_token")
    raw["body"]["launch_token"] = 7
    reject(pack(raw), "hello.launch_token")
