"""The connection of `RedisBudget` to Redis, and its local fallback share while Redis is down.

`RedisLink` runs the scripts and turns "Redis unreachable" into `Unreachable`, marking the
link down until a reconnect probe is due (`reconnect_s` later, on the injected clock).
`FallbackShare` holds, per model class, buckets of `capacity / expected_processes` refilling
at `rate / expected_processes` that start **empty** at each outage: a process cut off from
Redis keeps sending at its share of the rate, never more, and never fails open.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from orchestrator.budget._redis_scripts import DROP_TICKET, PAUSE, PULL_DOWN, RESERVE, SETTLE
from orchestrator.budget.bucket import TokenBucket

__all__ = ["FallbackShare", "RedisLink", "Unreachable"]

_DOWN = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)


class Unreachable(Exception):
    """Redis could not be reached (or timed out); the caller uses its fallback share."""


class RedisLink:
    """One Redis client and the budget's registered scripts, with up/down tracking."""

    def __init__(
        self, url: str, *, socket_timeout_s: float, reconnect_s: float, client: Any = None
    ) -> None:
        if client is None:
            try:
                client = aioredis.Redis.from_url(
                    url,
                    socket_timeout=socket_timeout_s,
                    socket_connect_timeout=socket_timeout_s,
                    retry=Retry(NoBackoff(), 0),
                    decode_responses=True,
                )
            except ValueError as exc:
                raise ValueError(
                    f"budget Redis URL {url!r} is not valid ({exc}); use e.g. "
                    "redis://127.0.0.1:6379/0 (or rediss:// for TLS)"
                ) from None
        self.url = url
        self.socket_timeout_s = socket_timeout_s
        self.client = client
        self.reconnect_s = reconnect_s
        self.reserve = client.register_script(RESERVE)
        self.settle = client.register_script(SETTLE)
        self.pull_down = client.register_script(PULL_DOWN)
        self.pause = client.register_script(PAUSE)
        self.drop_ticket = client.register_script(DROP_TICKET)
        #: Local clock time before which Redis is not tried again (None: believed up).
        self.down_until: float | None = None
        #: Whether Redis ever answered, and whether it was lost after that.
        self.seen_up = False
        self.lost = False
        self.failures = 0

    def usable(self, now: float) -> bool:
        """Whether to try Redis at `now` (up, or a reconnect probe is due)."""
        return self.down_until is None or now >= self.down_until

    async def run(self, script: Any, keys: Sequence[str], args: Sequence[Any], now: float) -> Any:
        """Run `script`; `Unreachable` (and the link marked down) if Redis does not answer."""
        try:
            result = await script(keys=list(keys), args=list(args))
        except _DOWN as exc:
            self.failures += 1
            if self.seen_up:
                self.lost = True
            self.down_until = now + self.reconnect_s
            raise Unreachable(str(exc)) from exc
        self.down_until = None
        self.seen_up = True
        return result

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self.client.aclose()


class FallbackShare:
    """Per model class, this process's local share of the budget while Redis is down."""

    def __init__(self, expected_processes: int) -> None:
        self.processes = expected_processes
        self._buckets: dict[str, tuple[TokenBucket, TokenBucket, TokenBucket]] = {}

    def reset(self) -> None:
        """A new outage: every share starts empty again."""
        self._buckets.clear()

    def _of(
        self, name: str, capacities: Sequence[float], rates: Sequence[float], now: float
    ) -> tuple[TokenBucket, TokenBucket, TokenBucket]:
        buckets = self._buckets.get(name)
        if buckets is None:
            n = self.processes
            made = [
                TokenBucket(capacities[i] / n, rates[i] / n, now=now, level=0.0) for i in (0, 1, 2)
            ]
            buckets = (made[0], made[1], made[2])
            self._buckets[name] = buckets
        return buckets

    def take(
        self,
        name: str,
        need: Sequence[float],
        capacities: Sequence[float],
        rates: Sequence[float],
        now: float,
    ) -> float | None:
        """Take `need` now (None), or return the seconds until it fits."""
        buckets = self._of(name, capacities, rates, now)
        wait = 0.0
        for i in (0, 1, 2):
            wait = max(wait, buckets[i].time_until(min(need[i], buckets[i].capacity), now))
        if wait > 0:
            return wait
        for i in (0, 1, 2):
            buckets[i].take(need[i], now)
        return None

    def settle(
        self, name: str, reserved: Sequence[float], real: Sequence[float], now: float
    ) -> None:
        """Refund unused input/output to the share (or charge overshoot as debt)."""
        buckets = self._buckets.get(name)
        if buckets is None:
            return  # no share was ever taken for this class
        for i in (1, 2):
            delta = reserved[i] - real[i]
            if delta > 0:
                buckets[i].refund(delta, now)
            elif delta < 0:
                buckets[i].take(-delta, now)
