"""Raw ASGI plumbing shared by the endpoints: request headers, body, auth, responses.

The endpoints are plain ASGI callables (Starlette routes them): building Starlette
`Request`/`Response` objects for every call would cost more than the emulation itself.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from orchestrator.emulator._errors import ApiError, error_body

__all__ = [
    "EmulatedConnectionReset",
    "Receive",
    "RequestHeaders",
    "Scope",
    "Send",
    "error_headers",
    "read_body",
    "send_bytes",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
HeaderList = list[tuple[bytes, bytes]]

_JSON = (b"content-type", b"application/json")


class EmulatedConnectionReset(ConnectionResetError):
    """Raised by an endpoint to drop the connection (the `connection_reset` fault)."""


@dataclass(slots=True)
class RequestHeaders:
    """The request headers the API looks at."""

    api_key: str | None = None
    version: str | None = None
    content_length: int | None = None

    @classmethod
    def parse(cls, scope: Scope) -> RequestHeaders:
        """Pick the API key (`x-api-key` or `Authorization: Bearer`), version and length."""
        out = cls()
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                out.api_key = value.decode("latin-1").strip() or None
            elif name == b"authorization" and out.api_key is None:
                text = value.decode("latin-1").strip()
                if text[:7].lower() == "bearer ":
                    out.api_key = text[7:].strip() or None
            elif name == b"anthropic-version":
                out.version = value.decode("latin-1").strip()
            elif name == b"content-length":
                try:
                    out.content_length = int(value)
                except ValueError:
                    out.content_length = None
        return out


def check_auth(headers: RequestHeaders, allowed: frozenset[str] | None) -> str:
    """The API key, or a 401 like the API's."""
    if headers.api_key is None:
        raise ApiError(401, "x-api-key header is required")
    if allowed is not None and headers.api_key not in allowed:
        raise ApiError(401, "invalid x-api-key")
    return headers.api_key


def check_version(headers: RequestHeaders) -> str:
    """The `anthropic-version`, or a 400 like the API's."""
    if not headers.version:
        raise ApiError(400, "anthropic-version: header is required")
    return headers.version


async def read_body(receive: Receive, headers: RequestHeaders, limit: int) -> bytes:
    """The whole request body; 413 `request_too_large` beyond `limit` bytes."""
    too_large = ApiError(413, f"Request exceeds the maximum allowed number of bytes ({limit:,}).")
    if headers.content_length is not None and headers.content_length > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise EmulatedConnectionReset("client disconnected while sending the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    """The body as JSON, or a 400 saying why not."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"There was an error parsing the body: {exc}") from None


def error_headers(error: ApiError, request_id: str, ratelimit: HeaderList) -> HeaderList:
    """Headers of an error response."""
    headers = [_JSON, (b"request-id", request_id.encode()), *ratelimit]
    if error.retry_after is not None:
        headers.append((b"retry-after", str(error.retry_after).encode()))
    return headers


async def send_error(send: Send, error: ApiError, request_id: str, ratelimit: HeaderList) -> None:
    """Answer with an API error."""
    await send_bytes(
        send,
        error.status,
        error_body(error, request_id),
        error_headers(error, request_id, ratelimit),
    )


async def send_bytes(send: Send, status: int, body: bytes, headers: HeaderList) -> None:
    """A complete response with a `content-length`."""
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def json_headers(request_id: str, ratelimit: HeaderList) -> HeaderList:
    """Headers of a JSON success response."""
    return [_JSON, (b"request-id", request_id.encode()), *ratelimit]


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dumps(value: Any) -> bytes:
    """Compact JSON bytes."""
    return _encode(value).encode()
