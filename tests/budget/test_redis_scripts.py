"""The Redis budget's Lua scripts against a real `redis-server`, compared with `TokenBucket`.

A hypothesis state machine drives the Lua bucket and three in-memory `TokenBucket`s (the
arithmetic of the single-process `Budget`) through the same operations at the same
explicit times: reserve, settle, double settle, release, reservation expiry (a real Redis
TTL), the clock stepping back, and a restart that loses everything. After every step both
sides must hold the same levels and make the same grant decisions. Plain tests cover what
only the shared bucket has: the FIFO ticket queue, stale tickets, the shared pause.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)
from redis_server_helpers import CAPS, RATES, Scripts, local_redis

from orchestrator.budget._redis_server import LocalRedis
from orchestrator.budget.bucket import TokenBucket


@pytest.fixture(scope="module")
def server() -> Iterator[LocalRedis]:
    yield from local_redis()


@pytest.fixture
def scripts(server: LocalRedis) -> Iterator[Scripts]:
    s = Scripts(server.url)
    yield s
    s.close()


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


# Quarter seconds and whole tokens keep both sides' float arithmetic exact.
_times = st.integers(min_value=0, max_value=60).map(lambda q: q / 4)
_needs = st.tuples(
    st.just(1.0),
    st.integers(min_value=0, max_value=6_000).map(float),
    st.integers(min_value=0, max_value=2_500).map(float),
)


class LuaVersusMemory(RuleBasedStateMachine):
    """The same operation sequence on the Lua bucket and on in-memory `TokenBucket`s."""

    url = ""
    reservations = Bundle("reservations")

    def __init__(self) -> None:
        super().__init__()
        self.lua = Scripts(self.url)
        self.now = 1_000.0
        self.model: list[TokenBucket] | None = None
        self.fill = 0.5
        #: id -> reserved amounts while the reservation is held (None once it is gone)
        self.held: dict[str, tuple[float, float, float] | None] = {}
        self.count = 0

    def teardown(self) -> None:
        self.lua.forget_everything()
        self.lua.close()

    def _model_fits(self, need: tuple[float, float, float]) -> tuple[bool, float]:
        assert self.model is not None
        wait = 0.0
        for i, bucket in enumerate(self.model):
            wait = max(wait, bucket.time_until(min(need[i], bucket.capacity), self.now))
        return wait == 0.0, wait

    @rule(dt=_times)
    def advance(self, dt: float) -> None:
        self.now += dt

    @rule(dt=_times)
    def clock_steps_back(self, dt: float) -> None:
        self.now -= dt

    @rule(target=reservations, need=_needs)
    def reserve(self, need: tuple[float, float, float]) -> str:
        self.count += 1
        res_id = f"r{self.count}"
        created_here = self.model is None
        if self.model is None:
            self.model = [
                TokenBucket(CAPS[i], RATES[i], now=self.now, level=CAPS[i] * self.fill)
                for i in (0, 1, 2)
            ]
        fits, wait = self._model_fits(need)
        granted, lua_wait, created = self.lua.reserve(res_id, need, self.now, fill=self.fill)
        assert created == created_here
        assert granted == fits
        if granted:
            for i in (0, 1, 2):
                self.model[i].take(need[i], self.now)
            self.held[res_id] = need
        else:
            assert _close(lua_wait, wait)
        return res_id

    def _settle(self, res_id: str, real: tuple[float, float, float] | None) -> None:
        held = self.held.get(res_id)
        existed = self.lua.settle(res_id, real, self.now)
        assert existed == (held is not None)
        if held is None:
            return
        self.held[res_id] = None
        if real is None or self.model is None:
            return
        for i in (1, 2):
            delta = held[i] - real[i]
            if delta > 0:
                self.model[i].refund(delta, self.now)
            elif delta < 0:
                self.model[i].take(-delta, self.now)

    @rule(res_id=reservations, real=_needs)
    def settle(self, res_id: str, real: tuple[float, float, float]) -> None:
        self._settle(res_id, real)  # a second settle of the same id must be a no-op

    @rule(res_id=consumes(reservations))
    def release(self, res_id: str) -> None:
        self._settle(res_id, None)

    @rule(res_id=reservations)
    def expire(self, res_id: str) -> None:
        key = self.lua.prefix + res_id
        if self.lua.client.pexpire(key, 1):
            deadline = time.monotonic() + 1.0
            while self.lua.client.exists(key) and time.monotonic() < deadline:
                time.sleep(0.002)
        assert not self.lua.client.exists(key)
        self.held[res_id] = None  # expired unrefunded: conservative

    @rule()
    def restart(self) -> None:
        self.lua.forget_everything()
        self.model = None
        self.fill = 0.0  # after a loss, buckets start empty
        self.held = dict.fromkeys(self.held)

    @invariant()
    def same_levels(self) -> None:
        levels = self.lua.levels(self.now)
        if self.model is None:
            assert levels is None
            return
        assert levels is not None
        for i in (0, 1, 2):
            assert _close(levels[i], self.model[i].level(self.now)), (i, levels, self.model)
            assert levels[i] <= CAPS[i] + 1e-9


def test_lua_bucket_matches_the_in_memory_bucket(server: LocalRedis) -> None:
    class Machine(LuaVersusMemory):
        url = server.url

    run_state_machine_as_test(
        Machine, settings=settings(max_examples=50, stateful_step_count=25, deadline=None)
    )


def test_new_bucket_starts_partly_full_and_time_never_goes_back(scripts: Scripts) -> None:
    granted, _, created = scripts.reserve("a", (1, 2_000, 500), at=100.0)
    assert granted and created
    assert scripts.levels(100.0) == (4.0, 500.0, 500.0)  # half of (10, 5000, 2000), minus need
    assert scripts.levels(90.0) == (4.0, 500.0, 500.0)  # a step back neither drains nor fills
    assert scripts.levels(101.0) == (5.0, 1_000.0, 600.0)


def test_fifo_tickets_keep_a_frequent_caller_from_overtaking(scripts: Scripts) -> None:
    scripts.reserve("drain", (5, 2_500, 1_000), at=0.0)  # empty: (0, 0, 0)
    granted, wait, _ = scripts.reserve("a1", (1, 500, 100), at=0.0, ticket="A")
    assert not granted and wait == pytest.approx(1.0)
    # B asks when there is room, but A queued first and has not come back yet.
    granted, wait, _ = scripts.reserve("b1", (1, 500, 100), at=2.5, ticket="B")
    assert not granted and wait == pytest.approx(0.005)
    assert scripts.reserve("a1", (1, 500, 100), at=2.5, ticket="A")[0]
    assert scripts.reserve("b1", (1, 500, 100), at=2.5, ticket="B")[0]


def test_a_ticket_whose_holder_vanished_stops_blocking(scripts: Scripts) -> None:
    scripts.reserve("drain", (5, 2_500, 1_000), at=0.0)
    assert not scripts.reserve("a1", (1, 100, 10), at=0.0, ticket="A", grace=2.0)[0]
    # A's retry was due at 1.0; its deadline is 1.0 + 2.0 of grace.
    assert not scripts.reserve("b1", (1, 100, 10), at=2.9, ticket="B")[0]
    assert scripts.reserve("b1", (1, 100, 10), at=3.1, ticket="B")[0]


def test_shared_pause_holds_every_process(scripts: Scripts) -> None:
    scripts.reserve("a", (1, 1, 1), at=0.0)
    assert scripts.pause(5.0, at=1.0) == 6.0
    assert scripts.pause(2.0, at=1.0) == 6.0  # extended, never shortened
    granted, wait, _ = scripts.reserve("b", (1, 1, 1), at=2.0, ticket="B")
    assert not granted and wait == pytest.approx(4.0)
    assert scripts.reserve("b", (1, 1, 1), at=6.0, ticket="B")[0]


def test_pull_down_lowers_and_never_raises(scripts: Scripts) -> None:
    scripts.reserve("a", (1, 0, 0), at=0.0)  # levels (4, 2500, 1000)
    removed = scripts.pull_down([2, None, 3_000], at=0.0)
    assert removed == [2.0, 0.0, 0.0]
    assert scripts.levels(0.0) == (2.0, 2_500.0, 1_000.0)


def test_reservation_expires_unrefunded(scripts: Scripts) -> None:
    assert scripts.reserve("a", (1, 2_000, 500), at=0.0, ttl_ms=30)[0]
    time.sleep(0.1)
    assert not scripts.settle("a", (1, 0, 0), at=0.0)
    assert scripts.levels(0.0) == (4.0, 500.0, 500.0)
