"""An in-process ASGI transport for httpx2 that streams and honours read timeouts.

`httpx2.ASGITransport` runs the app to completion before returning anything, so an SSE
stream arrives all at once at its end, and client timeouts are never applied (a hung
server hangs the client). This transport runs the app as a task and hands the body over
chunk by chunk as the app sends it, and applies the request's read timeout on the event
loop's clock (virtual under `looptime`): a server that stays silent longer raises
`httpx2.ReadTimeout`, which the anthropic SDK turns into `APITimeoutError`. An app that
raises a connection error (`ConnectionError`, e.g. an injected reset) surfaces as
`httpx2.ReadError`, as a dropped socket would; closing the response early cancels the
app's task, as a client disconnect does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import httpx2

__all__ = ["StreamingASGITransport"]

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]

_END = object()


class _BodyStream(httpx2.AsyncByteStream):
    def __init__(
        self,
        queue: asyncio.Queue[Any],
        task: asyncio.Task[None],
        request: httpx2.Request,
        timeout: float | None,
    ) -> None:
        self._queue = queue
        self._task = task
        self._request = request
        self._timeout = timeout
        self._finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            item = await _next(self._queue, self._timeout, self._request, self._task)
            if item is _END:
                self._finished = True
                return
            yield item

    async def aclose(self) -> None:
        # a body read to its end lets the app finish its cleanup; an early close is a
        # client disconnect
        if not self._finished:
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task


async def _next(
    queue: asyncio.Queue[Any],
    timeout: float | None,
    request: httpx2.Request,
    task: asyncio.Task[None],
) -> Any:
    try:
        item = await (queue.get() if timeout is None else asyncio.wait_for(queue.get(), timeout))
    except TimeoutError:
        task.cancel()
        raise httpx2.ReadTimeout("timed out waiting for the server", request=request) from None
    if isinstance(item, BaseException):
        if isinstance(item, ConnectionError):
            raise httpx2.ReadError(str(item) or "connection reset", request=request) from item
        raise item
    return item


class StreamingASGITransport(httpx2.AsyncBaseTransport):
    """Send requests to an in-process ASGI app, streaming responses, with read timeouts."""

    def __init__(self, app: ASGIApp, *, client: tuple[str, int] = ("127.0.0.1", 123)) -> None:
        self.app = app
        self.client = client

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        timeouts = request.extensions.get("timeout", {})
        read_timeout = timeouts.get("read")
        body = await request.aread()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "scheme": request.url.scheme,
            "path": request.url.path,
            "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query,
            "server": (request.url.host, request.url.port),
            "client": self.client,
            "root_path": "",
        }
        queue: asyncio.Queue[Any] = asyncio.Queue()
        started: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] = (
            asyncio.get_running_loop().create_future()
        )
        disconnected = asyncio.Event()
        sent_body = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                started.set_result((message["status"], list(message.get("headers", []))))
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                if chunk and request.method != "HEAD":
                    queue.put_nowait(chunk)
                if not message.get("more_body", False):
                    queue.put_nowait(_END)

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            except asyncio.CancelledError:
                if not started.done():
                    started.cancel()
                raise
            except Exception as exc:  # handed to the reader, who raises it
                if not started.done():
                    started.set_exception(exc)
                else:
                    queue.put_nowait(exc)
            finally:
                disconnected.set()
            if not started.done():
                started.set_exception(RuntimeError("the ASGI app ended without a response"))

        task = asyncio.get_running_loop().create_task(run())
        try:
            status, headers = await asyncio.wait_for(asyncio.shield(started), read_timeout)
        except TimeoutError:
            task.cancel()
            raise httpx2.ReadTimeout("timed out waiting for the server", request=request) from None
        except ConnectionError as exc:
            raise httpx2.ReadError(str(exc) or "connection reset", request=request) from exc
        except BaseException:
            task.cancel()
            raise
        stream = _BodyStream(queue, task, request, read_timeout)
        return httpx2.Response(status, headers=headers, stream=stream, extensions={})
