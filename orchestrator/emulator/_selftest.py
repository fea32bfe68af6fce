"""`dagwright emulator --selftest`: a few real SDK calls against an in-process emulator.

Checks a plain message, a stream, `count_tokens`, and a burst beyond a small RPM limit
(429 with `retry-after`, then a successful retry after waiting that long). Latency and
faults are switched off so the check is fast and deterministic; the burst runs on a
manual clock, so its wait takes no real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anthropic

from orchestrator.clock import ManualClock
from orchestrator.emulator.config import EmulatorConfig, FaultConfig, LimitOverride
from orchestrator.emulator.emulator import Emulator
from orchestrator.limits import model_class

__all__ = ["Check", "format_report", "run_selftest"]

_BURST_RPM = 5


@dataclass(frozen=True, slots=True)
class Check:
    """One selftest step: its name, whether it passed, and what it saw."""

    name: str
    ok: bool
    detail: str


def _model(config: EmulatorConfig) -> str:
    sonnets = [m for m in config.models if "sonnet" in m]
    return (sonnets or list(config.models))[0]


async def _step(name: str, body: Callable[[], Awaitable[str]]) -> Check:
    try:
        return Check(name, True, await body())
    except Exception as exc:  # a failed step is reported, not raised
        return Check(name, False, f"{type(exc).__name__}: {exc}")


async def _checks(config: EmulatorConfig) -> list[Check]:
    base = config.without_latency().model_copy(update={"faults": FaultConfig()})
    model = _model(base)
    emulator = Emulator(base)
    client = emulator.anthropic(api_key="selftest-key")
    request: dict[str, Any] = {
        "model": model,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Write a paragraph about token buckets."}],
        "metadata": {"emulator_output_tokens": 64},
    }

    async def plain() -> str:
        raw = await client.messages.with_raw_response.create(**request)
        message = await raw.parse()
        if raw.headers.get("anthropic-ratelimit-requests-limit") is None:
            raise AssertionError("rate-limit headers missing")
        return (
            f"{message.id}, {message.usage.input_tokens} input / "
            f"{message.usage.output_tokens} output tokens, stop {message.stop_reason}"
        )

    async def streaming() -> str:
        events = 0
        async with client.messages.stream(**request) as stream:
            async for _ in stream:
                events += 1
            final = await stream.get_final_message()
        return (
            f"{events} events, {final.usage.output_tokens} output tokens, stop {final.stop_reason}"
        )

    async def count() -> str:
        counted = await client.messages.count_tokens(model=model, messages=request["messages"])
        return f"{counted.input_tokens} input tokens"

    checks = [
        await _step("plain message", plain),
        await _step("streaming", streaming),
        await _step("count_tokens", count),
        await _step("429 burst and retry", lambda: _burst(base, model)),
    ]
    await client.close()
    return checks


async def _burst(base: EmulatorConfig, model: str) -> str:
    clock = ManualClock()
    cls = model_class(model) or "*"
    limits = dict(base.limits)
    limits[cls] = (limits.get(cls) or LimitOverride()).model_copy(
        update={"rpm": _BURST_RPM, "rpm_burst": None, "burst_fraction": None}
    )
    emulator = Emulator(base.model_copy(update={"limits": limits}), clock=clock)
    client = emulator.anthropic(api_key="selftest-burst")
    request: dict[str, Any] = {
        "model": model,
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "ping"}],
    }
    admitted = 0
    error: anthropic.RateLimitError | None = None
    for _ in range(_BURST_RPM + 3):
        try:
            await client.messages.create(**request)
            admitted += 1
        except anthropic.RateLimitError as exc:
            error = exc
            break
    if error is None:
        raise AssertionError(f"no 429 after {admitted} requests with rpm={_BURST_RPM}")
    retry_after = int(error.response.headers["retry-after"])
    clock.advance(retry_after)
    await client.messages.create(**request)
    await client.close()
    return (
        f"{admitted} admitted at rpm={_BURST_RPM}, then 429 {error.type} "
        f"(retry-after {retry_after} s); the retry after {retry_after} s succeeded"
    )


def run_selftest(config: EmulatorConfig) -> list[Check]:
    """Run the checks (in a fresh event loop) and return them."""
    return asyncio.run(_checks(config))


def format_report(config: EmulatorConfig, checks: list[Check]) -> str:
    """A short human-readable report."""
    lines = [
        f"dagwright emulator selftest: seed {config.seed}, accounting {config.accounting}, "
        f"exhaustion {config.exhaustion} (latency and faults off)"
    ]
    width = max(len(c.name) for c in checks)
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        lines.append(f"  {mark} {check.name:<{width}}  {check.detail}")
    passed = sum(c.ok for c in checks)
    lines.append(f"{passed}/{len(checks)} checks passed")
    return "\n".join(lines)
