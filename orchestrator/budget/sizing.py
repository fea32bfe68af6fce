"""Sizing a lease: the `max_tokens` to send and what to reserve in each bucket."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.limits import AccountingMode
from policies.split import SplitPolicy

__all__ = ["LeaseSize", "dominant_share", "size_lease"]


@dataclass(frozen=True, kw_only=True, slots=True)
class LeaseSize:
    """Expected output, the `max_tokens` to send, the (requests, input, output) reservation."""

    expected: int
    max_tokens: int
    reserved: tuple[float, float, float]


def size_lease(
    *,
    task_id: str,
    input_tokens: int,
    max_tokens: int,
    output_tokens: int | None,
    mode: AccountingMode,
    policy: SplitPolicy,
    configured_output: float,
    learned_output: float | None,
    max_tokens_cap: int | None = None,
) -> LeaseSize:
    """Validate a call's sizes, cap its `max_tokens` and choose its output reservation.

    The policy's share is of the *configured* output bucket: a learned (smaller) burst must
    not shrink every call's `max_tokens` and truncate outputs. In legacy mode, though, a
    `max_tokens` above the learned burst could never be admitted by the server, so it is
    held to that too. Caps never go below the expected output. Legacy reserves
    `max_tokens`; actual reserves the expected output (default: `max_tokens`).
    """
    if input_tokens < 0:
        raise ValueError(f"task {task_id!r}: input_tokens must be >= 0, got {input_tokens}")
    if max_tokens < 1:
        raise ValueError(f"task {task_id!r}: max_tokens must be >= 1, got {max_tokens}")
    if output_tokens is not None and output_tokens < 0:
        raise ValueError(f"task {task_id!r}: output_tokens must be >= 0, got {output_tokens}")
    expected = max_tokens if output_tokens is None else min(output_tokens, max_tokens)
    capped = policy.cap_max_tokens(
        max_tokens, expected_output=expected, output_capacity=configured_output
    )
    if max_tokens_cap is not None:
        capped = min(capped, max(max_tokens_cap, expected))
    if mode == "legacy" and learned_output is not None:
        capped = min(capped, max(expected, int(learned_output)))
    capped = max(1, capped)
    expected = min(expected, capped)
    reserve_out = capped if mode == "legacy" else expected
    return LeaseSize(
        expected=expected,
        max_tokens=capped,
        reserved=(1.0, float(input_tokens), float(reserve_out)),
    )


def dominant_share(
    reserved: tuple[float, float, float], capacities: tuple[float, float, float] | None
) -> float:
    """The largest fraction of a bucket the reservation takes (1.0 when capacities are unknown)."""
    if capacities is None:
        return 1.0
    return max(
        reserved[0] / capacities[0], reserved[1] / capacities[1], reserved[2] / capacities[2]
    )
