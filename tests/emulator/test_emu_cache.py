"""Prompt caching through the SDK: write then read, TTL, minimum length, readability."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from emulator_helpers import MODEL, config, meta, text_of

from orchestrator.emulator import Emulator, text_tokens

PREFIX = "You are a careful analyst. " * 400  # ~2,700 tokens


def request(
    question: str, *, prefix: str = PREFIX, ttl: str | None = None, **more: Any
) -> dict[str, Any]:
    marker: dict[str, Any] = {"type": "ephemeral"}
    if ttl is not None:
        marker["ttl"] = ttl
    body: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 100,
        "system": [{"type": "text", "text": prefix, "cache_control": marker}],
        "messages": [{"role": "user", "content": question}],
        "metadata": {"emulator_output_tokens": 10},
    }
    body.update(more)
    return body


@pytest.mark.looptime
async def test_write_then_read_then_expire() -> None:
    emulator = Emulator(config())
    client = emulator.anthropic()
    first = await client.messages.create(**request("one?"))
    written = first.usage.cache_creation_input_tokens
    assert written > 2000
    assert first.usage.cache_read_input_tokens == 0
    assert first.usage.cache_creation is not None
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == written
    second = await client.messages.create(**request("a different question?"))
    assert second.usage.cache_read_input_tokens == written
    assert second.usage.cache_creation_input_tokens == 0
    # only the uncached tail differs: the longer question
    extra = text_tokens("a different question?") - text_tokens("one?")
    assert second.usage.input_tokens == first.usage.input_tokens + extra
    count = await client.messages.count_tokens(
        **{k: request("one?")[k] for k in ("model", "system", "messages")}
    )
    assert count.input_tokens == written + first.usage.input_tokens

    await asyncio.sleep(299)  # a hit at t=0 refreshed the TTL: still alive
    third = await client.messages.create(**request("three?"))
    assert third.usage.cache_read_input_tokens == written
    await asyncio.sleep(301)
    fourth = await client.messages.create(**request("four?"))
    assert fourth.usage.cache_read_input_tokens == 0
    assert fourth.usage.cache_creation_input_tokens == written
    stats = emulator.stats()["cache"]
    assert stats == {"hits": 2, "misses": 2}


@pytest.mark.looptime
async def test_one_hour_ttl() -> None:
    emulator = Emulator(config())
    client = emulator.anthropic()
    first = await client.messages.create(**request("q", ttl="1h"))
    assert first.usage.cache_creation is not None
    assert (
        first.usage.cache_creation.ephemeral_1h_input_tokens
        == first.usage.cache_creation_input_tokens
    )
    await asyncio.sleep(3000)
    hit = await client.messages.create(**request("q", ttl="1h"))
    assert hit.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens


@pytest.mark.looptime
async def test_below_minimum_nothing_is_cached() -> None:
    emulator = Emulator(config())
    client = emulator.anthropic()
    short = "Be brief. " * 200  # ~500 tokens, below 1,024
    for _ in range(2):
        message = await client.messages.create(**request("q", prefix=short))
        assert message.usage.cache_creation_input_tokens == 0
        assert message.usage.cache_read_input_tokens == 0
    # haiku needs 2,048: the same ~2,700-token prefix caches; a ~1,500-token one does not
    medium = "Be brief. " * 600
    haiku = await client.messages.create(**request("q", prefix=medium, model="claude-haiku-4-5"))
    assert haiku.usage.cache_creation_input_tokens == 0
    sonnet = await client.messages.create(**request("q", prefix=medium))
    assert sonnet.usage.cache_creation_input_tokens > 0


@pytest.mark.looptime
async def test_parallel_writers_miss_until_the_first_token() -> None:
    latency = {
        "*": {"ttft_s": 2.0, "tokens_per_second": 100.0, "prefill_s_per_token": 0.0, "jitter": 0.0}
    }
    emulator = Emulator(config(latency=latency))
    client = emulator.anthropic()
    writer = asyncio.ensure_future(client.messages.create(**request("first")))
    await asyncio.sleep(1.0)  # the writer has not produced its first token yet
    parallel = await client.messages.create(**request("parallel"))
    assert parallel.usage.cache_creation_input_tokens > 0  # a second writer
    assert parallel.usage.cache_read_input_tokens == 0
    await writer
    later = await client.messages.create(**request("later"))
    assert later.usage.cache_read_input_tokens == parallel.usage.cache_creation_input_tokens


@pytest.mark.looptime
async def test_cache_is_scoped_by_key_and_model() -> None:
    emulator = Emulator(config())
    a = emulator.anthropic(api_key="a")
    b = emulator.anthropic(api_key="b")
    await a.messages.create(**request("q"))
    other_key = await b.messages.create(**request("q"))
    assert other_key.usage.cache_read_input_tokens == 0
    other_model = await a.messages.create(**request("q", model="claude-sonnet-4-6-20260101"))
    assert other_model.usage.cache_read_input_tokens == 0


@pytest.mark.looptime
async def test_conversation_prefix_grows_and_is_read_incrementally() -> None:
    emulator = Emulator(config())
    client = emulator.anthropic()
    history: Any = [{"role": "user", "content": [{"type": "text", "text": "x" * 6000}]}]
    reads: list[tuple[int, int]] = []
    for turn in range(3):
        history[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
        message = await client.messages.create(
            model=MODEL, max_tokens=300, messages=history, metadata=meta(200)
        )
        usage = message.usage
        reads.append((usage.cache_read_input_tokens or 0, usage.cache_creation_input_tokens or 0))
        del history[-1]["content"][-1]["cache_control"]
        history.append(
            {"role": "assistant", "content": [{"type": "text", "text": text_of(message)}]}
        )
        history.append(
            {"role": "user", "content": [{"type": "text", "text": f"turn {turn} " * 100}]}
        )
    assert reads[0][0] == 0 and reads[0][1] > 1024
    # each turn reads what the previous turn wrote and writes only the new part
    assert reads[1][0] == reads[0][1]
    assert reads[2][0] == reads[1][0] + reads[1][1]
