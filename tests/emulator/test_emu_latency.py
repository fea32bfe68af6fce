"""The latency model runs on the clock: virtual time under `looptime`, no real waiting."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from emulator_helpers import MODEL, USER, config, meta

from orchestrator.emulator import Emulator


def latency(ttft: float, tps: float, prefill: float = 0.0, jitter: float = 0.0) -> dict[str, Any]:
    return {
        "*": {
            "ttft_s": ttft,
            "tokens_per_second": tps,
            "prefill_s_per_token": prefill,
            "jitter": jitter,
        }
    }


@pytest.mark.looptime
async def test_hundred_concurrent_calls_take_one_latency_of_virtual_time() -> None:
    emulator = Emulator(config(latency=latency(1.0, 10.0)))
    client = emulator.anthropic()
    loop = asyncio.get_running_loop()
    start, wall = loop.time(), time.perf_counter()
    results = await asyncio.gather(
        *[
            client.messages.create(model=MODEL, max_tokens=100, messages=USER, metadata=meta(50))
            for _ in range(100)
        ]
    )
    assert loop.time() - start == pytest.approx(6.0, abs=0.01)  # 1 s + 50 tokens at 10/s
    assert time.perf_counter() - wall < 5.0  # virtual: no real waiting
    assert all(r.usage.output_tokens == 50 for r in results)
    assert emulator.stats()["peak_concurrency"] == 100


@pytest.mark.looptime
async def test_prefill_scales_with_input_tokens() -> None:
    emulator = Emulator(config(latency=latency(0.5, 100.0, prefill=1e-3)))
    client = emulator.anthropic()
    loop = asyncio.get_running_loop()
    messages: Any = [{"role": "user", "content": "x" * 4000}]
    counted = await client.messages.count_tokens(model=MODEL, messages=messages)
    start = loop.time()
    await client.messages.create(model=MODEL, max_tokens=100, messages=messages, metadata=meta(20))
    expected = 0.5 + counted.input_tokens * 1e-3 + 20 / 100
    assert loop.time() - start == pytest.approx(expected, abs=1e-3)


@pytest.mark.looptime
async def test_jitter_is_seeded_and_bounded() -> None:
    async def durations(seed: int) -> list[float]:
        emulator = Emulator(config(seed=seed, latency=latency(1.0, 100.0, jitter=0.3)))
        client = emulator.anthropic()
        loop = asyncio.get_running_loop()
        out = []
        for _ in range(20):
            start = loop.time()
            await client.messages.create(
                model=MODEL, max_tokens=200, messages=USER, metadata=meta(100)
            )
            out.append(round(loop.time() - start, 6))
        return out

    first = await durations(1)
    assert first == await durations(1)
    assert first != await durations(2)
    assert all(2.0 * 0.7 - 1e-6 <= d <= 2.0 * 1.3 + 1e-6 for d in first)
    assert len(set(first)) > 10


@pytest.mark.looptime
async def test_default_latency_differs_by_model_family() -> None:
    emulator = Emulator(config(latency={}))  # the built-in defaults
    client = emulator.anthropic()
    loop = asyncio.get_running_loop()
    seconds = {}
    for model in ("claude-opus-4-8", "claude-sonnet-4-6", "claude-haiku-4-5"):
        start = loop.time()
        await client.messages.create(model=model, max_tokens=200, messages=USER, metadata=meta(120))
        seconds[model] = loop.time() - start
    assert seconds["claude-opus-4-8"] > seconds["claude-sonnet-4-6"] > seconds["claude-haiku-4-5"]
    assert seconds["claude-sonnet-4-6"] == pytest.approx(0.6 + 120 / 60, rel=0.15)
