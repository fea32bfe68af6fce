"""Every failure becomes one classified `LLMError`; the SDK never retries on its own."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from anthropic_fakes import RATE_HEADERS, FakeAPI, error_json, message_json

from agents import ErrorKind, LLMError, LLMRequest
from agents._errors_map import classify, error_from_body, parse_limit

REQUEST = LLMRequest(
    model="claude-test-1", messages=[{"role": "user", "content": "x"}], max_tokens=8
)

OTPM_MESSAGE = (
    "This request would exceed the rate limit for your organization of 90,000 output tokens "
    "per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits."
)

# --- pure classification ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "error_code", "kind"),
    [
        (429, "rate_limit_error", None, ErrorKind.RATE_LIMITED),
        (429, "rate_limit_error", "ramp_limit_exceeded", ErrorKind.ACCELERATION),
        (429, "rate_limit_error", "enforced_spend_limit_reached", ErrorKind.SPEND_LIMIT),
        (429, "rate_limit_error", "contract_spend_limit_reached", ErrorKind.SPEND_LIMIT),
        (529, "overloaded_error", None, ErrorKind.OVERLOADED),
        (500, "api_error", None, ErrorKind.SERVER),
        (502, None, None, ErrorKind.SERVER),
        (503, None, None, ErrorKind.SERVER),
        (507, None, None, ErrorKind.SERVER),
        (504, "timeout_error", None, ErrorKind.TIMEOUT),
        (408, None, None, ErrorKind.TIMEOUT),
        (400, "invalid_request_error", None, ErrorKind.INVALID_REQUEST),
        (413, "request_too_large", None, ErrorKind.INVALID_REQUEST),
        (422, None, None, ErrorKind.INVALID_REQUEST),
        (418, None, None, ErrorKind.INVALID_REQUEST),
        (401, "authentication_error", None, ErrorKind.AUTH),
        (403, "permission_error", None, ErrorKind.AUTH),
        (404, "not_found_error", None, ErrorKind.NOT_FOUND),
        (402, "billing_error", None, ErrorKind.SPEND_LIMIT),
        (409, "conflict_error", None, ErrorKind.SERVER),
        (499, None, None, ErrorKind.CONNECTION),
        # inside a 200 stream only the body's type is known
        (None, "overloaded_error", None, ErrorKind.OVERLOADED),
        (None, "rate_limit_error", None, ErrorKind.RATE_LIMITED),
        (None, "rate_limit_error", "ramp_limit_exceeded", ErrorKind.ACCELERATION),
        (None, "api_error", None, ErrorKind.SERVER),
        (None, "timeout_error", None, ErrorKind.TIMEOUT),
        (None, "invalid_request_error", None, ErrorKind.INVALID_REQUEST),
        (None, "something_new", None, ErrorKind.SERVER),
        (None, None, None, ErrorKind.SERVER),
    ],
)
def test_classify(
    status: int | None, error_type: str | None, error_code: str | None, kind: ErrorKind
) -> None:
    assert classify(status, error_type, error_code) is kind


@pytest.mark.parametrize(
    ("message", "limit"),
    [
        (OTPM_MESSAGE, "output_tokens"),
        (
            "This request would exceed your organization's rate limit of 400,000 input tokens "
            "per minute.",
            "input_tokens",
        ),
        (
            "This request would exceed the rate limit for your organization (abc) of 50 "
            "requests per minute.",
            "requests",
        ),
        ("Number of request tokens has exceeded your per-minute rate limit", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_limit_from_message(message: str | None, limit: str | None) -> None:
    assert parse_limit(message) == limit


def test_parse_limit_falls_back_to_the_one_empty_bucket() -> None:
    body = error_json("rate_limit_error", "Rate limited.")
    headers = {**RATE_HEADERS, "anthropic-ratelimit-output-tokens-remaining": "0"}
    assert error_from_body(429, body, headers).limit == "output_tokens"
    both = {**headers, "anthropic-ratelimit-requests-remaining": "0"}
    assert error_from_body(429, body, both).limit is None  # ambiguous: say nothing


def test_error_from_body_is_pure_and_complete() -> None:
    headers = {**RATE_HEADERS, "request-id": "req_429", "retry-after": "12"}
    error = error_from_body(429, error_json("rate_limit_error", OTPM_MESSAGE), headers)
    assert error.kind is ErrorKind.RATE_LIMITED and error.retryable
    assert error.retry_after == 12.0
    assert error.limit == "output_tokens"
    assert error.request_id == "req_429"
    assert error.status_code == 429 and error.error_code is None
    assert error.ratelimit is not None and error.ratelimit.output_tokens.limit == 400_000
    assert "90,000 output tokens" in error.message
    assert "12s" in error.message  # what to do


def test_request_id_from_body_when_header_missing() -> None:
    error = error_from_body(500, error_json("api_error", "boom", request_id="req_body"), {})
    assert error.request_id == "req_body"


# --- through the SDK, against exact HTTP responses --------------------------------------


def _case(
    status: int,
    error_type: str,
    message: str = "went wrong",
    *,
    error_code: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    return (
        status,
        error_json(error_type, message, error_code=error_code),
        {**RATE_HEADERS, "request-id": f"req_{status}", **(headers or {})},
    )


@pytest.mark.parametrize(
    ("case", "kind", "retryable", "retry_after", "limit"),
    [
        (
            _case(429, "rate_limit_error", OTPM_MESSAGE, headers={"retry-after": "7"}),
            ErrorKind.RATE_LIMITED,
            True,
            7.0,
            "output_tokens",
        ),
        (
            _case(429, "rate_limit_error", "Slow down.", headers={"retry-after-ms": "1500"}),
            ErrorKind.RATE_LIMITED,
            True,
            1.5,
            None,
        ),
        (
            _case(
                429,
                "rate_limit_error",
                "Ramp up gradually.",
                error_code="ramp_limit_exceeded",
                headers={"retry-after": "3"},
            ),
            ErrorKind.ACCELERATION,
            True,
            3.0,
            None,
        ),
        (
            _case(
                429,
                "rate_limit_error",
                "You have reached your specified API usage limits.",
                error_code="enforced_spend_limit_reached",
            ),
            ErrorKind.SPEND_LIMIT,
            False,
            None,
            None,
        ),
        (_case(529, "overloaded_error", "Overloaded"), ErrorKind.OVERLOADED, True, None, None),
        (
            _case(529, "overloaded_error", "Overloaded", headers={"retry-after": "2"}),
            ErrorKind.OVERLOADED,
            True,
            2.0,
            None,
        ),
        (_case(500, "api_error"), ErrorKind.SERVER, True, None, None),
        (_case(502, "api_error"), ErrorKind.SERVER, True, None, None),
        (_case(503, "api_error"), ErrorKind.SERVER, True, None, None),
        (_case(504, "timeout_error"), ErrorKind.TIMEOUT, True, None, None),
        (_case(408, "timeout_error"), ErrorKind.TIMEOUT, True, None, None),
        (_case(400, "invalid_request_error"), ErrorKind.INVALID_REQUEST, False, None, None),
        (_case(413, "request_too_large"), ErrorKind.INVALID_REQUEST, False, None, None),
        (_case(422, "invalid_request_error"), ErrorKind.INVALID_REQUEST, False, None, None),
        (_case(401, "authentication_error"), ErrorKind.AUTH, False, None, None),
        (_case(403, "permission_error"), ErrorKind.AUTH, False, None, None),
        (_case(404, "not_found_error"), ErrorKind.NOT_FOUND, False, None, None),
        (_case(402, "billing_error"), ErrorKind.SPEND_LIMIT, False, None, None),
    ],
)
@pytest.mark.parametrize("method", ["create", "stream", "count_tokens"])
async def test_status_errors(
    api: FakeAPI,
    method: str,
    case: tuple[int, dict[str, Any], dict[str, str]],
    kind: ErrorKind,
    retryable: bool,
    retry_after: float | None,
    limit: str | None,
) -> None:
    status, body, headers = case
    api.json(status, body, headers)
    async with api.client() as client:
        with pytest.raises(LLMError) as info:
            await getattr(client, method)(REQUEST)
    error = info.value
    assert len(api.requests) == 1  # SDK retries are off: seen exactly once
    assert error.kind is kind
    assert error.retryable is retryable
    assert error.retry_after == retry_after
    assert error.limit == limit
    assert error.status_code == status
    assert error.request_id == f"req_{status}"
    assert error.error_code == body["error"].get("details", {}).get("error_code")
    assert error.ratelimit is not None and error.ratelimit.requests.limit == 4000
    assert body["error"]["message"] in error.message
    assert f"req_{status}" in str(error)


async def test_non_json_gateway_error(api: FakeAPI) -> None:
    api.queue(httpx2.Response(502, text="<html>Bad Gateway</html>", headers={"request-id": "r"}))
    async with api.client() as client:
        with pytest.raises(LLMError) as info:
            await client.create(REQUEST)
    assert info.value.kind is ErrorKind.SERVER and info.value.status_code == 502
    assert "Bad Gateway" in info.value.message


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx2.ConnectError("connection refused"), ErrorKind.CONNECTION),
        (httpx2.RemoteProtocolError("peer closed connection"), ErrorKind.CONNECTION),
        (httpx2.ReadTimeout("timed out"), ErrorKind.TIMEOUT),
        (httpx2.ConnectTimeout("timed out"), ErrorKind.TIMEOUT),
    ],
)
@pytest.mark.parametrize("method", ["create", "stream", "count_tokens"])
async def test_transport_errors(api: FakeAPI, method: str, exc: Exception, kind: ErrorKind) -> None:
    api.queue(exc)
    async with api.client() as client:
        with pytest.raises(LLMError) as info:
            await getattr(client, method)(REQUEST)
    assert info.value.kind is kind and info.value.retryable
    assert info.value.status_code is None and info.value.request_id is None
    assert len(api.requests) == 1
    assert isinstance(info.value.__cause__, Exception)


async def test_a_429_is_not_retried_and_a_later_call_succeeds(api: FakeAPI) -> None:
    api.json(429, error_json("rate_limit_error", OTPM_MESSAGE), {"retry-after": "1"})
    api.json(200, message_json(), RATE_HEADERS)
    async with api.client() as client:
        with pytest.raises(LLMError):
            await client.create(REQUEST)
        assert len(api.requests) == 1
        response = await client.create(REQUEST)
    assert response.text == "Hello!" and len(api.requests) == 2


@pytest.mark.parametrize(
    "answer",
    [
        httpx2.Response(200, content=b"{not json", headers={"content-type": "application/json"}),
        httpx2.Response(200, text="<html>proxy login</html>"),
        httpx2.Response(200, json={"content": "not a list"}),
        httpx2.Response(200, json=["a", "list"]),
    ],
)
@pytest.mark.parametrize("method", ["create", "count_tokens"])
async def test_unusable_2xx_body_is_a_server_error(
    api: FakeAPI, method: str, answer: httpx2.Response
) -> None:
    answer.headers["request-id"] = "req_bad"
    api.queue(answer)
    async with api.client() as client:
        with pytest.raises(LLMError) as info:
            await getattr(client, method)(REQUEST)
    assert info.value.kind is ErrorKind.SERVER and info.value.retryable
    assert info.value.request_id == "req_bad"
    assert "unusable 2xx response" in info.value.message
