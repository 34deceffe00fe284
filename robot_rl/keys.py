"""Data keys shared by envs, replay, episode stores and the wire format; defined once here."""

from __future__ import annotations

# Observation dict keys. Images are uint8 (H, W, 3) under "pixels_<camera>"; state is float32.
STATE = "state"
PIXELS_PREFIX = "pixels_"

# Transition / episode fields.
OBS = "obs"
NEXT_OBS = "next_obs"
ACTION = "action"
REWARD = "reward"
TERMINATED = "terminated"
TRUNCATED = "truncated"
INTERVENED = "intervened"
SOURCE = "source"
TIMESTAMP = "timestamp"
SUCCESS = "success"
IS_DEMO = "is_demo"  # batch field: 1.0 for rows sampled from the demonstration buffer
DISCOUNT = "discount"  # batch field of n-step batches: gamma ** (steps summed in the reward)
# batch field: the row's discounted return-to-go, sum_k gamma^k r_(t+k) to its episode's end, where
# the buffer knows it (whole episodes added with a return discount); NaN where it does not.
MC_RETURN = "mc_return"
PREV_ACTION = (
    "prev_action"  # batch field: the episode's action before this row's (its own at step 0)
)

# Who produced an executed action. Stored as uint8 codes on disk and on the wire.
SOURCES: tuple[str, ...] = ("policy", "human", "demo", "reset")
SOURCE_CODE: dict[str, int] = {name: code for code, name in enumerate(SOURCES)}


def pixels_key(camera: str) -> str:
    """Observation key of a camera's RGB frame."""
    return PIXELS_PREFIX + camera


def is_image_key(key: str) -> bool:
    """True for observation keys that hold uint8 (H, W, 3) images."""
    return key.startswith(PIXELS_PREFIX)


def camera_of(key: str) -> str:
    """Camera name of an image observation key."""
    if not is_image_key(key):
        raise KeyError(f"{key!r} is not an image observation key")
    return key[len(PIXELS_PREFIX) :]
