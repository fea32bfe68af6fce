"""Rate limits through the anthropic SDK in virtual time: headers, bursts, retry-after."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import anthropic
import pytest
from emulator_helpers import MODEL, USER, config, limits

from orchestrator.emulator import Emulator

EPOCH = 1_800_000_000.0


def req(**overrides: Any) -> dict[str, Any]:
    """A Messages request (as SDK keyword arguments)."""
    body: dict[str, Any] = {"model": MODEL, "max_tokens": 1000, "messages": USER}
    body.update(overrides)
    return body


def out(tokens: int) -> dict[str, Any]:
    """Metadata asking for exactly `tokens` output tokens."""
    return {"emulator_output_tokens": tokens}


def prompt(tokens: int) -> Any:
    """A user message of about `tokens` tokens."""
    return [{"role": "user", "content": "x" * (4 * tokens)}]


async def expect_429(client: anthropic.AsyncAnthropic, **kwargs: Any) -> anthropic.RateLimitError:
    with pytest.raises(anthropic.RateLimitError) as info:
        await client.messages.create(**req(**kwargs))
    return info.value


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


RATE_HEADERS = [
    f"anthropic-ratelimit-{bucket}-{part}"
    for bucket in ("requests", "tokens", "input-tokens", "output-tokens")
    for part in ("limit", "remaining", "reset")
]


def assert_headers(headers: Any) -> None:
    assert headers["request-id"].startswith("req_")
    missing = [h for h in RATE_HEADERS if h not in headers]
    assert not missing


@pytest.mark.looptime
async def test_headers_match_the_buckets() -> None:
    emulator = Emulator(config(limits=limits(rpm=60, itpm=100_000, otpm=12_000), wall_epoch=EPOCH))
    client = emulator.anthropic()
    messages = prompt(30_000)
    counted = (await client.messages.count_tokens(model=MODEL, messages=messages)).input_tokens
    raw = await client.messages.with_raw_response.create(
        **req(messages=messages, metadata=out(3000), max_tokens=5000)
    )
    message = await raw.parse()
    assert message.usage.input_tokens == counted
    headers = raw.headers
    assert_headers(headers)
    assert headers["anthropic-ratelimit-requests-limit"] == "60"
    assert headers["anthropic-ratelimit-requests-remaining"] == "59"
    assert headers["anthropic-ratelimit-input-tokens-limit"] == "100000"
    assert headers["anthropic-ratelimit-input-tokens-remaining"] == str(
        round((100_000 - counted) / 1000) * 1000
    )
    assert headers["anthropic-ratelimit-output-tokens-remaining"] == "9000"
    assert headers["anthropic-ratelimit-tokens-limit"] == "112000"
    assert headers["anthropic-ratelimit-tokens-remaining"] == str(
        round((100_000 - counted + 9000) / 1000) * 1000
    )

    def reset(name: str) -> float:
        text = headers[f"anthropic-ratelimit-{name}-reset"]
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()

    # full again after deficit / (limit / 60), rounded up to the second
    assert reset("requests") == EPOCH + 1
    assert reset("input-tokens") == EPOCH + -(-counted * 60 // 100_000)
    assert reset("output-tokens") == EPOCH + 15
    assert reset("tokens") == max(reset("input-tokens"), reset("output-tokens"))


@pytest.mark.looptime
async def test_rpm_burst_then_retry_after() -> None:
    emulator = Emulator(config(limits=limits(rpm=60)))
    client = emulator.anthropic()
    await asyncio.gather(*[client.messages.create(**req(metadata=out(5))) for _ in range(60)])
    error = await expect_429(client)
    assert error.response.headers["retry-after"] == "1"
    assert "60 requests per minute" in str(error.message)
    assert error.type == "rate_limit_error"
    assert_headers(error.response.headers)
    await sleep(0.99)
    await expect_429(client)  # not before retry-after
    await sleep(0.01)
    await client.messages.create(**req(metadata=out(5)))
    assert emulator.stats()["rate_limited"]["rate_limit"] == {"requests": 2}


@pytest.mark.looptime
async def test_itpm_burst_counts_input_and_retry_after_succeeds() -> None:
    emulator = Emulator(config(limits=limits(itpm=60_000)))
    client = emulator.anthropic()
    messages = prompt(20_000)
    n = (await client.messages.count_tokens(model=MODEL, messages=messages)).input_tokens
    assert n > 20_000
    await client.messages.create(**req(messages=messages, metadata=out(5)))
    await client.messages.create(**req(messages=messages, metadata=out(5)))
    error = await expect_429(client, messages=messages)
    deficit = n - (60_000 - 2 * n)
    retry_after = int(error.response.headers["retry-after"])
    assert retry_after == -(-deficit // 1000)  # refill 1,000 tokens/s
    assert "60,000 input tokens per minute" in str(error.message)
    await sleep(retry_after - 1)
    await expect_429(client, messages=messages)
    await sleep(1)
    await client.messages.create(**req(messages=messages, metadata=out(5)))


@pytest.mark.looptime
async def test_otpm_legacy_reserves_max_tokens() -> None:
    emulator = Emulator(config(limits=limits(otpm=6000), accounting="legacy"))
    client = emulator.anthropic()
    first = await client.messages.create(**req(max_tokens=5000, metadata=out(4000)))
    assert first.usage.output_tokens == 4000  # 1,000 of the 5,000 reserved were refunded
    error = await expect_429(client, max_tokens=5000, metadata=out(10))
    assert error.response.headers["retry-after"] == "30"  # 3,000 short at 100/s
    assert "6,000 output tokens per minute" in str(error.message)
    await sleep(29)
    await expect_429(client, max_tokens=5000, metadata=out(10))
    await sleep(1)
    await client.messages.create(**req(max_tokens=5000, metadata=out(10)))


@pytest.mark.looptime
async def test_otpm_legacy_reservations_block_concurrent_requests() -> None:
    latency = {"*": {"ttft_s": 10.0, "tokens_per_second": 1000.0, "jitter": 0.0}}
    emulator = Emulator(config(limits=limits(otpm=6000), accounting="legacy", latency=latency))
    client = emulator.anthropic()
    running = asyncio.ensure_future(
        client.messages.create(**req(max_tokens=5000, metadata=out(10)))
    )
    await sleep(1)
    error = await expect_429(client, max_tokens=2000, metadata=out(10))
    # 6,000 - 5,000 reserved + 100 refilled in 1 s: 900 short at 100/s
    assert int(error.response.headers["retry-after"]) == 9
    await running  # finishing refunds 4,990 of the reservation
    await client.messages.create(**req(max_tokens=2000, metadata=out(10)))


@pytest.mark.looptime
async def test_otpm_actual_charges_output_not_max_tokens() -> None:
    emulator = Emulator(config(limits=limits(otpm=6000), accounting="actual"))
    client = emulator.anthropic()
    await client.messages.create(**req(max_tokens=20_000, metadata=out(2000)))
    # max_tokens plays no part: 4,000 left, so a 20,000 max_tokens request is admitted
    await client.messages.create(**req(max_tokens=20_000, metadata=out(4000)))
    error = await expect_429(client, max_tokens=10)
    # one token is needed, 0.01 s of refill: retry-after rounds up to whole seconds
    assert error.response.headers["retry-after"] == "1"
    assert "6,000 output tokens per minute" in str(error.message)
    await sleep(0.005)
    await expect_429(client, max_tokens=10)
    await sleep(0.995)
    await client.messages.create(**req(max_tokens=10, metadata=out(10)))


@pytest.mark.looptime
async def test_cache_reads_do_not_count_toward_itpm() -> None:
    emulator = Emulator(config(limits=limits(itpm=30_000)))
    client = emulator.anthropic()
    system = [{"type": "text", "text": "s" * 80_000, "cache_control": {"type": "ephemeral"}}]
    first = await client.messages.create(**req(system=system, metadata=out(5)))
    assert first.usage.cache_creation_input_tokens > 20_000
    # the bucket holds ~10k now: a second writer would not fit, a reader does, many times
    for _ in range(5):
        hit = await client.messages.create(**req(system=system, metadata=out(5)))
        assert hit.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
        assert hit.usage.cache_creation_input_tokens == 0
    stats = emulator.stats()["tokens"]
    assert (
        stats["itpm_counted"]
        == first.usage.cache_creation_input_tokens + 6 * first.usage.input_tokens
    )


@pytest.mark.looptime
async def test_spend_cap_gives_429_without_retry_after() -> None:
    emulator = Emulator(config(spend_limit_usd=0.01))
    client = emulator.anthropic()
    # sonnet-4 output costs $15 per million: 1,000 tokens = $0.015 > $0.01
    await client.messages.create(**req(max_tokens=2000, metadata=out(1000)))
    with pytest.raises(anthropic.EnforcedSpendLimitReachedError) as info:
        await client.messages.create(**req())
    assert info.value.status_code == 429
    assert info.value.error_code == "enforced_spend_limit_reached"
    assert "retry-after" not in info.value.response.headers
    assert_headers(info.value.response.headers)
    assert emulator.stats()["rate_limited"]["spend"] == 1


@pytest.mark.looptime
async def test_ramp_limit_on_sharp_growth() -> None:
    emulator = Emulator(config(ramp={"enabled": True, "window_s": 60, "max_growth": 2, "floor": 5}))
    client = emulator.anthropic()
    for _ in range(5):
        await client.messages.create(**req(metadata=out(5)))
    with pytest.raises(anthropic.RampLimitExceededError) as info:
        await client.messages.create(**req(metadata=out(5)))
    assert info.value.error_code == "ramp_limit_exceeded"
    assert info.value.response.headers["retry-after"] == "60"
    await sleep(60)
    for _ in range(10):  # twice the previous window
        await client.messages.create(**req(metadata=out(5)))
    with pytest.raises(anthropic.RampLimitExceededError):
        await client.messages.create(**req(metadata=out(5)))


@pytest.mark.looptime
async def test_acceleration_window_episode() -> None:
    emulator = Emulator(config(faults={"acceleration_windows": [[10, 20]]}))
    client = emulator.anthropic()
    await client.messages.create(**req(metadata=out(5)))  # t=0 starts the timeline
    await sleep(12)
    with pytest.raises(anthropic.RampLimitExceededError) as info:
        await client.messages.create(**req(metadata=out(5)))
    assert info.value.response.headers["retry-after"] == "8"
    await sleep(8)
    await client.messages.create(**req(metadata=out(5)))
    assert emulator.stats()["rate_limited"]["acceleration"] == 1


@pytest.mark.looptime
async def test_limits_are_per_key_and_per_model_class() -> None:
    emulator = Emulator(config(limits=limits(rpm=2)))
    a = emulator.anthropic(api_key="key-a")
    b = emulator.anthropic(api_key="key-b")
    for _ in range(2):
        await a.messages.create(**req(metadata=out(5)))
    await expect_429(a)
    await b.messages.create(**req(metadata=out(5)))  # another organisation
    await a.messages.create(**req(model="claude-opus-4-8", metadata=out(5)))  # another class
    await expect_429(a, model="claude-sonnet-4-6-20260101")  # same class as claude-sonnet-4-6
    await expect_429(a, model="claude-sonnet-4")


@pytest.mark.looptime
async def test_burst_capacity_separate_from_the_limit() -> None:
    emulator = Emulator(config(limits=limits(rpm=600, rpm_burst=10)))
    client = emulator.anthropic()
    for _ in range(10):
        await client.messages.create(**req(metadata=out(5)))
    error = await expect_429(client)
    assert error.response.headers["anthropic-ratelimit-requests-limit"] == "600"
    assert error.response.headers["retry-after"] == "1"  # 10 per second refill
    await sleep(0.1)
    await client.messages.create(**req(metadata=out(5)))
