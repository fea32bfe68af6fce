"""`Trace`: what one run sent and got back, per HTTP attempt, seen at the client's edge.

Every system's HTTP client carries `Trace.hooks()` (httpx2 event hooks), and every
request a `TASK_HEADER` naming its task, so all systems are measured the same way: each
attempt's send time, status and `max_tokens`; each success's usage. The ordered event
log (virtual time, task, event) hashes to `digest()`, the determinism check.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2

from agents.usage import Usage
from benchmarks.env import TASK_HEADER
from orchestrator.clock import Clock, LoopClock

__all__ = ["Success", "Trace"]

_MAX_TOKENS = re.compile(rb'"max_tokens"\s*:\s*(\d+)')

Hook = Callable[[Any], Awaitable[None]]


@dataclass(frozen=True, kw_only=True, slots=True)
class Success:
    """One 200 response: its usage, the `max_tokens` it was sent with, its stop reason."""

    task: str
    usage: Usage
    max_tokens: int
    stop_reason: str | None
    at: float


@dataclass(slots=True)
class Trace:
    """Attempts, statuses and usage of one run (fill it through `hooks()`)."""

    clock: Clock = field(default_factory=LoopClock)
    events: list[tuple[float, str, str]] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    successes: list[Success] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)

    def mark(self, task: str, event: str) -> None:
        """Record a task-level event (done, lost, ...) at the current clock time."""
        self.events.append((self.clock.now(), task, event))

    def hooks(self) -> dict[str, list[Hook]]:
        """httpx2 `event_hooks` recording every request and response."""
        return {"request": [self._on_request], "response": [self._on_response]}

    async def _on_request(self, request: httpx2.Request) -> None:
        task = request.headers.get(TASK_HEADER, "?")
        self.attempts[task] += 1
        self.events.append((self.clock.now(), task, "send"))

    async def _on_response(self, response: httpx2.Response) -> None:
        request = response.request
        task = request.headers.get(TASK_HEADER, "?")
        status = response.status_code
        self.statuses[status] += 1
        now = self.clock.now()
        self.events.append((now, task, f"http {status}"))
        if status != 200 or "json" not in response.headers.get("content-type", ""):
            return  # errors carry no usage; a stream's usage is not parsed here
        body = json.loads(await response.aread())
        found = _MAX_TOKENS.search(request.content)
        self.successes.append(
            Success(
                task=task,
                usage=Usage.from_api(body.get("usage") or {}),
                max_tokens=int(found.group(1)) if found else 0,
                stop_reason=body.get("stop_reason"),
                at=now,
            )
        )

    def final_usage(self) -> dict[str, Usage]:
        """Each task's usage from its last complete (not truncated) answer."""
        usage: dict[str, Usage] = {}
        for success in self.successes:
            if success.stop_reason != "max_tokens" or success.task not in usage:
                usage[success.task] = success.usage
        return usage

    def unused_reservation(self) -> int:
        """Sum over admitted requests of `max_tokens` minus the output they produced."""
        return sum(max(0, s.max_tokens - s.usage.output_tokens) for s in self.successes)

    def digest(self) -> str:
        """A hash of the ordered (time, task, event) log."""
        h = hashlib.sha256()
        for at, task, event in self.events:
            h.update(f"{at:.6f}\t{task}\t{event}\n".encode())
        return h.hexdigest()[:16]
