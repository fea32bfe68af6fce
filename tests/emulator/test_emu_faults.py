"""Each injected fault surfaces as the right SDK exception and the right dagwright kind."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anthropic
import httpx2
import pytest
from emulator_helpers import MODEL, USER, config, meta

from agents.anthropic_client import AnthropicClient
from agents.client import LLMRequest
from agents.errors import ErrorKind, LLMError
from orchestrator.emulator import BASE_URL, Emulator

REQUEST: dict[str, Any] = {"model": MODEL, "max_tokens": 200, "messages": USER}

CASES: list[tuple[str, type[Exception], ErrorKind]] = [
    ("rate_limit_429", anthropic.RateLimitError, ErrorKind.RATE_LIMITED),
    ("overloaded_529", anthropic.OverloadedError, ErrorKind.OVERLOADED),
    ("server_500", anthropic.InternalServerError, ErrorKind.SERVER),
    ("connection_reset", anthropic.APIConnectionError, ErrorKind.CONNECTION),
    ("timeout", anthropic.APITimeoutError, ErrorKind.TIMEOUT),
    ("acceleration_429", anthropic.RampLimitExceededError, ErrorKind.ACCELERATION),
]


def faulty(fault: str, **more: Any) -> Emulator:
    return Emulator(config(faults={fault: 1.0, **more}))


@pytest.mark.looptime
@pytest.mark.parametrize(("fault", "sdk_error", "kind"), CASES)
async def test_fault_maps_to_sdk_exception(
    fault: str, sdk_error: type[Exception], kind: ErrorKind
) -> None:
    emulator = faulty(fault)
    client = emulator.anthropic(timeout=30.0)
    with pytest.raises(sdk_error) as info:
        await client.messages.create(**REQUEST)
    if fault == "connection_reset":
        assert not isinstance(info.value, anthropic.APITimeoutError)
    if isinstance(info.value, anthropic.APIStatusError):
        assert info.value.request_id is not None and info.value.request_id.startswith("req_")
        assert "anthropic-ratelimit-requests-remaining" in info.value.response.headers
    if isinstance(info.value, anthropic.RateLimitError):
        assert info.value.response.headers["retry-after"] == "1"
    stats = emulator.stats()
    assert stats["faults"] == {fault: 1}
    assert stats["tokens"]["input"] == 0  # a faulted request charges nothing


@pytest.mark.looptime
@pytest.mark.parametrize(("fault", "sdk_error", "kind"), CASES)
async def test_fault_maps_to_error_kind(
    fault: str, sdk_error: type[Exception], kind: ErrorKind
) -> None:
    emulator = faulty(fault)
    client = AnthropicClient(
        api_key="k", base_url=BASE_URL, http_client=emulator.http_client(), timeout=30.0
    )
    request = LLMRequest(model=MODEL, messages=USER, max_tokens=200)
    with pytest.raises(LLMError) as info:
        await client.create(request)
    assert info.value.kind is kind
    with pytest.raises(LLMError) as streamed:
        await client.stream(request)
    assert streamed.value.kind is kind
    await client.aclose()


@pytest.mark.looptime
async def test_midstream_error_is_an_sse_error_event() -> None:
    emulator = faulty("midstream_error")
    client = emulator.anthropic()
    stream = await client.messages.create(stream=True, **REQUEST, metadata=meta(150))
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as info:
        async for event in stream:
            seen.append(event.type)
    assert info.value.status_code == 200
    assert info.value.type == "overloaded_error"
    assert "content_block_delta" in seen and "message_stop" not in seen
    # non-streaming requests are not affected by this fault
    message = await client.messages.create(**REQUEST)
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert emulator.stats()["midstream_errors"] == 1

    llm = AnthropicClient(api_key="k", base_url=BASE_URL, http_client=emulator.http_client())
    with pytest.raises(LLMError) as kind_info:
        await llm.stream(LLMRequest(model=MODEL, messages=USER, max_tokens=200))
    assert kind_info.value.kind is ErrorKind.OVERLOADED
    await llm.aclose()


@pytest.mark.looptime
async def test_overloaded_retry_after_when_configured() -> None:
    emulator = faulty("overloaded_529", overloaded_retry_after_s=7)
    with pytest.raises(anthropic.OverloadedError) as info:
        await emulator.anthropic().messages.create(**REQUEST)
    assert info.value.response.headers["retry-after"] == "7"


@pytest.mark.looptime
async def test_timeout_takes_the_client_timeout_in_virtual_time() -> None:
    emulator = faulty("timeout")
    client = emulator.anthropic(timeout=45.0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(anthropic.APITimeoutError):
        await client.messages.create(**REQUEST)
    assert loop.time() - start == pytest.approx(45.0)


@pytest.mark.looptime
async def test_buffering_transport_sees_resets_and_a_504_after_the_hang(
    make_client: Callable[..., anthropic.AsyncAnthropic],
) -> None:
    """`httpx2.ASGITransport` applies no timeout: the hang ends in a 504 timeout_error."""
    reset = make_client(faulty("connection_reset"), plain=True)
    with pytest.raises(anthropic.APIConnectionError):
        await reset.messages.create(**REQUEST)
    with pytest.raises(anthropic.APIConnectionError):
        await reset.messages.create(stream=True, **REQUEST)
    hang = make_client(faulty("timeout", timeout_s=120.0), plain=True)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(anthropic.InternalServerError) as info:
        await hang.messages.create(**REQUEST)
    assert info.value.status_code == 504 and info.value.type == "timeout_error"
    assert loop.time() - start == pytest.approx(120.0)


@pytest.mark.looptime
async def test_streaming_request_reset_is_a_connection_error() -> None:
    client = faulty("connection_reset").anthropic()
    with pytest.raises(anthropic.APIConnectionError):
        await client.messages.create(stream=True, **REQUEST)


async def _statuses(seed: int) -> tuple[list[int], dict[str, Any]]:
    emulator = Emulator(config(seed=seed, faults={"overloaded_529": 0.3, "server_500": 0.1}))
    client = emulator.anthropic()
    statuses = []
    for _ in range(200):
        try:
            await client.messages.create(**REQUEST, metadata=meta(5))
            statuses.append(200)
        except anthropic.APIStatusError as exc:
            statuses.append(exc.status_code)
    return statuses, emulator.stats()


@pytest.mark.looptime
async def test_fault_rates_follow_the_seed() -> None:
    statuses, stats = await _statuses(11)
    assert 30 < statuses.count(529) < 90
    assert 5 < statuses.count(500) < 40
    assert stats["overloaded"] == statuses.count(529)
    assert (await _statuses(11))[0] == statuses
    assert (await _statuses(12))[0] != statuses


@pytest.mark.looptime
async def test_sdk_retries_honour_retry_after() -> None:
    """With SDK retries on, an injected 429 is retried after its retry-after, on the clock."""
    emulator = Emulator(config(seed=2, faults={"rate_limit_429": 0.5, "retry_after_s": 3}))
    client = emulator.anthropic(max_retries=10)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(10):
        await client.messages.create(**REQUEST, metadata=meta(5))
    injected = emulator.stats()["rate_limited"]["injected"]
    assert injected > 0
    assert loop.time() - start == pytest.approx(3.0 * injected, abs=0.01)


def test_plain_httpx_reset_surfaces_as_an_exception() -> None:
    """Without the SDK, the app's reset reaches httpx2 as a transport-level exception."""

    async def main() -> None:
        emulator = faulty("connection_reset")
        async with emulator.http_client() as http:
            with pytest.raises(httpx2.ReadError):
                await http.post(
                    "/v1/messages",
                    json=REQUEST,
                    headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
                )

    asyncio.run(main())
