"""One model call under the shared budget: estimate, lease, send, settle, retry.

Every model call dagwright makes — a worker's turn, a manager's plan, a benchmark node —
goes through `BudgetedCaller.call`, so admission, settlement, resync from the rate-limit
headers, coordinated backoff and retries are the same everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from agents.client import LLMClient, LLMRequest, LLMResponse
from agents.errors import ErrorKind, LLMError
from agents.estimate import InputEstimator, OutputEstimator
from orchestrator.budget import Budget, Lease
from orchestrator.cachewarm import WarmFirstGate
from orchestrator.clock import Clock
from orchestrator.events import EventLog
from policies.retry import RetryPolicy

_BUDGET_PACED = frozenset({ErrorKind.RATE_LIMITED, ErrorKind.ACCELERATION})

__all__ = ["BudgetedCaller", "CallFailed", "CallOptions", "CallOutcome"]


@dataclass(frozen=True, kw_only=True, slots=True)
class CallOptions:
    """What the budget and the estimators need to know about one call besides the request.

    `kind` groups calls whose output sizes are alike (learned output estimates);
    `expected_output_tokens` is the declared expected output, if any; `input_tokens`
    overrides the local input estimate (e.g. an exact `count_tokens` answer);
    `cached_tokens` is how much of the prompt is expected to be read from the cache
    (not charged against the input limit). `warm_first=False` lets this call past the
    caller's warm-first gate (see `orchestrator.cachewarm`).
    """

    task_id: str
    kind: str | None = None
    expected_output_tokens: int | None = None
    input_tokens: int | None = None
    cached_tokens: int = 0
    priority: int = 0
    tail: float = 0.0
    group: str | None = None
    weight: float = 1.0
    stream: bool = False
    max_attempts: int | None = None
    warm_first: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class CallOutcome:
    """A successful call and what it took."""

    response: LLMResponse
    attempts: int
    waited_s: float
    started_at: float
    finished_at: float
    errors: tuple[LLMError, ...] = ()
    max_tokens_sent: int = 0


class CallFailed(Exception):
    """A call that failed for good: a task-class error, or retries exhausted."""

    def __init__(self, task_id: str, attempts: int, error: LLMError) -> None:
        self.task_id = task_id
        self.attempts = attempts
        self.error = error
        verdict = "cannot be retried" if not error.retryable else "retries exhausted"
        super().__init__(
            f"task {task_id!r}: call failed after {attempts} attempt(s) ({verdict}): {error}"
        )


class BudgetedCaller:
    """Sends requests through an `LLMClient` under a `Budget`, with retries."""

    def __init__(
        self,
        client: LLMClient,
        budget: Budget,
        *,
        retry: RetryPolicy | None = None,
        inputs: InputEstimator | None = None,
        outputs: OutputEstimator | None = None,
        clock: Clock | None = None,
        seed: int = 0,
        events: EventLog | None = None,
        probes: int = 0,
        cache_warm_first: bool = True,
    ) -> None:
        self.client = client
        self.budget = budget
        self.retry = retry if retry is not None else RetryPolicy()
        self.inputs = inputs if inputs is not None else InputEstimator()
        self.outputs = outputs if outputs is not None else OutputEstimator()
        self.clock = clock if clock is not None else budget.clock
        self._rng = random.Random(seed)
        self.events = events
        self.calls = 0
        self.errors: dict[ErrorKind, int] = {}
        #: Calls of a kind with unknown output size sent ahead of the rest (0: no probing).
        self.probes = probes
        self._probe_conditions: dict[str, asyncio.Condition] = {}
        self._probing_now: dict[str, int] = {}
        #: Calls of each kind on the wire, and, per kind not yet re-sized, the calls that
        #: were on the wire when it was first learned (`_resize_waiting`).
        self._running: dict[str, set[object]] = {}
        self._cohorts: dict[str, set[object]] = {}
        self._sized_kinds: set[str] = set()
        #: legacy mode: kinds with a declared output that an answer outran (cut short at
        #: the `max_tokens` sized from it); sized from what they teach from then on (the
        #: leases already waiting too: they carry the caller's max_tokens for that case).
        self._outran: set[str] = set()
        #: Calls sharing a cacheable prefix go writer first, then readers (None: off).
        self.cache_gate = (
            WarmFirstGate(inputs=self.inputs, clock=self.clock) if cache_warm_first else None
        )

    def plan_output(self, request: LLMRequest, options: CallOptions) -> tuple[int, int]:
        """(expected output, max_tokens to ask for) for this call."""
        kind = options.kind or options.task_id
        estimate = self.outputs.estimate(
            kind,
            declared_output=None if kind in self._outran else options.expected_output_tokens,
            declared_max_tokens=request.max_tokens,
        )
        return estimate.expected, estimate.max_tokens

    async def call(self, request: LLMRequest, options: CallOptions) -> CallOutcome:
        """Send `request` under the budget; retry provider-class failures; raise `CallFailed`."""
        gate = self.cache_gate
        if gate is not None and options.warm_first and gate.applies(request):
            return await gate.call(
                request,
                cached_tokens=options.cached_tokens,
                exact_input=options.input_tokens is not None,
                send=lambda cached, stream: self._probed_call(
                    request, _with_cache(options, cached, stream)
                ),
            )
        if options.expected_output_tokens is not None or self.probes <= 0:
            # Nothing to probe (as `_probing` decides): one coroutine less per call.
            return await self._call(request, options)
        return await self._probed_call(request, options)

    async def _probed_call(self, request: LLMRequest, options: CallOptions) -> CallOutcome:
        if options.expected_output_tokens is not None or self.probes <= 0:
            # Nothing to probe (as `_probing` decides): skip its context manager.
            return await self._call(request, options)
        async with self._probing(options):
            return await self._call(request, options)

    @contextlib.asynccontextmanager
    async def _probing(self, options: CallOptions) -> AsyncIterator[None]:
        """Size unknown outputs from a few probes before the rest of their kind is sent.

        A fan-out creates all its calls at once; sized then, every one of them would
        reserve the declared `max_tokens` (the main waste in legacy mode, and a drag on
        actual-mode pacing). When a kind has no declared output and nothing learned yet,
        `probes` calls of it go first; the others wait for their answers (or failures),
        then are sized from what was learned. Off by default (`probes=0`): on W7 of the
        benchmarks `probes=5` cut makespan/LB from 3.6x to 1.3x (legacy) and 6.2x to 2.1x
        (actual), but cost W1 (input-bound) 1.02x -> 1.18x, because the held calls leave
        the input burst unused while the probes run.
        """
        kind = options.kind or options.task_id
        if options.expected_output_tokens is not None or self.probes <= 0:
            yield
            return
        condition = self._probe_conditions.setdefault(kind, asyncio.Condition())
        async with condition:
            while (
                self.outputs.samples(kind) < self.outputs.min_samples
                and self._probing_now.get(kind, 0) >= self.probes
            ):
                await condition.wait()
            probe = self.outputs.samples(kind) < self.outputs.min_samples
            if probe:
                self._probing_now[kind] = self._probing_now.get(kind, 0) + 1
        try:
            yield
        finally:
            if probe:
                async with condition:
                    self._probing_now[kind] -= 1
                    condition.notify_all()

    async def _call(self, request: LLMRequest, options: CallOptions) -> CallOutcome:
        raw_input = self.inputs.raw(request)
        if options.input_tokens is not None:
            prompt_estimate = options.input_tokens
        else:
            # `estimate(request)` would walk the request's JSON a second time.
            prompt_estimate = self.inputs.calibrated(raw_input, request.model)
        itpm_estimate = max(1, prompt_estimate - max(0, options.cached_tokens))
        expected, max_tokens = self.plan_output(request, options)
        if self.budget.mode == "actual":
            # The server counts output as generated: a smaller max_tokens reserves nothing
            # less there and only risks a truncated answer that must be sent again.
            max_tokens = request.max_tokens
        # Undeclared sizes are guesses: let what the kind's answers teach re-size the lease
        # while it waits (see `orchestrator.budget.resizing`).
        kind = options.kind or options.task_id
        declared = options.expected_output_tokens is not None and kind not in self._outran
        sizing_key: str | None = None if declared else kind
        lean: int | None = None
        if self.budget.mode == "legacy":
            if sizing_key is not None:
                # Ask for the caller's own max_tokens: the budget sends the learned (leaner)
                # size only when the output bucket is short (`orchestrator.budget.resizing`).
                max_tokens = request.max_tokens
            elif max_tokens < request.max_tokens:
                # Sized from a declaration: the budget sends that size, and keeps the
                # caller's for the case an answer outruns the declaration while this
                # lease still waits (the kind is then re-sized: `_learn`).
                lean, max_tokens, sizing_key = max_tokens, request.max_tokens, kind
        errors: list[LLMError] = []
        waited = 0.0
        started = self.clock.now()
        attempt = 0
        failures = 0
        full_refusals = 0
        while True:
            attempt += 1
            asked = self.clock.now()
            async with self.budget.lease(
                options.task_id,
                model=request.model,
                input_tokens=itpm_estimate,
                output_tokens=expected,
                max_tokens=max_tokens,
                priority=options.priority,
                tail=options.tail,
                group=options.group,
                weight=options.weight,
                sizing_key=sizing_key,
                lean_max_tokens=lean,
            ) as lease:
                wait = self.clock.now() - asked
                waited += wait
                if wait > 1e-3 and self.events is not None:
                    self.events.emit(
                        "budget.waiting", options.task_id, waited_s=wait, attempt=attempt
                    )
                sent = request
                if lease.max_tokens != request.max_tokens:
                    sent = _with_max_tokens(request, lease.max_tokens)
                self.calls += 1
                try:
                    response = await self._send_counted(kind, sent, lease, options.stream)
                except LLMError as error:
                    lease.report_error(error)
                    errors.append(error)
                    self.errors[error.kind] = self.errors.get(error.kind, 0) + 1
                    retry = self.retry.should_retry(error, attempt)
                    if error.kind not in _BUDGET_PACED:
                        failures += 1
                    if options.max_attempts is not None and retry:
                        # A task's own retry limit counts real failures; 429s are paced by
                        # the budget and bounded by the retry policy alone.
                        retry = failures < options.max_attempts
                    if _refused_when_full(error):
                        full_refusals += 1
                        if full_refusals >= 2:
                            # Twice, with the wait between: not the rounding of a reading.
                            error = _too_large_for_server(error, itpm_estimate)
                            retry = False
                    if self.events is not None:
                        self.events.emit(
                            "call.error",
                            options.task_id,
                            attempt=attempt,
                            kind=error.kind.value,
                            status=error.status_code,
                            request_id=error.request_id,
                            retry_after=error.retry_after,
                            message=error.message,
                        )
                    if not retry:
                        raise CallFailed(options.task_id, attempt, error) from error
                    delay = self.retry.delay(error, attempt, self._rng)
                    if self.events is not None:
                        self.events.emit(
                            "task.retry", options.task_id, attempt=attempt + 1, delay_s=delay
                        )
                else:
                    lease.settle(response.usage, response.ratelimit)
                    self._learn(request, options, raw_input, response)
                    if (
                        response.stop_reason == "max_tokens"
                        and lease.max_tokens < request.max_tokens
                        and (max_tokens < request.max_tokens or sizing_key is not None)
                    ):
                        # Our right-sized max_tokens cut the answer short: the caller asked
                        # for more. Send it again with the caller's own max_tokens.
                        if self.events is not None:
                            self.events.emit(
                                "task.retry",
                                options.task_id,
                                attempt=attempt + 1,
                                reason="truncated",
                                max_tokens=lease.max_tokens,
                                retry_max_tokens=request.max_tokens,
                            )
                        max_tokens = request.max_tokens
                        expected = max(expected, response.usage.output_tokens)
                        # The resend must keep the caller's max_tokens.
                        sizing_key = lean = None
                        continue
                    return CallOutcome(
                        response=response,
                        attempts=attempt,
                        waited_s=waited,
                        started_at=started,
                        finished_at=self.clock.now(),
                        errors=tuple(errors),
                        max_tokens_sent=lease.max_tokens,
                    )
            if delay > 0:
                await self.clock.sleep(delay)

    async def _send_counted(
        self, kind: str, request: LLMRequest, lease: Lease, stream: bool
    ) -> LLMResponse:
        token = object()
        running = self._running.get(kind)
        if running is None:
            running = self._running[kind] = set()
        running.add(token)
        try:
            return await self._send(request, lease, stream)
        finally:
            running.discard(token)

    async def _send(self, request: LLMRequest, lease: Lease, stream: bool) -> LLMResponse:
        if not stream:
            return await self.client.create(request)

        def on_event(event: Mapping[str, Any]) -> None:
            if self.cache_gate is not None:
                self.cache_gate.on_stream_event(event)
            if event.get("type") == "message_delta":
                usage = event.get("usage") or {}
                produced = usage.get("output_tokens")
                if isinstance(produced, int):
                    lease.progress(produced)

        return await self.client.stream(request, on_event)

    def _learn(
        self, request: LLMRequest, options: CallOptions, raw_input: int, response: LLMResponse
    ) -> None:
        if options.input_tokens is None:
            self.inputs.calibrate(request.model, raw_input, response.usage)
        kind = options.kind or options.task_id
        truncated = response.stop_reason == "max_tokens"
        self.outputs.record(kind, response.usage.output_tokens, truncated=truncated)
        declared = options.expected_output_tokens is not None
        if declared and truncated and self.budget.mode == "legacy":
            # A declaration is a guess too: once an answer outruns the max_tokens sized
            # from it, the kind goes as undeclared ones do, with the caller's max_tokens
            # while the output bucket has room and the learned size under pressure (each
            # cut answer costs a whole resend).
            self._outran.add(kind)
        if not declared or kind in self._outran:
            self._resize_waiting(request.model, kind)

    def _resize_waiting(self, model: str, kind: str) -> None:
        """Re-size this kind's leases from what its answers taught.

        Legacy: the right-sized max_tokens is what the server reserves, for the waiting
        leases only (the server holds what it admitted). Short answers come back first:
        the first samples of a fan-out are its shortest, and sizing from them cuts the
        longer ones short (each resent at the cost of a whole call), so the calls that
        were running when the kind was first learned must all answer first.

        Actual: the reservation only paces the streams; the `max_tokens` sent is not
        changed, so a size learned early cuts nothing short. The kind is re-sized from
        its first answers on: `_PROVISIONAL` times their high quantile x headroom until
        the first cohort has answered (those answers are its shortest), the learned size
        after; and running
        leases give back their excess too (`ModelAccount.trim_running`): a fan-out's
        first wave was admitted with whole `max_tokens` reserved. The expected size
        (the mean) would pace faster still, but lets a fan-out's spread overdraw a
        server that ends streams on exhaustion.
        """
        learned = self.outputs.estimate(kind)
        if not learned.learned:
            return
        if kind not in self._sized_kinds:
            running = self._running.get(kind, set())
            cohort = self._cohorts.setdefault(kind, set(running))
            cohort &= running
            if cohort:
                if self.budget.mode != "legacy":
                    # Provisional: the first answers are the shortest.
                    size = _PROVISIONAL * learned.max_tokens
                    self.budget.resize(model, kind, output_tokens=size)
                return
            del self._cohorts[kind]
            self._sized_kinds.add(kind)
        if self.budget.mode != "legacy":
            self.budget.resize(model, kind, output_tokens=learned.max_tokens)
            return
        self.budget.resize(
            model, kind, output_tokens=learned.expected, max_tokens=learned.max_tokens
        )


#: actual mode: until a kind's first cohort has answered, its leases reserve this many times
#: the size its first (shortest) answers suggest.
_PROVISIONAL = 2


def _refused_when_full(error: LLMError) -> bool:
    """A 429 for input tokens while the server's input bucket shows itself full."""
    if error.kind is not ErrorKind.RATE_LIMITED or error.ratelimit is None:
        return False
    if error.limit not in ("input_tokens", "input-tokens"):
        return False
    reading = error.ratelimit.reading("input_tokens")
    return (
        reading.remaining is not None
        and reading.limit is not None
        and reading.remaining >= reading.limit
    )


