"""The emulator's mutable state, shared by its endpoints: buckets, cache, counters."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.clock import Clock
from orchestrator.emulator._headers import RateLimitHeaders
from orchestrator.emulator._ids import IdFactory
from orchestrator.emulator._throttle import OutputGate
from orchestrator.emulator.buckets import LimitBuckets, TokenBucket
from orchestrator.emulator.cache import PromptCache
from orchestrator.emulator.config import EmulatorConfig
from orchestrator.emulator.content import ContentPlanner
from orchestrator.emulator.faults import FaultInjector
from orchestrator.emulator.latency import LatencyModel
from orchestrator.emulator.ramp import RampLimiter
from orchestrator.emulator.stats import EmulatorStats
from orchestrator.limits import MODEL_CLASSES, ModelLimits, model_class
from orchestrator.pricing import PRICES, Price

__all__ = ["ClassSettings", "EmulatorState"]

#: Buckets shown for requests whose key or model class is unknown (401, 404, ...).
_FALLBACK_CLASS = "sonnet-4"


@dataclass(slots=True)
class ClassSettings:
    """What one model class resolves to, computed once."""

    limits: ModelLimits
    latency: LatencyModel
    cache_min_tokens: int


class EmulatorState:
    """Everything that changes while the emulator serves requests."""

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.classes = {
            name: ClassSettings(
                limits=config.model_limits(name),
                latency=config.latency_model(name),
                cache_min_tokens=config.cache_min_tokens(name),
            )
            for name, _ in MODEL_CLASSES
        }
        self.api_keys = frozenset(config.api_keys) if config.api_keys is not None else None
        self._wall_epoch = config.wall_epoch if config.wall_epoch is not None else time.time()
        self._prices: dict[str, Price | None] = {}
        self._classes_of: dict[str, str | None] = {}
        self.reset()

    def reset(self) -> None:
        """Forget all traffic: full buckets, empty cache, zero counters, seeds restarted."""
        config = self.config
        self.buckets: dict[tuple[str, str], LimitBuckets] = {}
        self.gates: dict[tuple[str, str], OutputGate] = {}
        self.count_buckets: dict[str, TokenBucket] = {}
        self.ramps: dict[str, RampLimiter] = {}
        self.spend: dict[str, float] = {}
        self.cache = PromptCache(ttl_5m=config.cache.ttl_s, ttl_1h=config.cache.ttl_1h_s)
        self.faults = FaultInjector(config.faults, config.seed)
        self.ids = IdFactory(config.seed)
        self.planner = ContentPlanner(
            median_tokens=config.content.median_output_tokens,
            sigma=config.content.output_sigma,
            ids=self.ids,
        )
        self.stats = EmulatorStats()
        # one stream for all content: same seed and same requests in the same order give
        # the same answers (a generator per request would cost a reseed each time)
        self.rng = random.Random(config.seed)
        self._seed_bytes = str(config.seed).encode()
        self._origin: float | None = None
        self._headers: RateLimitHeaders | None = None

    def model_class(self, model: str) -> str | None:
        """`orchestrator.limits.model_class`, memoised (it runs on every request)."""
        try:
            return self._classes_of[model]
        except KeyError:
            if len(self._classes_of) > 4096:
                self._classes_of.clear()
            found = self._classes_of[model] = model_class(model)
            return found

    def now(self) -> float:
        """Clock time; the first call fixes the origin of `elapsed` and of wall time."""
        now = self.clock.now()
        if self._origin is None:
            self._origin = now
            self._headers = RateLimitHeaders(self._wall_epoch, now)
        return now

    def elapsed(self, now: float) -> float:
        """Seconds since the first request (acceleration windows are relative to it)."""
        return now - (self._origin if self._origin is not None else now)

    @property
    def headers(self) -> RateLimitHeaders:
        """The header formatter (exists once `now()` was called)."""
        if self._headers is None:
            self.now()
        assert self._headers is not None
        return self._headers

    def buckets_for(self, key: str, cls: str, now: float) -> LimitBuckets:
        """The buckets of (API key, model class), created full on first use."""
        found = self.buckets.get((key, cls))
        if found is None:
            found = LimitBuckets.new(self.classes[cls].limits, now)
            self.buckets[(key, cls)] = found
        return found

    def reading_for(self, key: str | None, cls: str | None, now: float) -> LimitBuckets:
        """Buckets to report in headers: the real ones, or an untouched full set."""
        cls = cls or _FALLBACK_CLASS
        if key is not None and (key, cls) in self.buckets:
            return self.buckets[(key, cls)]
        return LimitBuckets.new(self.classes[cls].limits, now)

    def gate_for(self, key: str, cls: str, buckets: LimitBuckets) -> OutputGate:
        """The throttle gate of an output bucket."""
        gate = self.gates.get((key, cls))
        if gate is None:
            gate = OutputGate(buckets.output, self.clock)
            self.gates[(key, cls)] = gate
        return gate

    def count_bucket(self, key: str, now: float) -> TokenBucket:
        """The `count_tokens` requests bucket of an API key."""
        bucket = self.count_buckets.get(key)
        if bucket is None:
            rpm = self.config.count_tokens_rpm
            bucket = TokenBucket.full(float(rpm), rpm / 60.0, now)
            self.count_buckets[key] = bucket
        return bucket

    def ramp_for(self, key: str) -> RampLimiter:
        """The acceleration limiter of an API key (organisation)."""
        ramp = self.ramps.get(key)
        if ramp is None:
            cfg = self.config.ramp
            ramp = RampLimiter(window=cfg.window_s, max_growth=cfg.max_growth, floor=cfg.floor)
            self.ramps[key] = ramp
        return ramp

    def price(self, model: str) -> Price | None:
        """The price of `model` (None when the price table has none)."""
        if model not in self._prices:
            try:
                self._prices[model] = PRICES.price(model)
            except KeyError:
                self._prices[model] = None
        return self._prices[model]

    def request_rng(self, body: Mapping[str, Any]) -> random.Random:
        """A generator seeded by (seed, request content): a resent or resumed request gets
        the same answer whatever else was sent before it.

        `max_tokens` and `stream` are left out: a client that sizes `max_tokens` from what
        it has learned (or streams) still gets the same answer, only cut differently.
        """
        content = {k: v for k, v in body.items() if k not in ("max_tokens", "stream")}
        raw = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str).encode()
        digest = hashlib.blake2b(raw, digest_size=16, key=self._seed_bytes[:64]).digest()
        return random.Random(int.from_bytes(digest, "big"))
