"""Serving the emulator over HTTP with uvicorn: `serve` (blocking) and `BackgroundServer`
(a thread, for tests and tools that need a real port).

Under a real server an injected connection reset drops the TCP connection after the
status line, because ASGI has no way to close a connection before answering: a
non-streaming SDK call sees `APIConnectionError`, a streaming one sees the transport
error while reading events (as with a real reset mid-stream).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any

import uvicorn

from orchestrator.emulator._http import EmulatedConnectionReset, Receive, Scope, Send
from orchestrator.emulator.config import EmulatorConfig
from orchestrator.emulator.emulator import Emulator
from orchestrator.emulator.transport import ASGIApp

__all__ = ["BackgroundServer", "serve"]


class _DropConnection:
    """Turn an injected reset into a dropped connection under a real server."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._app(scope, receive, tracking_send)
        except EmulatedConnectionReset:
            if not started:
                # a promised body that never comes: the server must close the connection
                headers = [(b"content-type", b"application/json"), (b"content-length", b"64")]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
            raise


class _QuietResets(logging.Filter):
    """Injected resets are intended: keep their tracebacks out of the server log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, EmulatedConnectionReset)


def _server_app(emulator: Emulator) -> ASGIApp:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietResets) for f in logger.filters):
        logger.addFilter(_QuietResets())
    return _DropConnection(emulator.app)


def serve(
    config: EmulatorConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    log_level: str = "info",
) -> None:
    """Serve a new emulator on `host:port` until interrupted."""
    emulator = Emulator(config)
    uvicorn.run(_server_app(emulator), host=host, port=port, log_level=log_level, lifespan="off")


class BackgroundServer:
    """The emulator under uvicorn in a daemon thread; `port=0` picks a free port.

    ```python
    with BackgroundServer(config) as server:
        client = anthropic.Anthropic(api_key="k", base_url=server.base_url)
    ```
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        start_timeout: float = 10.0,
    ) -> None:
        self.emulator = Emulator(config)
        self.host = host
        self.port = port
        self._start_timeout = start_timeout
        self._server = uvicorn.Server(
            uvicorn.Config(
                _server_app(self.emulator),
                host=host,
                port=port,
                log_level=log_level,
                lifespan="off",
                # streams still running at stop() are cut after this long
                timeout_graceful_shutdown=1,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """`http://host:port` of the running server."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> BackgroundServer:
        """Start serving; returns once the port accepts connections."""
        if self._thread is not None:
            raise RuntimeError("BackgroundServer is already started")
        self._thread = threading.Thread(
            target=self._server.run, name="dagwright-emulator", daemon=True
        )
        self._thread.start()
        # a startup handshake with another thread: real time is the right clock here
        deadline = time.monotonic() + self._start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the emulator did not start on {self.host}:{self.port}")
            time.sleep(0.005)
        sockets = [s for server in self._server.servers for s in server.sockets]
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=self._start_timeout)
            self._thread = None

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