def _too_large_for_server(error: LLMError, estimate: int) -> LLMError:
    """The error for a request whose input the server's full input bucket cannot hold.

    The budget admitted it on its estimate; the server, twice refusing it with its bucket
    full, shows the real input is larger than the bucket: retrying can never succeed.
    """
    reading = error.ratelimit.reading("input_tokens") if error.ratelimit is not None else None
    limit = reading.limit if reading is not None else None
    capacity = f"{limit:,} input tokens per minute" if limit is not None else "its input limit"
    return LLMError(
        ErrorKind.INVALID_REQUEST,
        f"the request's input is more than the server's input-token bucket holds when full "
        f"({capacity}; estimated here at {estimate:,}): it can never be admitted. Shorten "
        "the prompt, or raise the model class's input limit (and `limits:` to match).",
        request_id=error.request_id,
        status_code=error.status_code,
        limit=error.limit,
        ratelimit=error.ratelimit,
    )


def _with_max_tokens(request: LLMRequest, max_tokens: int) -> LLMRequest:
    """`request` with another `max_tokens`.

    `dataclasses.replace` runs the frozen `__init__` again (eleven fields, about 5 us);
    a plain `LLMRequest` (no `__post_init__`, no slots) is copied through its instance
    dict instead, to the same value. Subclasses take the general path.
    """
    if type(request) is not LLMRequest:
        return dataclasses.replace(request, max_tokens=max_tokens)
    sent = object.__new__(LLMRequest)
    fields = sent.__dict__
    fields.update(request.__dict__)
    fields["max_tokens"] = max_tokens
    return sent


def _with_cache(options: CallOptions, cached: int, stream: bool) -> CallOptions:
    """`options` with the warm-first gate's `cached_tokens` and streaming.

    Most calls have no cacheable prefix and come back unchanged: skip the copy then
    (`dataclasses.replace` costs more than the rest of the gate's pass-through).
    """
    stream = options.stream or stream
    if cached == options.cached_tokens and stream == options.stream:
        return options
    return dataclasses.replace(options, cached_tokens=cached, stream=stream)
