"""What happens when the output bucket runs dry while streams run (actual accounting)."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest
from emulator_helpers import MODEL, USER, config, limits, meta

from orchestrator.emulator import Emulator

# 600 output tokens per minute: capacity 600, refill 10 tokens/s
OTPM = 600
RATE = OTPM / 60
FAST = {"*": {"ttft_s": 0.5, "tokens_per_second": 100.0, "prefill_s_per_token": 0.0, "jitter": 0.0}}
STREAMS = 5
EACH = 400


def emulator_for(exhaustion: str) -> Emulator:
    return Emulator(
        config(limits=limits(otpm=OTPM), accounting="actual", exhaustion=exhaustion, latency=FAST)
    )


async def stream_once(
    client: anthropic.AsyncAnthropic, log: list[tuple[float, int]], tokens: int = EACH
) -> Any:
    """Stream one answer, logging (time, tokens) per delta (4 characters per token)."""
    loop = asyncio.get_running_loop()
    request: dict[str, Any] = {"metadata": {"emulator_output_tokens": tokens}}
    stream = await client.messages.create(
        model=MODEL,
        max_tokens=2000,
        messages=USER,
        stream=True,
        **request,
    )
    stop = None
    async for event in stream:
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            log.append((loop.time(), len(event.delta.text) // 4))
        if event.type == "message_delta":
            stop = event
    return stop


@pytest.mark.looptime
async def test_throttle_caps_the_output_rate_and_shares_it() -> None:
    emulator = emulator_for("throttle")
    client = emulator.anthropic()
    logs: list[list[tuple[float, int]]] = [[] for _ in range(STREAMS)]
    start = asyncio.get_running_loop().time()
    finals = await asyncio.gather(*[stream_once(client, log) for log in logs])
    assert all(f.delta.stop_reason == "end_turn" and f.usage.output_tokens == EACH for f in finals)
    merged = sorted((t - start, n) for log in logs for t, n in log)
    produced = 0
    for t, n in merged:
        produced += n
        assert produced <= OTPM + RATE * t + 1e-6, (t, produced)
    total = STREAMS * EACH
    elapsed = merged[-1][0]
    assert elapsed >= (total - OTPM) / RATE  # 140 s: generation slowed to the refill
    assert elapsed <= (total - OTPM) / RATE + 10
    # running streams share the refill: they finish close together, not one after another
    finish_times = sorted(log[-1][0] - start for log in logs)
    assert finish_times[-1] - finish_times[0] < 20
    assert emulator.stats()["rate_limited"]["total"] == 0


@pytest.mark.looptime
async def test_throttle_slows_non_streaming_requests_too() -> None:
    emulator = emulator_for("throttle")
    client = emulator.anthropic()
    loop = asyncio.get_running_loop()
    start = loop.time()
    message = await client.messages.create(
        model=MODEL,
        max_tokens=2000,
        messages=USER,
        metadata=meta(1200),
    )
    assert message.usage.output_tokens == 1200
    assert loop.time() - start >= (1200 - OTPM) / RATE


@pytest.mark.looptime
async def test_debt_lets_streams_finish_then_blocks_new_requests() -> None:
    emulator = emulator_for("debt")
    client = emulator.anthropic()
    logs: list[list[tuple[float, int]]] = [[] for _ in range(STREAMS)]
    loop = asyncio.get_running_loop()
    start = loop.time()
    finals = await asyncio.gather(*[stream_once(client, log) for log in logs])
    assert all(f.usage.output_tokens == EACH for f in finals)
    assert loop.time() - start == pytest.approx(0.5 + EACH / 100, abs=0.01)  # normal speed
    debt = STREAMS * EACH - OTPM
    with pytest.raises(anthropic.RateLimitError) as info:
        await client.messages.create(model=MODEL, max_tokens=10, messages=USER)
    retry_after = int(info.value.response.headers["retry-after"])
    elapsed = loop.time() - start
    # the debt less what refilled since the first charge (the bucket was full until then)
    assert -(-(debt + 1 - RATE * elapsed) // RATE) <= retry_after <= -(-(debt + 1) // RATE)
    assert info.value.response.headers["anthropic-ratelimit-output-tokens-remaining"] == "0"
    await asyncio.sleep(retry_after - 1)
    with pytest.raises(anthropic.RateLimitError):
        await client.messages.create(model=MODEL, max_tokens=10, messages=USER)
    await asyncio.sleep(1)
    await client.messages.create(
        model=MODEL,
        max_tokens=10,
        messages=USER,
        metadata=meta(5),
    )


@pytest.mark.looptime
async def test_error_mode_ends_streams_with_an_sse_error() -> None:
    emulator = emulator_for("error")
    client = emulator.anthropic()
    logs: list[list[tuple[float, int]]] = [[] for _ in range(STREAMS)]
    start = asyncio.get_running_loop().time()
    results = await asyncio.gather(
        *[stream_once(client, log) for log in logs], return_exceptions=True
    )
    failures = [r for r in results if isinstance(r, anthropic.APIStatusError)]
    assert failures, results
    assert all(r.status_code == 200 for r in failures)  # an error event inside a 200
    assert all(r.type == "rate_limit_error" for r in failures)
    assert "600 output tokens per minute" in str(failures[0].body)
    merged = sorted((t - start, n) for log in logs for t, n in log)
    produced = 0
    for t, n in merged:
        produced += n
        assert produced <= OTPM + RATE * t + 1e-6
    assert produced < STREAMS * EACH
    assert emulator.stats()["exhaustion_errors"] == len(failures)


@pytest.mark.looptime
async def test_error_mode_non_streaming_gets_the_http_error() -> None:
    emulator = emulator_for("error")
    client = emulator.anthropic()
    with pytest.raises(anthropic.RateLimitError) as info:
        await client.messages.create(
            model=MODEL,
            max_tokens=2000,
            messages=USER,
            metadata=meta(800),
        )
    assert int(info.value.response.headers["retry-after"]) >= 1


@pytest.mark.looptime
async def test_error_mode_can_report_overloaded() -> None:
    emulator = Emulator(
        config(
            limits=limits(otpm=OTPM),
            exhaustion="error",
            exhaustion_error_type="overloaded_error",
            latency=FAST,
        )
    )
    client = emulator.anthropic()
    with pytest.raises(anthropic.APIStatusError) as info:
        await stream_once(client, [], tokens=800)
    assert info.value.type == "overloaded_error"
    with pytest.raises(anthropic.OverloadedError):
        await client.messages.create(
            model=MODEL,
            max_tokens=2000,
            messages=USER,
            metadata=meta(800),
        )
