"""Shared pieces of the Redis budget tests: a real `redis-server` per module, script calls.

The server is started on a free loopback port and killed by its PID; tests skip with a
reason when `redis-server` is not installed (`apt-get install -y redis-server`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

redis = pytest.importorskip(
    "redis", reason="the `redis` package is not installed (pip install redis)"
)

from orchestrator.budget._redis_scripts import PAUSE, PULL_DOWN, RESERVE, SETTLE, keys_of  # noqa: E402
from orchestrator.budget._redis_server import LocalRedis, redis_server_binary  # noqa: E402

CAPS = (10.0, 5_000.0, 2_000.0)
RATES = (1.0, 500.0, 100.0)
IDLE_TTL_MS = 600_000


def local_redis() -> Iterator[LocalRedis]:
    """A fixture body: a started `LocalRedis`, stopped afterwards (skip if not installed)."""
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    server = LocalRedis().start()
    try:
        yield server
    finally:
        server.stop()


class Scripts:
    """The budget's Lua scripts on one namespace and model class, driven with explicit times."""

    def __init__(self, url: str, *, caps: Sequence[float] = CAPS, rates: Sequence[float] = RATES):
        self.client = redis.Redis.from_url(url, decode_responses=True)
        self.namespace = f"test-{uuid.uuid4().hex[:8]}"
        self.caps, self.rates = list(caps), list(rates)
        self.bucket, self.queue, self.deadlines, self.prefix = keys_of(self.namespace, "c")
        self._reserve = self.client.register_script(RESERVE)
        self._settle = self.client.register_script(SETTLE)
        self._pull = self.client.register_script(PULL_DOWN)
        self._pause = self.client.register_script(PAUSE)

    def reserve(
        self,
        res_id: str,
        need: Sequence[float],
        at: float,
        *,
        ticket: str = "p1",
        fill: float = 0.5,
        ttl_ms: int = 600_000,
        grace: float = 2.0,
        poll: float = 0.005,
    ) -> tuple[bool, float, bool]:
        """(granted, wait seconds, bucket was created)."""
        keys = [self.bucket, self.queue, self.deadlines, self.prefix + res_id]
        args: list[Any] = [*self.caps, *self.rates, *need, ticket, fill, ttl_ms, grace]
        args += [IDLE_TTL_MS, poll, repr(at)]
        granted, wait, created, *_ = self._reserve(keys=keys, args=args)
        return bool(int(granted)), float(wait), bool(int(created))

    def settle(self, res_id: str, real: Sequence[float] | None, at: float) -> bool:
        """True if the reservation existed; `real=None` releases (no refund)."""
        amounts = list(real) if real is not None else [0, 0, 0]
        args: list[Any] = [*self.caps, *self.rates, *amounts, 1 if real is not None else 0]
        args += [IDLE_TTL_MS, repr(at)]
        return bool(int(self._settle(keys=[self.bucket, self.prefix + res_id], args=args)))

    def pull_down(self, ceilings: Sequence[float | None], at: float) -> list[float]:
        """Lower the levels to the ceilings (None: no reading); the amounts removed."""
        shown = ["" if c is None else repr(float(c)) for c in ceilings]
        args: list[Any] = [*self.caps, *self.rates, *shown, IDLE_TTL_MS, repr(at)]
        return [float(x) for x in self._pull(keys=[self.bucket], args=args)]

    def pause(self, seconds: float, at: float) -> float:
        return float(self._pause(keys=[self.bucket], args=[seconds, IDLE_TTL_MS, repr(at)]))

    def levels(self, at: float) -> tuple[float, float, float] | None:
        """The levels refilled to `at` (stored as a side effect, like any script), or None."""
        self.pull_down([None, None, None], at)
        values = self.client.hmget(self.bucket, "l1", "l2", "l3")
        if any(v is None for v in values):
            return None
        return (float(values[0]), float(values[1]), float(values[2]))

    def forget_everything(self) -> None:
        """What a Redis restart without persistence does to this namespace."""
        for key in self.client.scan_iter(match=f"{self.namespace}:*"):
            self.client.delete(key)

    def close(self) -> None:
        self.client.close()
