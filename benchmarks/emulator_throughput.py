"""Requests per second of the emulator in-process, with tiny responses and no latency.

Real time (`time.perf_counter`): this measures the emulator's own CPU cost, not a
simulated workload. Three figures, one after the other on one event loop:

(a) plain `httpx2` POSTs over `httpx2.ASGITransport` to `Emulator.app`;
(b) `anthropic.AsyncAnthropic.messages.create` through the emulator's own transport;
(c) a trivial Starlette app answering a fixed JSON body, over `httpx2.ASGITransport`
    (the floor set by the HTTP client and the ASGI plumbing).

Run: `python benchmarks/emulator_throughput.py [N]`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orchestrator.emulator import Emulator, EmulatorConfig

MODEL = "claude-sonnet-4-6"
BODY: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "Say hi."}],
    "metadata": {"emulator_output_tokens": 4},
}
HEADERS = {"x-api-key": "bench-key", "anthropic-version": "2023-06-01"}


def _config() -> EmulatorConfig:
    # limits far above the request count: the figure is the emulator's cost, not 429s
    huge = {"rpm": 10**9, "itpm": 10**12, "otpm": 10**12}
    return EmulatorConfig.load({"limits": {"*": huge}}).without_latency()


async def _trivial(request: Request) -> Response:
    await request.body()
    return Response(b'{"ok":true}', media_type="application/json")


async def _plain(app: Any, n: int) -> float:
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://bench.local") as client:
        for _ in range(min(n, 200)):  # warm-up
            await client.post("/v1/messages", json=BODY, headers=HEADERS)
        start = time.perf_counter()
        for _ in range(n):
            response = await client.post("/v1/messages", json=BODY, headers=HEADERS)
            if response.status_code != 200:
                raise RuntimeError(f"unexpected {response.status_code}: {response.text}")
        return n / (time.perf_counter() - start)


async def _sdk(emulator: Emulator, n: int) -> float:
    client = emulator.anthropic(api_key="bench-key")
    messages: Any = BODY["messages"]
    for _ in range(min(n, 200)):
        await client.messages.create(model=MODEL, max_tokens=16, messages=messages)
    start = time.perf_counter()
    for _ in range(n):
        await client.messages.create(
            model=MODEL, max_tokens=16, messages=messages, metadata=BODY["metadata"]
        )
    elapsed = time.perf_counter() - start
    await client.close()
    return n / elapsed


async def _run(n: int) -> list[dict[str, Any]]:
    results = []
    emulator = Emulator(_config())
    results.append(
        {"name": "emulator, httpx2 + ASGITransport", "n": n, "rps": await _plain(emulator.app, n)}
    )
    results.append(
        {"name": "emulator, anthropic SDK", "n": n, "rps": await _sdk(Emulator(_config()), n)}
    )
    trivial = Starlette(routes=[Route("/v1/messages", _trivial, methods=["POST"])])
    results.append(
        {"name": "trivial Starlette app, httpx2", "n": n, "rps": await _plain(trivial, n)}
    )
    return results


def run(n: int = 5000) -> list[dict[str, Any]]:
    """Measure the three figures; each dict has `name`, `n` and `rps` (requests/s)."""
    return asyncio.run(_run(n))


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    for row in run(count):
        print(f"{row['name']:<40} {row['rps']:>9,.0f} requests/s  (n={row['n']})")
