"""`AnthropicClient`: the `LLMClient` seam on the official SDK (`anthropic.AsyncAnthropic`).

The SDK's own retries are off (`max_retries=0`): dagwright's runner retries under the
shared budget, so a 429 must reach it at once and exactly once. Every failure leaves as an
`LLMError` (see `agents._errors_map`); every success carries the parsed rate-limit headers.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import anthropic
import httpx2
import structlog

from agents._errors_map import error_from_exception, error_from_stream_event
from agents._stream import MalformedMessageError, MessageAccumulator, message_from_json
from agents.client import LLMRequest, LLMResponse, StreamEventHandler, TokenCount
from agents.errors import ErrorKind, LLMError
from agents.ratelimit import RateLimitSnapshot

__all__ = ["AnthropicClient", "MissingAPIKeyError"]

_log = structlog.get_logger("dagwright.llm")

#: Key sent when none is configured but the target is local (emulator, in-process app).
LOCAL_API_KEY = "dagwright-local"
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})
# One SSE event may carry a whole server-tool result; the default 1 MiB cap is too tight.
_MAX_EVENT_BYTES = 16 * 1024 * 1024
_Errors = (anthropic.APIError, httpx2.HTTPError)


class MissingAPIKeyError(ValueError):
    """No API key was configured for a client that would talk to the real API."""


def _is_local(base_url: str | None) -> bool:
    if not base_url:
        return False
    return (urlsplit(base_url).hostname or "") in _LOCAL_HOSTS


def _resolve_key(
    api_key: str | None, base_url: str | None, has_http_client: bool
) -> tuple[str | None, str | None]:
    """(api_key, auth_token) to give the SDK, or raise `MissingAPIKeyError`."""
    if api_key:
        return api_key, None
    if env_key := os.environ.get("ANTHROPIC_API_KEY"):
        return env_key, None
    if auth_token := os.environ.get("ANTHROPIC_AUTH_TOKEN"):
        return None, auth_token
    if has_http_client or _is_local(base_url):
        return LOCAL_API_KEY, None
    raise MissingAPIKeyError(
        "No Anthropic API key: set the ANTHROPIC_API_KEY environment variable or pass "
        "AnthropicClient(api_key=...). To run offline instead, point base_url (or "
        "ANTHROPIC_BASE_URL) at the dagwright emulator, e.g. http://127.0.0.1:8080."
    )


async def _deliver(on_event: StreamEventHandler | None, event: Mapping[str, Any]) -> None:
    if on_event is None:
        return
    result = on_event(event)
    if inspect.isawaitable(result):
        await result


def _event_dict(sse: httpx2.ServerSentEvent) -> dict[str, Any]:
    if not sse.data.strip():
        return {"type": sse.event}
    try:
        data = json.loads(sse.data)
    except json.JSONDecodeError as exc:
        raise MalformedMessageError(
            f"{sse.event} event with non-JSON data {sse.data[:200]!r}"
        ) from exc
    if not isinstance(data, dict):
        raise MalformedMessageError(f"{sse.event} event whose data is not an object")
    data.setdefault("type", sse.event)
    return data


class AnthropicClient:
    """`LLMClient` for the Anthropic Messages API, the dagwright emulator or any ASGI app.

    - `api_key`: default `ANTHROPIC_API_KEY` (then `ANTHROPIC_AUTH_TOKEN`). Missing, it
      raises `MissingAPIKeyError` unless the target is local: an `http_client` is given
      or `base_url` is a loopback host; then the placeholder `"dagwright-local"` is sent.
    - `base_url`: default `ANTHROPIC_BASE_URL`, else the SDK's (`https://api.anthropic.com`).
    - `timeout`: seconds to wait for a response (read), `connect_timeout` to connect. A
      request's own `LLMRequest.timeout` overrides `timeout`. An explicit timeout is sent
      with every call, so the SDK never refuses a large non-streaming `max_tokens`.
    - `http_client`: e.g. `httpx2.AsyncClient(transport=httpx2.ASGITransport(app))`.

    `aclose()` (or `async with`) closes the SDK client and with it `http_client`.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 600.0,
        connect_timeout: float = 5.0,
        http_client: httpx2.AsyncClient | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        if timeout <= 0 or connect_timeout <= 0:
            raise ValueError(
                f"timeout and connect_timeout must be > 0 seconds, got timeout={timeout}, "
                f"connect_timeout={connect_timeout}"
            )
        base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        key, auth_token = _resolve_key(api_key, base_url, http_client is not None)
        credentials: dict[str, Any] = {"api_key": key} if key else {"auth_token": auth_token}
        sdk = anthropic.AsyncAnthropic(
            **credentials,
            base_url=base_url,
            max_retries=0,
            timeout=httpx2.Timeout(timeout, connect=connect_timeout),
            http_client=http_client,
            default_headers=default_headers,
        )
        self._init(sdk, timeout=timeout, connect_timeout=connect_timeout, owned=True)

    def _init(
        self, sdk: anthropic.AsyncAnthropic, *, timeout: float, connect_timeout: float, owned: bool
    ) -> None:
        self._sdk = sdk
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._owned = owned

    @classmethod
    def from_sdk(
        cls,
        client: anthropic.AsyncAnthropic,
        *,
        timeout: float = 600.0,
        connect_timeout: float = 5.0,
    ) -> AnthropicClient:
        """Wrap an existing SDK client (a copy of it with retries off).

        The caller keeps ownership: `aclose()` does not close `client`.
        """
        self = cls.__new__(cls)
        self._init(
            client.with_options(max_retries=0),
            timeout=timeout,
            connect_timeout=connect_timeout,
            owned=False,
        )
        return self

    @property
    def sdk(self) -> anthropic.AsyncAnthropic:
        """The underlying SDK client (retries off)."""
        return self._sdk

    @property
    def base_url(self) -> str:
        """Where requests go."""
        return str(self._sdk.base_url)

    def _call_options(self, request: LLMRequest) -> dict[str, Any]:
        seconds = request.timeout if request.timeout is not None else self._timeout
        options: dict[str, Any] = {
            "timeout": httpx2.Timeout(seconds, connect=min(self._connect_timeout, seconds))
        }
        if request.extra_headers:
            options["extra_headers"] = dict(request.extra_headers)
        return options

    def _failed(self, error: LLMError, request: LLMRequest, *, stream: bool = False) -> LLMError:
        _log.warning(
            "llm.error",
            model=request.model,
            request_id=error.request_id,
            stream=stream,
            kind=error.kind.value,
            status_code=error.status_code,
            error_code=error.error_code,
            retry_after=error.retry_after,
            partial_output_tokens=error.partial_output_tokens,
        )
        return error

    @staticmethod
    def _succeeded(response: LLMResponse, *, stream: bool) -> LLMResponse:
        _log.debug(
            "llm.call",
            model=response.model,
            request_id=response.request_id,
            stream=stream,
            stop_reason=response.stop_reason,
            input_tokens=response.usage.input_tokens,
            cache_read_input_tokens=response.usage.cache_read_input_tokens,
            cache_creation_input_tokens=response.usage.cache_creation_input_tokens,
            output_tokens=response.usage.output_tokens,
        )
        return response

    async def create(self, request: LLMRequest) -> LLMResponse:
        """Send one request and wait for the whole message."""
        context = f"messages.create ({request.model})"
        try:
            raw = await self._sdk.messages.with_raw_response.create(
                **request.to_api(), **self._call_options(request)
            )
        except _Errors as exc:
            raise self._failed(error_from_exception(exc, context=context), request) from exc
        data = await self._read_json(raw, request, context)
        snapshot = RateLimitSnapshot.from_headers(raw.headers)
        try:
            response = message_from_json(data, ratelimit=snapshot, request_id=raw.request_id)
        except MalformedMessageError as exc:
            error = self._malformed(context, raw.headers, exc)
            raise self._failed(error, request) from exc
        return self._succeeded(response, stream=False)

    async def _read_json(
        self, raw: anthropic.AsyncAPIResponse[Any], request: LLMRequest, context: str
    ) -> object:
        """The body of a 2xx response as JSON, or an `LLMError` (SERVER if it is not JSON)."""
        try:
            return await raw.json()
        except _Errors as exc:
            error = error_from_exception(exc, context=context, headers=raw.headers)
            raise self._failed(error, request) from exc
        except ValueError as exc:
            raise self._failed(self._malformed(context, raw.headers, exc), request) from exc

    @staticmethod
    def _malformed(context: str, headers: httpx2.Headers, exc: Exception) -> LLMError:
        snapshot = RateLimitSnapshot.from_headers(headers)
        return LLMError(
            ErrorKind.SERVER,
            f"{context}: unusable 2xx response ({exc}). Retry with backoff",
            request_id=snapshot.request_id,
            ratelimit=snapshot,
        )

    async def stream(
        self, request: LLMRequest, on_event: StreamEventHandler | None = None
    ) -> LLMResponse:
        """Send one request as an SSE stream; `on_event` (sync or async) sees every event.

        An SSE `error` event inside the 200 is raised as an `LLMError` of the kind its
        error type names (`overloaded_error` -> OVERLOADED, ...) with the output produced
        so far in `partial_output_tokens` and `status_code` None (the HTTP status was 200).
        A stream that ends before `message_stop` raises CONNECTION. `on_event` sees the
        `error` event before it is raised; an exception from `on_event` propagates unchanged.
        """
        context = f"messages.stream ({request.model})"
        accumulator = MessageAccumulator()
        headers: httpx2.Headers | None = None
        try:
            async with self._sdk.messages.with_streaming_response.create(
                **request.to_api(), stream=True, **self._call_options(request)
            ) as raw:
                headers = raw.headers
                events = httpx2.EventSource(raw.http_response, max_event_size=_MAX_EVENT_BYTES)
                async for sse in events:
                    event = _event_dict(sse)
                    if event["type"] == "error":
                        await _deliver(on_event, event)
                        raise error_from_stream_event(
                            event,
                            headers,
                            partial_output_tokens=accumulator.partial_output_tokens,
                            context=context,
                        )
                    accumulator.feed(event)
                    await _deliver(on_event, event)
                    if accumulator.finished:
                        break
                else:
                    raise self._stream_error(
                        ErrorKind.CONNECTION,
                        f"{context}: the stream ended after {accumulator.events} events "
                        "without message_stop (connection cut). Retry with backoff",
                        headers,
                        accumulator,
                    )
                snapshot = RateLimitSnapshot.from_headers(headers)
                response = accumulator.response(ratelimit=snapshot, request_id=raw.request_id)
        except LLMError as failure:
            self._failed(failure, request, stream=True)
            raise
        except _Errors as exc:
            error = error_from_exception(
                exc,
                context=context,
                headers=headers,
                partial_output_tokens=accumulator.partial_output_tokens if headers else None,
            )
            raise self._failed(error, request, stream=True) from exc
        except MalformedMessageError as exc:
            error = self._stream_error(
                ErrorKind.SERVER,
                f"{context}: malformed event stream: {exc}. Retry with backoff",
                headers,
                accumulator,
            )
            raise self._failed(error, request, stream=True) from exc
        return self._succeeded(response, stream=True)

    @staticmethod
    def _stream_error(
        kind: ErrorKind,
        message: str,
        headers: httpx2.Headers | None,
        accumulator: MessageAccumulator,
    ) -> LLMError:
        snapshot = RateLimitSnapshot.from_headers(headers) if headers is not None else None
        return LLMError(
            kind,
            message,
            request_id=snapshot.request_id if snapshot else None,
            ratelimit=snapshot,
            partial_output_tokens=accumulator.partial_output_tokens,
        )

    async def count_tokens(self, request: LLMRequest) -> TokenCount:
        """Count the request's input tokens (free; its own request limit)."""
        context = f"messages.count_tokens ({request.model})"
        try:
            raw = await self._sdk.messages.with_raw_response.count_tokens(
                **request.to_api(for_count=True), **self._call_options(request)
            )
        except _Errors as exc:
            raise self._failed(error_from_exception(exc, context=context), request) from exc
        data = await self._read_json(raw, request, context)
        tokens = data.get("input_tokens") if isinstance(data, dict) else None
        if not isinstance(tokens, int):
            error = self._malformed(
                context, raw.headers, ValueError(f"no input_tokens in {data!r}")
            )
            raise self._failed(error, request)
        return TokenCount(
            input_tokens=tokens,
            ratelimit=RateLimitSnapshot.from_headers(raw.headers),
            request_id=raw.request_id,
        )

    async def aclose(self) -> None:
        """Close the SDK client (and its http client), unless it came from `from_sdk`."""
        if self._owned:
            await self._sdk.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AnthropicClient(base_url={self.base_url!r})"
