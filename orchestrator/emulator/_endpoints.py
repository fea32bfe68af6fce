"""The small endpoints: `count_tokens`, `GET /v1/models`, stats, and API-shaped 404s.

`count_tokens` uses the same token rule as `/v1/messages`, charges none of the Messages
buckets, and has its own requests-per-minute bucket per API key
(`count_tokens_rpm`). Its `anthropic-ratelimit-requests-*` headers describe that
bucket; its token headers show the model class's Messages buckets, unchanged.
"""

from __future__ import annotations

from orchestrator.emulator._errors import ApiError, org_label
from orchestrator.emulator._http import (
    Receive,
    RequestHeaders,
    Scope,
    Send,
    check_auth,
    check_version,
    dumps,
    json_headers,
    parse_json,
    read_body,
    send_bytes,
    send_error,
)
from orchestrator.emulator._state import EmulatorState
from orchestrator.emulator._validation import validate_count_tokens
from orchestrator.emulator.tokens import count_request_tokens
from orchestrator.limits import model_class

__all__ = ["CountTokensEndpoint", "ModelsEndpoint", "NotFoundEndpoint", "StatsEndpoint"]

#: A fixed creation date for listed models (the emulator has no real history).
_CREATED_AT = "2025-01-01T00:00:00Z"


class CountTokensEndpoint:
    """`POST /v1/messages/count_tokens`."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        state.stats.count_tokens_requests += 1
        now = state.now()
        request_id = state.ids.next("req")
        headers = RequestHeaders.parse(scope)
        key: str | None = None
        cls: str | None = None
        try:
            raw = await read_body(receive, headers, state.config.max_body_bytes)
            key = check_auth(headers, state.api_keys)
            check_version(headers)
            body = parse_json(raw)
            model = validate_count_tokens(body)
            cls = state.model_class(model)
            if cls is None:
                raise ApiError(404, f"model: {model}")
            bucket = state.count_bucket(key, now)
            if not bucket.covers(1, now):
                rpm = state.config.count_tokens_rpm
                raise ApiError(
                    429,
                    f"This request would exceed the rate limit for your organization "
                    f"({org_label(key)}) of {rpm:,} count_tokens requests per minute. "
                    "Please try again later.",
                    retry_after=bucket.retry_after(1, now),
                    stat="rate_limit:count_tokens",
                )
            bucket.take(1, now)
            payload = dumps({"input_tokens": count_request_tokens(body)})
            state.stats.responses[200] += 1
            await send_bytes(
                send, 200, payload, json_headers(request_id, self._headers(key, cls, now))
            )
        except ApiError as error:
            state.stats.responses[error.status] += 1
            if error.stat is not None:
                state.stats.rejections[error.stat] += 1
            await send_error(send, error, request_id, self._headers(key, cls, now))

    def _headers(self, key: str | None, cls: str | None, now: float) -> list[tuple[bytes, bytes]]:
        state = self.state
        headers = state.headers.headers(state.reading_for(key, cls, now), now)
        bucket = state.count_buckets.get(key) if key is not None else None
        if bucket is None:
            return headers
        requests = [
            (b"anthropic-ratelimit-requests-limit", str(state.config.count_tokens_rpm).encode()),
            (
                b"anthropic-ratelimit-requests-remaining",
                str(max(0, int(bucket.level_at(now) + 1e-9))).encode(),
            ),
            (b"anthropic-ratelimit-requests-reset", state.headers.rfc3339(bucket.full_at(now))),
        ]
        return requests + [
            h for h in headers if not h[0].startswith(b"anthropic-ratelimit-requests-")
        ]


class ModelsEndpoint:
    """`GET /v1/models` and `GET /v1/models/{model_id}`."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        now = state.now()
        request_id = state.ids.next("req")
        headers = RequestHeaders.parse(scope)
        key: str | None = None
        try:
            key = check_auth(headers, state.api_keys)
            wanted = scope.get("path_params", {}).get("model_id")
            models = [_model(name) for name in state.config.models]
            body: dict[str, object]
            if wanted is None:
                body = {
                    "data": models,
                    "has_more": False,
                    "first_id": models[0]["id"] if models else None,
                    "last_id": models[-1]["id"] if models else None,
                }
            else:
                found = [m for m in models if m["id"] == wanted]
                if not found and model_class(wanted) is None:
                    raise ApiError(404, f"model: {wanted}")
                body = dict(found[0] if found else _model(wanted))
            state.stats.responses[200] += 1
            ratelimit = state.headers.headers(state.reading_for(key, None, now), now)
            await send_bytes(send, 200, dumps(body), json_headers(request_id, ratelimit))
        except ApiError as error:
            state.stats.responses[error.status] += 1
            ratelimit = state.headers.headers(state.reading_for(key, None, now), now)
            await send_error(send, error, request_id, ratelimit)


def _model(name: str) -> dict[str, str]:
    return {"type": "model", "id": name, "display_name": name, "created_at": _CREATED_AT}


class StatsEndpoint:
    """`GET /_emulator/stats`: the counters as JSON (no auth; a local debugging aid)."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = dumps(self.state.stats.snapshot())
        await send_bytes(send, 200, body, [(b"content-type", b"application/json")])


class NotFoundEndpoint:
    """An API-shaped 404 for unknown paths (and 405 for wrong methods)."""

    def __init__(self, state: EmulatorState, status: int = 404) -> None:
        self.state = state
        self.status = status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        now = state.now()
        request_id = state.ids.next("req")
        if self.status == 405:
            error = ApiError(
                405, f"Method {scope.get('method')} not allowed", error_type="invalid_request_error"
            )
        else:
            error = ApiError(404, f"Not found: {scope.get('path')}")
        state.stats.responses[error.status] += 1
        await send_error(
            send, error, request_id, state.headers.headers(state.reading_for(None, None, now), now)
        )
