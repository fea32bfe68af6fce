"""`POST /v1/messages`: validation, faults, limits, admission, then generation.

Order of checks: body size (413), API key (401), `anthropic-version` and body (400),
model (404), injected fault, spend cap (429 `enforced_spend_limit_reached`, no
`retry-after`), acceleration (429 `ramp_limit_exceeded`), then the three buckets (429
naming the limit). Every answer carries `request-id` and the twelve rate-limit headers.
"""

from __future__ import annotations

import math

from agents.usage import Usage
from orchestrator.emulator._errors import ApiError, org_label, rate_limit_message
from orchestrator.emulator._generation import Generation, MidstreamError
from orchestrator.emulator._http import (
    EmulatedConnectionReset,
    Receive,
    RequestHeaders,
    Scope,
    Send,
    check_auth,
    check_version,
    dumps,
    json_headers,
    parse_json,
    read_body,
    send_bytes,
    send_error,
)
from orchestrator.emulator._sse import sse_event
from orchestrator.emulator._state import EmulatorState
from orchestrator.emulator._validation import MessagesRequest, validate_messages
from orchestrator.emulator.buckets import LimitBuckets
from orchestrator.emulator.cache import NO_CACHE, CachePlan, prompt_shape
from orchestrator.emulator.content import OutputPlan
from orchestrator.emulator.faults import FaultKind
from orchestrator.emulator.tokens import count_request_tokens

__all__ = ["MessagesEndpoint"]

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
]
_RAMP_MESSAGE = (
    "Your organization's request rate increased too quickly. Please ramp up traffic "
    "gradually and try again later."
)


class _Prompt:
    """The input side of an admitted request."""

    __slots__ = ("cache", "read", "total", "uncached", "write")

    def __init__(self, total: int, cache: CachePlan) -> None:
        self.total = total
        self.cache = cache
        self.read = cache.read_tokens
        self.write = cache.write_tokens
        self.uncached = total - self.read - self.write

    def usage(self, output_tokens: int) -> dict[str, object]:
        return {
            "input_tokens": self.uncached,
            "cache_creation_input_tokens": self.write,
            "cache_read_input_tokens": self.read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache.write_5m_tokens,
                "ephemeral_1h_input_tokens": self.cache.write_1h_tokens,
            },
            "output_tokens": output_tokens,
            "service_tier": "standard",
        }


