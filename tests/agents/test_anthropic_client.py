"""AnthropicClient: create, count_tokens, configuration, headers and logging."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic_fakes import RATE_HEADERS, USAGE_JSON, FakeAPI, message_json
from structlog.testing import capture_logs

from agents import (
    AnthropicClient,
    LLMClient,
    LLMRequest,
    MissingAPIKeyError,
    RateLimitSnapshot,
    Usage,
)
from agents.anthropic_client import LOCAL_API_KEY

REQUEST = LLMRequest(
    model="claude-test-1",
    messages=[{"role": "user", "content": "Find token bucket papers."}],
    max_tokens=1024,
    system=[{"type": "text", "text": "You research.", "cache_control": {"type": "ephemeral"}}],
    tools=[{"name": "search", "input_schema": {"type": "object"}}],
)


# --- header parsing ---------------------------------------------------------------------


def test_snapshot_parses_all_twelve_headers_retry_after_and_request_id() -> None:
    snap = RateLimitSnapshot.from_headers({**RATE_HEADERS, "retry-after": "17"})
    reset = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    assert (snap.requests.limit, snap.requests.remaining, snap.requests.reset) == (
        4000,
        3999,
        reset,
    )
    assert (snap.tokens.limit, snap.tokens.remaining) == (2_400_000, 2_399_000)
    assert (snap.input_tokens.limit, snap.input_tokens.remaining) == (2_000_000, 1_999_000)
    assert (snap.output_tokens.limit, snap.output_tokens.remaining) == (400_000, 400_000)
    assert snap.output_tokens.reset == datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    assert snap.input_tokens.reset == reset and snap.tokens.reset == reset
    assert snap.retry_after == 17.0
    assert snap.request_id == "req_011"
    assert not snap.empty
    assert snap.output_tokens.reset_in(datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)) == 30.0


def test_snapshot_token_remaining_is_the_servers_rounded_value() -> None:
    # The server rounds token `remaining` to the thousand; the snapshot keeps its value.
    snap = RateLimitSnapshot.from_headers(
        {
            "anthropic-ratelimit-input-tokens-remaining": "29000",
            "anthropic-ratelimit-output-tokens-remaining": "8000.0",
            "anthropic-ratelimit-tokens-remaining": " 1e3 ",
        }
    )
    assert snap.input_tokens.remaining == 29_000
    assert snap.output_tokens.remaining == 8_000
    assert snap.tokens.remaining == 1_000
    assert RateLimitSnapshot.TOKEN_ROUNDING == 1000


def test_snapshot_missing_and_garbled_headers_become_none() -> None:
    snap = RateLimitSnapshot.from_headers(
        {
            "Anthropic-RateLimit-Requests-Limit": "50",  # case-insensitive
            "anthropic-ratelimit-requests-remaining": "lots",
            "anthropic-ratelimit-requests-reset": "tomorrow-ish",
            "retry-after": "Wed, 21 Oct 2015 07:28:00 GMT",
        }
    )
    assert snap.requests.limit == 50
    assert snap.requests.remaining is None and snap.requests.reset is None
    assert snap.retry_after is None and snap.request_id is None
    assert snap.output_tokens.limit is None
    assert RateLimitSnapshot.from_headers({}).empty


def test_snapshot_retry_after_ms_when_no_retry_after() -> None:
    assert RateLimitSnapshot.from_headers({"retry-after-ms": "1500"}).retry_after == 1.5


# --- create -----------------------------------------------------------------------------


async def test_create_returns_message_usage_snapshot_and_request_id(api: FakeAPI) -> None:
    content: list[dict[str, Any]] = [
        {"type": "text", "text": "Searching."},
        {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {"q": "buckets"}},
    ]
    api.json(200, message_json(content, stop_reason="tool_use"), RATE_HEADERS)
    async with api.client() as client:
        response = await client.create(REQUEST)

    assert response.content == tuple(content)
    assert all(isinstance(b, dict) for b in response.content)
    assert response.stop_reason == "tool_use" and response.stop_sequence is None
    assert response.id == "msg_01" and response.model == "claude-test-1"
    assert response.usage == Usage(
        input_tokens=12,
        output_tokens=34,
        cache_creation_input_tokens=2048,
        cache_read_input_tokens=4096,
        cache_creation_5m_input_tokens=2048,
    )
    assert response.request_id == "req_011"
    assert response.ratelimit == RateLimitSnapshot.from_headers(RATE_HEADERS)
    assert response.tool_uses[0]["input"] == {"q": "buckets"}

    (sent,) = api.requests
    assert sent.url == "https://api.example.test/v1/messages"
    assert sent.headers["authorization"] == "Bearer sk-ant-test"
    assert api.bodies() == [REQUEST.to_api()]


async def test_create_always_sends_an_explicit_timeout(api: FakeAPI) -> None:
    # claude-opus-4-0 is in the SDK's MODEL_NONSTREAMING_TOKENS (8,192); without an explicit
    # timeout the SDK refuses such a non-streaming request before sending it.
    api.json(200, message_json(), RATE_HEADERS).json(200, message_json(), RATE_HEADERS)
    big = LLMRequest(
        model="claude-opus-4-0", messages=[{"role": "user", "content": "x"}], max_tokens=128_000
    )
    async with api.client(timeout=42) as client:
        await client.create(big)
        await client.create(
            LLMRequest(model="m", messages=big.messages, max_tokens=10, timeout=7.5)
        )
    assert api.requests[0].headers["x-stainless-read-timeout"] == "42"
    assert api.requests[1].headers["x-stainless-read-timeout"] == "7.5"


async def test_create_forwards_extra_headers_and_default_headers(api: FakeAPI) -> None:
    api.json(200, message_json(), RATE_HEADERS)
    request = LLMRequest(
        model="m",
        messages=[{"role": "user", "content": "x"}],
        max_tokens=10,
        extra_headers={"x-dagwright-task": "t1"},
    )
    async with api.client(default_headers={"x-team": "research"}) as client:
        await client.create(request)
    assert api.requests[0].headers["x-dagwright-task"] == "t1"
    assert api.requests[0].headers["x-team"] == "research"


async def test_response_without_rate_limit_headers_gives_an_empty_snapshot(api: FakeAPI) -> None:
    api.json(200, message_json())
    async with api.client() as client:
        response = await client.create(REQUEST)
    assert response.ratelimit.empty and response.request_id is None


# --- count_tokens -----------------------------------------------------------------------


async def test_count_tokens_sends_no_generation_fields(api: FakeAPI) -> None:
    api.json(200, {"input_tokens": 321}, RATE_HEADERS)
    async with api.client() as client:
        count = await client.count_tokens(REQUEST)
    assert count.input_tokens == 321
    assert count.request_id == "req_011"
    assert count.ratelimit.requests.limit == 4000
    assert api.requests[0].url.path == "/v1/messages/count_tokens"
    assert api.bodies() == [REQUEST.to_api(for_count=True)]
    assert "max_tokens" not in api.bodies()[0]


# --- configuration ----------------------------------------------------------------------


@pytest.mark.usefixtures("no_anthropic_env")
def test_missing_api_key_is_a_configuration_error() -> None:
    with pytest.raises(MissingAPIKeyError, match="ANTHROPIC_API_KEY") as info:
        AnthropicClient()
    assert isinstance(info.value, ValueError)
    assert "emulator" in str(info.value)
    with pytest.raises(MissingAPIKeyError):
        AnthropicClient(base_url="https://proxy.example.com")


@pytest.mark.usefixtures("no_anthropic_env")
async def test_api_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-from-env")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://env.example.test")
    async with AnthropicClient() as client:
        assert client.sdk.api_key == "sk-from-env"
        assert client.base_url == "https://env.example.test"
    async with AnthropicClient(api_key="sk-explicit") as client:
        assert client.sdk.api_key == "sk-explicit"


@pytest.mark.usefixtures("no_anthropic_env")
async def test_auth_token_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "oauth-token")
    async with AnthropicClient() as client:
        assert client.sdk.auth_token == "oauth-token" and client.sdk.api_key is None


@pytest.mark.usefixtures("no_anthropic_env")
async def test_local_targets_need_no_key(api: FakeAPI) -> None:
    api.json(200, message_json(), RATE_HEADERS)
    async with api.client(api_key=None) as client:  # an http_client: in-process app
        await client.create(REQUEST)
    assert api.requests[0].headers["authorization"] == f"Bearer {LOCAL_API_KEY}"
    async with AnthropicClient(base_url="http://127.0.0.1:8080") as client:
        assert client.sdk.api_key == LOCAL_API_KEY
    async with AnthropicClient(base_url="http://localhost:9000/") as client:
        assert client.sdk.api_key == LOCAL_API_KEY


def test_invalid_timeout_is_rejected() -> None:
    with pytest.raises(ValueError, match="timeout"):
        AnthropicClient(api_key="k", timeout=0)


async def test_sdk_retries_are_off_and_ownership() -> None:
    http = httpx2.AsyncClient()
    client = AnthropicClient(api_key="k", http_client=http)
    assert client.sdk.max_retries == 0
    assert isinstance(client, LLMClient)
    await client.aclose()
    assert http.is_closed  # an owned SDK client closes its http client

    own_http = httpx2.AsyncClient()
    sdk = anthropic.AsyncAnthropic(api_key="k", max_retries=5, http_client=own_http)
    wrapped = AnthropicClient.from_sdk(sdk)
    assert wrapped.sdk.max_retries == 0 and sdk.max_retries == 5
    await wrapped.aclose()
    assert not own_http.is_closed  # from_sdk: the caller keeps ownership
    await sdk.close()
    assert "api.anthropic.com" in repr(wrapped)


# --- logging ----------------------------------------------------------------------------


async def test_logs_llm_call_and_llm_error(api: FakeAPI) -> None:
    api.json(200, message_json(), RATE_HEADERS)
    api.json(529, {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
    async with api.client() as client:
        with capture_logs() as logs:
            await client.create(REQUEST)
            with pytest.raises(Exception, match="overloaded"):
                await client.create(REQUEST)
    call, error = logs
    assert call["event"] == "llm.call" and call["log_level"] == "debug"
    assert call["model"] == "claude-test-1" and call["request_id"] == "req_011"
    assert call["output_tokens"] == USAGE_JSON["output_tokens"]
    assert error["event"] == "llm.error" and error["log_level"] == "warning"
    assert error["kind"] == "overloaded" and error["status_code"] == 529
    assert error["model"] == "claude-test-1"
