"""`StreamingASGITransport`: streaming, read timeouts, resets and disconnects."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest

from orchestrator.emulator import StreamingASGITransport


def slow_app(events: list[str], *, reset_before: bool = False, reset_after: bool = False) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        if reset_before:
            raise ConnectionResetError("dropped")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            await send({"type": "http.response.body", "body": b"one", "more_body": True})
            if reset_after:
                raise ConnectionResetError("dropped mid-body")
            await asyncio.sleep(10)
            await send({"type": "http.response.body", "body": b"two", "more_body": False})
            events.append("finished")
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    return app


def client(app: Any, timeout: float) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        transport=StreamingASGITransport(app), base_url="http://t", timeout=timeout
    )


@pytest.mark.looptime
async def test_chunks_arrive_as_they_are_sent() -> None:
    events: list[str] = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    arrivals = []
    async with client(slow_app(events), timeout=30) as http, http.stream("GET", "/") as response:
        async for chunk in response.aiter_raw():
            arrivals.append((chunk, loop.time() - start))
    assert arrivals == [(b"one", 0.0), (b"two", 10.0)]
    assert events == ["finished"]


@pytest.mark.looptime
async def test_read_timeout_mid_body_cancels_the_app() -> None:
    events: list[str] = []
    async with client(slow_app(events), timeout=5) as http:
        with pytest.raises(httpx2.ReadTimeout):
            await http.get("/")
    await asyncio.sleep(0)
    assert events == ["cancelled"]


@pytest.mark.looptime
async def test_early_close_is_a_disconnect() -> None:
    events: list[str] = []
    async with client(slow_app(events), timeout=30) as http, http.stream("GET", "/") as response:
        async for _ in response.aiter_raw():
            break
    assert events == ["cancelled"]


@pytest.mark.looptime
async def test_connection_errors_become_read_errors() -> None:
    async with client(slow_app([], reset_before=True), timeout=30) as http:
        with pytest.raises(httpx2.ReadError, match="dropped"):
            await http.get("/")
    async with client(slow_app([], reset_after=True), timeout=30) as http:
        with pytest.raises(httpx2.ReadError, match="mid-body"):
            await http.get("/")
