"""Bad requests get the API's error shapes (and still carry every header)."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import pytest
from emulator_helpers import MODEL, USER, config, meta

from orchestrator.emulator import Emulator

RATE_HEADERS = [
    f"anthropic-ratelimit-{bucket}-{part}"
    for bucket in ("requests", "tokens", "input-tokens", "output-tokens")
    for part in ("limit", "remaining", "reset")
]


def base(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL, "max_tokens": 100, "messages": USER}
    body.update(overrides)
    return body


def without(key: str) -> dict[str, Any]:
    body = base()
    del body[key]
    return body


BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("missing model", without("model"), "model: Field required"),
    ("missing max_tokens", without("max_tokens"), "max_tokens: Field required"),
    (
        "max_tokens zero",
        base(max_tokens=0),
        "max_tokens: Input should be greater than or equal to 1",
    ),
    ("max_tokens float", base(max_tokens=1.5), "max_tokens: Input should be a valid integer"),
    ("max_tokens bool", base(max_tokens=True), "max_tokens: Input should be a valid integer"),
    ("missing messages", without("messages"), "messages: Field required"),
    ("empty messages", base(messages=[]), "messages: at least one message is required"),
    ("messages not a list", base(messages="hi"), "messages: Input should be a valid list"),
    (
        "bad role",
        base(messages=[{"role": "system", "content": "x"}]),
        "messages.0.role: Input should be 'user' or 'assistant'",
    ),
    (
        "first role assistant",
        base(messages=[{"role": "assistant", "content": "x"}]),
        'messages: first message must use the "user" role',
    ),
    ("missing content", base(messages=[{"role": "user"}]), "messages.0.content: Field required"),
    (
        "unknown block type",
        base(messages=[{"role": "user", "content": [{"type": "video"}]}]),
        "messages.0.content.0: Input tag 'video'",
    ),
    ("unknown field", base(temperatures=1), "temperatures: Extra inputs are not permitted"),
    ("unknown metadata", base(metadata={"foo": 1}), "metadata.foo: Extra inputs are not permitted"),
    (
        "bad output tokens directive",
        base(metadata=meta(0)),
        "metadata.emulator_output_tokens",
    ),
    (
        "tool without schema",
        base(tools=[{"name": "t"}]),
        "tools.0.input_schema: Field required",
    ),
    (
        "tool_choice of unknown tool",
        base(
            tools=[{"name": "t", "input_schema": {"type": "object"}}],
            tool_choice={"type": "tool", "name": "u"},
        ),
        "tool_choice.name",
    ),
    (
        "bad output format",
        base(output_config={"format": {"type": "xml"}}),
        "output_config.format.type",
    ),
]


@pytest.mark.parametrize(("case", "body", "message"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_bad_bodies_are_400s(case: str, body: dict[str, Any], message: str) -> None:
    emulator = Emulator(config())
    client = emulator.anthropic()
    with pytest.raises(anthropic.BadRequestError) as info:
        await client.post("/v1/messages", body=body, cast_to=object)
    error = info.value
    assert error.type == "invalid_request_error"
    assert message in str(error.api_message), error.api_message
    assert error.request_id is not None and error.request_id.startswith("req_")
    assert all(h in error.response.headers for h in RATE_HEADERS)
    assert isinstance(error.body, dict) and error.body["request_id"] == error.request_id


async def test_sampling_parameters_depend_on_the_api_version() -> None:
    emulator = Emulator(config())
    modern = emulator.anthropic()  # the SDK sends anthropic-version 2026-10-21
    with pytest.raises(anthropic.BadRequestError) as info:
        await modern.messages.create(**base(), extra_body={"temperature": 0.5})
    assert "temperature" in str(info.value.api_message)
    legacy = emulator.anthropic(default_headers={"anthropic-version": "2023-06-01"})
    message = await legacy.messages.create(**base(), extra_body={"temperature": 0.5, "top_k": 5})
    assert message.content
    with pytest.raises(anthropic.BadRequestError):
        await legacy.messages.create(**base(), extra_body={"temperature": 1.5})


async def test_missing_key_is_401_and_both_auth_styles_work() -> None:
    emulator = Emulator(config(api_keys=["good"]))
    transport = httpx2.ASGITransport(app=emulator.app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://e") as http:
        version = {"anthropic-version": "2023-06-01"}
        none = await http.post("/v1/messages", json=base(), headers=version)
        wrong = await http.post(
            "/v1/messages", json=base(), headers={**version, "x-api-key": "bad"}
        )
        by_header = await http.post(
            "/v1/messages", json=base(), headers={**version, "x-api-key": "good"}
        )
        bearer = await http.post(
            "/v1/messages", json=base(), headers={**version, "authorization": "Bearer good"}
        )
        no_version = await http.post("/v1/messages", json=base(), headers={"x-api-key": "good"})
    assert none.status_code == 401
    assert none.json()["error"] == {
        "type": "authentication_error",
        "message": "x-api-key header is required",
    }
    assert all(h in none.headers for h in RATE_HEADERS) and none.headers["request-id"].startswith(
        "req_"
    )
    assert wrong.status_code == 401 and wrong.json()["error"]["message"] == "invalid x-api-key"
    assert by_header.status_code == 200 and bearer.status_code == 200
    assert no_version.status_code == 400
    with pytest.raises(anthropic.AuthenticationError):
        await emulator.anthropic(api_key="bad").messages.create(**base())


async def test_unknown_model_is_404() -> None:
    client = Emulator(config()).anthropic()
    with pytest.raises(anthropic.NotFoundError) as info:
        await client.messages.create(**base(model="claude-nonexistent-9"))
    assert info.value.type == "not_found_error"
    assert info.value.api_message == "model: claude-nonexistent-9"
    assert all(h in info.value.response.headers for h in RATE_HEADERS)
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.count_tokens(model="claude-nonexistent-9", messages=USER)


async def test_oversized_body_is_413() -> None:
    client = Emulator(config(max_body_bytes=10_000)).anthropic()
    with pytest.raises(anthropic.ContentTooLargeError) as info:
        await client.messages.create(**base(messages=[{"role": "user", "content": "x" * 20_000}]))
    assert info.value.type == "request_too_large"
    assert all(h in info.value.response.headers for h in RATE_HEADERS)


async def test_invalid_json_is_400() -> None:
    emulator = Emulator(config())
    async with emulator.http_client() as http:
        response = await http.post(
            "/v1/messages",
            content=b"{not json",
            headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_count_tokens_rejects_generation_fields_and_has_its_own_limit() -> None:
    emulator = Emulator(config(count_tokens_rpm=2, limits={"*": {"rpm": 1}}))
    client = emulator.anthropic()
    with pytest.raises(anthropic.BadRequestError):
        await client.post("/v1/messages/count_tokens", body=base(), cast_to=object)
    await client.messages.create(**base())  # uses the only Messages request
    for _ in range(1):  # one count_tokens left of 2 (the 400 above took none)
        await client.messages.count_tokens(model=MODEL, messages=USER)
    raw = await client.messages.with_raw_response.count_tokens(model=MODEL, messages=USER)
    assert raw.headers["anthropic-ratelimit-requests-limit"] == "2"
    assert raw.headers["anthropic-ratelimit-requests-remaining"] == "0"
    with pytest.raises(anthropic.RateLimitError) as info:
        await client.messages.count_tokens(model=MODEL, messages=USER)
    assert "count_tokens requests per minute" in str(info.value.api_message)
    assert info.value.response.headers["retry-after"] == "30"
    assert emulator.stats()["tokens"]["input"] > 0  # only the Messages request charged input
