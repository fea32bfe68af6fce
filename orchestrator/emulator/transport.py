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
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import httpx2

__all__ = ["ASGIApp", "StreamingASGITransport"]

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]

_END = object()


class _Pipe:
    """What the app sends, in order, to one reader who waits with a timeout.

    A deque and one future with a timer: cheaper per chunk than `asyncio.Queue` with
    `asyncio.wait_for`, which wraps every wait in a task.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def put(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self, timeout: float | None) -> Any:
        """The next item; `TimeoutError` if none comes within `timeout` seconds."""
        if not self._items:
            waiter = self._waiter = self._loop.create_future()
            timer = None
            if timeout is not None:
                timer = self._loop.call_later(timeout, _expire, waiter)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        return self._items.popleft()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _transport_error(exc: BaseException, request: httpx2.Request) -> BaseException:
    """How an app failure looks to the client: connection errors as a read error."""
    if isinstance(exc, ConnectionError):
        error = httpx2.ReadError(str(exc) or "connection reset", request=request)
        error.__cause__ = exc
        return error
    return exc


class _BodyStream(httpx2.AsyncByteStream):
    def __init__(
        self, pipe: _Pipe, task: asyncio.Task[None], request: httpx2.Request, timeout: float | None
    ) -> None:
        self._pipe = pipe
        self._task = task
        self._request = request
        self._timeout = timeout
        self._finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            try:
                item = await self._pipe.get(self._timeout)
            except TimeoutError:
                self._task.cancel()
                raise httpx2.ReadTimeout(
                    "timed out reading the response", request=self._request
                ) from None
            if item is _END:
                self._finished = True
                return
            if isinstance(item, BaseException):
                self._finished = True
                raise _transport_error(item, self._request)
            yield item

    async def aclose(self) -> None:
        # a body read to its end lets the app finish its cleanup; an early close is a
        # client disconnect
        if not self._finished:
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task


class StreamingASGITransport(httpx2.AsyncBaseTransport):
    """Send requests to an in-process ASGI app, streaming responses, with read timeouts."""

    def __init__(self, app: ASGIApp, *, client: tuple[str, int] = ("127.0.0.1", 123)) -> None:
        self.app = app
        self.client = client

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        read_timeout = request.extensions.get("timeout", {}).get("read")
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
        loop = asyncio.get_running_loop()
        pipe = _Pipe(loop)  # first item: (status, headers) or an exception; then the body
        disconnected = asyncio.Event()
        sent_body = False
        started = ended = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal started, ended
            if message["type"] == "http.response.start":
                started = True
                pipe.put((message["status"], list(message.get("headers", []))))
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                if chunk and request.method != "HEAD":
                    pipe.put(chunk)
                if not message.get("more_body", False):
                    ended = True
                    pipe.put(_END)

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            except Exception as exc:  # handed to the reader, who raises it
                pipe.put(exc)
            finally:
                disconnected.set()
            if not started:
                pipe.put(RuntimeError("the ASGI app ended without a response"))
            elif not ended:
                pipe.put(_END)

        task = loop.create_task(run())
        try:
            first = await pipe.get(read_timeout)
        except TimeoutError:
            task.cancel()
            raise httpx2.ReadTimeout(
                "timed out waiting for the response", request=request
            ) from None
        except BaseException:
            task.cancel()
            raise
        if isinstance(first, BaseException):
            raise _transport_error(first, request)
        status, headers = first
        stream = _BodyStream(pipe, task, request, read_timeout)
        return httpx2.Response(status, headers=headers, stream=stream)
