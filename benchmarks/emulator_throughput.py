"""Requests per second of the emulator in-process, with tiny responses and no latency.

Real time (`time.perf_counter`): this measures the emulator's own cost, not a simulated
workload. `cpu_rps` divides by the process's CPU time instead (`time.process_time`), a
steadier figure on a shared machine. Three figures, one after the other:

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


def _row(name: str, n: int, wall: float, cpu: float) -> dict[str, Any]:
    return {"name": name, "n": n, "rps": n / wall, "cpu_rps": n / cpu}


async def _plain(name: str, app: Any, n: int) -> dict[str, Any]:
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://bench.local") as client:
        for _ in range(min(n, 200)):  # warm-up
            await client.post("/v1/messages", json=BODY, headers=HEADERS)
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            response = await client.post("/v1/messages", json=BODY, headers=HEADERS)
            if response.status_code != 200:
                raise RuntimeError(f"unexpected {response.status_code}: {response.text}")
        return _row(name, n, time.perf_counter() - wall, time.process_time() - cpu)


async def _sdk(name: str, emulator: Emulator, n: int) -> dict[str, Any]:
    client = emulator.anthropic(api_key="bench-key")
    request: dict[str, Any] = {k: BODY[k] for k in ("model", "max_tokens", "messages", "metadata")}
    for _ in range(min(n, 200)):
        await client.messages.create(**request)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        await client.messages.create(**request)
    row = _row(name, n, time.perf_counter() - wall, time.process_time() - cpu)
    await client.close()
    return row


async def _run(n: int) -> list[dict[str, Any]]:
    trivial = Starlette(routes=[Route("/v1/messages", _trivial, methods=["POST"])])
    return [
        await _plain("emulator, httpx2 + ASGITransport", Emulator(_config()).app, n),
        await _sdk("emulator, anthropic SDK", Emulator(_config()), n),
        await _plain("trivial Starlette app, httpx2", trivial, n),
    ]


def run(n: int = 5000) -> list[dict[str, Any]]:
    """Measure the three figures: dicts of `name`, `n`, `rps` (wall) and `cpu_rps`."""
    return asyncio.run(_run(n))


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    for row in run(count):
        print(
            f"{row['name']:<34} {row['rps']:>7,.0f} requests/s"
            f"  ({row['cpu_rps']:,.0f} per CPU-second, n={row['n']})"
        )
