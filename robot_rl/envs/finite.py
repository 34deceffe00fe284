"""The finite-values rule of the action contract, observations and policy weights.

An action is float32 in [-1, 1]; a NaN or inf is never an action. Policies raise
``NonFiniteActionError`` instead of returning one, so that a caller with a safety layer can
hand the layer a rejectable command (it holds the arm and counts it) while every other caller
stops. Weights with a non-finite entry are refused where they enter (``ActorPolicy``'s
``load_state_dict``, the actor's weights handler) with ``NonFiniteWeightsError``.

Torch-free on import (the actor process imports it before any weights arrive); torch tensors
are recognised by duck typing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


class NonFiniteActionError(ValueError):
    """A policy produced an action with a NaN or inf entry (it was not sent anywhere)."""

    def __init__(self, message: str, action: np.ndarray) -> None:
        super().__init__(message)
        self.action = action
        """(A,) float32: the non-finite action as the policy computed it."""


class NonFiniteWeightsError(ValueError):
    """Policy weights with a NaN or inf entry: refused, nothing was loaded."""

    def __init__(self, message: str, names: list[str]) -> None:
        super().__init__(message)
        self.names = names
        """The tensors with a non-finite entry, in the state dict's order."""


def _all_finite(value: Any) -> bool:
    if hasattr(value, "is_floating_point"):  # a torch tensor
        if not (value.is_floating_point() or value.is_complex()):
            return True
        return bool(value.isfinite().all())
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.inexact):
        return True
    return bool(np.isfinite(array).all())


def nonfinite_entries(state: Mapping[str, Any]) -> list[str]:
    """Names of the tensors (torch or numpy) of ``state`` holding a NaN or inf."""
    return [name for name, value in state.items() if not _all_finite(value)]


def check_finite_weights(state: Mapping[str, Any], *, where: str = "weights") -> None:
    """Raise NonFiniteWeightsError naming the tensors of ``state`` with a non-finite entry."""
    names = nonfinite_entries(state)
    if names:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        raise NonFiniteWeightsError(
            f"{where}: refused, {len(names)} of {len(state)} tensors hold NaN or inf ({shown})",
            names,
        )


def weights_problem(state: Mapping[str, Any], reference: Mapping[str, Any] | None) -> str | None:
    """Why ``state`` cannot be loaded into a policy whose own tensors are ``reference`` (None:
    compare nothing but finiteness); None when it fits. Checked before anything is copied, as
    ``nn.Module.load_state_dict`` copies the fitting tensors before it raises on the others."""
    bad = nonfinite_entries(state)
    if bad:
        return f"{len(bad)} of {len(state)} tensors hold NaN or inf (first: {bad[0]})"
    if reference is None:
        return None
    missing = sorted(set(reference) - set(state))
    extra = sorted(set(state) - set(reference))
    if missing or extra:
        return f"keys do not fit the policy (missing {missing[:3]}, unexpected {extra[:3]})"
    for name, tensor in reference.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            return f"{name} has shape {tuple(state[name].shape)}, the policy's is {tuple(tensor.shape)}"
    return None


def nonfinite_keys(obs: Mapping[str, Any]) -> list[str]:
    """Observation keys whose float array has a NaN/inf (images are uint8: never)."""
    return [key for key, value in obs.items() if not _all_finite(value)]


__all__ = [
    "NonFiniteActionError",
    "NonFiniteWeightsError",
    "check_finite_weights",
    "nonfinite_entries",
    "nonfinite_keys",
    "weights_problem",
]