class MessagesEndpoint:
    """The ASGI app of `POST /v1/messages`."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        state.stats.requests += 1
        state.now()
        request_id = state.ids.next("req")
        headers = RequestHeaders.parse(scope)
        key: str | None = None
        cls: str | None = None
        try:
            raw = await read_body(receive, headers, state.config.max_body_bytes)
            key = check_auth(headers, state.api_keys)
            version = check_version(headers)
            request = validate_messages(parse_json(raw), version)
            cls = state.model_class(request.model)
            if cls is None:
                raise ApiError(404, f"model: {request.model}")
            await self._handle(send, request, key, cls, request_id, b"cache_control" in raw)
        except ApiError as error:
            state.stats.responses[error.status] += 1
            if error.stat is not None:
                state.stats.rejections[error.stat] += 1
            now = state.clock.now()
            ratelimit = state.headers.headers(state.reading_for(key, cls, now), now)
            await send_error(send, error, request_id, ratelimit)

    async def _handle(
        self,
        send: Send,
        request: MessagesRequest,
        key: str,
        cls: str,
        request_id: str,
        maybe_cached: bool,
    ) -> None:
        state = self.state
        config = state.config
        now = state.clock.now()
        buckets = state.buckets_for(key, cls, now)
        fault = state.faults.draw(stream=request.stream)
        if fault is not None:
            state.stats.faults[fault.value] += 1
            if fault is not FaultKind.MIDSTREAM_ERROR:
                await self._inject(fault, key)
        self._check_account(key, now)
        prompt = self._prompt(request, key, cls, now, maybe_cached)
        shortfall = buckets.admit(
            now=now,
            input_tokens=prompt.uncached + prompt.write,
            max_tokens=request.max_tokens,
            accounting=config.accounting,
        )
        if shortfall is not None:
            kind = shortfall.kind.value
            raise ApiError(
                429,
                rate_limit_message(org_label(key), shortfall.limit, kind),
                retry_after=shortfall.retry_after,
                stat=f"rate_limit:{kind}",
            )
        stats = state.stats
        stats.input_tokens += prompt.uncached
        stats.cache_write_tokens += prompt.write
        stats.cache_read_tokens += prompt.read
        if prompt.cache.had_breakpoints:
            if prompt.cache.hit_key is not None:
                stats.cache_hits += 1
                state.cache.refresh(prompt.cache, now)
            else:
                stats.cache_misses += 1
        sequence = config.content.seeding == "sequence"
        rng = state.rng if sequence else state.request_rng(request.body)
        plan = state.planner.plan(
            request.body,
            rng,
            max_tokens=request.max_tokens,
            output_tokens=request.output_tokens,
            tool_calls=request.tool_calls,
        )
        generation = Generation(
            state,
            key=key,
            cls=cls,
            buckets=buckets,
            plan=plan,
            timing=state.classes[cls].latency.timing(prompt.total, state.rng.random()),
            cache_plan=prompt.cache,
            reserved=request.max_tokens if config.accounting == "legacy" else 0,
            fail_midstream=fault is FaultKind.MIDSTREAM_ERROR,
        )
        message_id = state.ids.next("msg")
        stats.enter()
        try:
            if request.stream:
                await self._stream(
                    send, request, buckets, generation, prompt, message_id, request_id
                )
            else:
                await self._complete(
                    send, request, buckets, generation, prompt, message_id, request_id
                )
        finally:
            stats.leave()
            generation.settle()
            self._record_spend(key, request.model, prompt, generation.produced)

    async def _inject(self, fault: FaultKind, key: str) -> None:
        faults = self.state.config.faults
        if fault is FaultKind.RATE_LIMIT:
            raise ApiError(
                429,
                "This request would exceed your organization's rate limit. Please try again later.",
                retry_after=faults.retry_after_s,
                stat="injected",
            )
        if fault is FaultKind.ACCELERATION:
            raise ApiError(
                429,
                _RAMP_MESSAGE,
                error_code="ramp_limit_exceeded",
                retry_after=faults.retry_after_s,
                stat="acceleration",
            )
        if fault is FaultKind.OVERLOADED:
            raise ApiError(529, "Overloaded", retry_after=faults.overloaded_retry_after_s)
        if fault is FaultKind.SERVER_ERROR:
            raise ApiError(500, "Internal server error")
        if fault is FaultKind.CONNECTION_RESET:
            raise EmulatedConnectionReset(
                f"connection reset (injected fault, org {org_label(key)})"
            )
        if fault is FaultKind.TIMEOUT:
            await self.state.clock.sleep(faults.timeout_s)
            raise ApiError(504, "Request timed out")

    def _check_account(self, key: str, now: float) -> None:
        state = self.state
        config = state.config
        cap = config.spend_limit_usd
        if cap is not None and state.spend.get(key, 0.0) >= cap:
            raise ApiError(
                429,
                f"Your organization has reached its enforced spend limit of ${cap:,.2f}. "
                "Raise the limit in the Console to continue; retrying cannot help.",
                error_code="enforced_spend_limit_reached",
                stat="spend",
            )
        elapsed = state.elapsed(now)
        for start, end in config.faults.acceleration_windows:
            if start <= elapsed < end:
                wait = max(1, math.ceil(end - elapsed))
                raise ApiError(
                    429,
                    _RAMP_MESSAGE,
                    error_code="ramp_limit_exceeded",
                    retry_after=wait,
                    stat="acceleration",
                )
        if config.ramp.enabled:
            wait_ramp = state.ramp_for(key).check(now)
            if wait_ramp is not None:
                raise ApiError(
                    429,
                    _RAMP_MESSAGE,
                    error_code="ramp_limit_exceeded",
                    retry_after=wait_ramp,
                    stat="acceleration",
                )

    def _prompt(
        self, request: MessagesRequest, key: str, cls: str, now: float, maybe_cached: bool
    ) -> _Prompt:
        if not maybe_cached:
            return _Prompt(count_request_tokens(request.body), NO_CACHE)
        shape = prompt_shape(request.body, f"{key}\x00{request.model}")
        min_tokens = self.state.classes[cls].cache_min_tokens
        return _Prompt(shape.total_tokens, self.state.cache.plan(shape, min_tokens, now))

    def _record_spend(self, key: str, model: str, prompt: _Prompt, output_tokens: int) -> None:
        state = self.state
        price = state.price(model)
        if price is None:
            return
        usage = Usage(
            input_tokens=prompt.uncached,
            output_tokens=output_tokens,
            cache_creation_input_tokens=prompt.write,
            cache_read_input_tokens=prompt.read,
            cache_creation_5m_input_tokens=prompt.cache.write_5m_tokens,
            cache_creation_1h_input_tokens=prompt.cache.write_1h_tokens,
        )
        cost = price.cost(usage)
        state.spend[key] = state.spend.get(key, 0.0) + cost
        state.stats.spend_usd += cost

    async def _complete(
        self,
        send: Send,
        request: MessagesRequest,
        buckets: LimitBuckets,
        generation: Generation,
        prompt: _Prompt,
        message_id: str,
        request_id: str,
    ) -> None:
        try:
            await generation.run(None)
        except MidstreamError as exc:
            raise exc.error from None
        generation.settle()
        plan = generation.plan
        body = dumps(_message(message_id, request.model, plan, prompt.usage(plan.output_tokens)))
        state = self.state
        now = state.clock.now()
        state.stats.responses[200] += 1
        await send_bytes(
            send, 200, body, json_headers(request_id, state.headers.headers(buckets, now))
        )

    async def _stream(
        self,
        send: Send,
        request: MessagesRequest,
        buckets: LimitBuckets,
        generation: Generation,
        prompt: _Prompt,
        message_id: str,
        request_id: str,
    ) -> None:
        state = self.state
        plan = generation.plan
        headers = [*_SSE_HEADERS, (b"request-id", request_id.encode())]
        headers += state.headers.headers(buckets, state.clock.now())
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        state.stats.responses[200] += 1
        start = dict(_message(message_id, request.model, plan, prompt.usage(1)))
        start.update(content=[], stop_reason=None)
        opening = sse_event("message_start", {"type": "message_start", "message": start})
        opening += sse_event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": plan.blocks[0].start_api(),
            },
        )
        opening += sse_event("ping", {"type": "ping"})
        await send({"type": "http.response.body", "body": opening, "more_body": True})

        async def emit(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

        try:
            await generation.run(emit)
        except MidstreamError as exc:
            closing = sse_event("error", exc.error.payload(request_id))
        else:
            usage = prompt.usage(generation.produced)
            del usage["cache_creation"], usage["service_tier"]
            closing = sse_event(
                "content_block_stop",
                {"type": "content_block_stop", "index": len(plan.blocks) - 1},
            )
            closing += sse_event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": plan.stop_reason, "stop_sequence": None},
                    "usage": usage,
                },
            )
            closing += sse_event("message_stop", {"type": "message_stop"})
        await send({"type": "http.response.body", "body": closing, "more_body": False})


def _message(
    message_id: str, model: str, plan: OutputPlan, usage: dict[str, object]
) -> dict[str, object]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block.to_api() for block in plan.blocks],
        "stop_reason": plan.stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }
