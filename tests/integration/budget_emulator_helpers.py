"""The harness of the budget-against-emulator tests: jobs, a recording ASGI middleware, runs.

Every call goes `BudgetedCaller` -> `AnthropicClient` -> `anthropic.AsyncAnthropic` ->
`StreamingASGITransport` -> `Recorder` -> `Emulator.app`: the real SDK, the real budget and
the emulated API, in virtual time (`looptime`). The `Recorder` notes when each Messages
request reached the server and how it was answered, one per client, so traffic can be told
apart when several clients share one API key. Everything is seeded (job sizes, emulator
content and faults, retry jitter), so a run replays the same events every time.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
from structlog.testing import capture_logs

from agents.anthropic_client import AnthropicClient
from agents.client import LLMRequest
from orchestrator.budget import Budget, SpendLimitReached
from orchestrator.budget.stats import ModelClassStatistics
from orchestrator.call import BudgetedCaller, CallFailed, CallOptions, CallOutcome
from orchestrator.emulator import BASE_URL, Emulator, EmulatorConfig, StreamingASGITransport
from orchestrator.limits import ModelLimits
from orchestrator.lowerbound import DagNode, LowerBound, LowerBoundMode, lower_bound, node_latency

MODEL = "claude-sonnet-4-6"
MODEL_CLASS = "sonnet-4"
KEY = "org-shared-key"

#: Tier 2's RPM and ITPM with a third of its OTPM, so that both token limits bind.
LIMITS = ModelLimits(rpm=1_000, itpm=450_000, otpm=30_000)

#: Slack when comparing arrival times (virtual time has microsecond resolution).
TIME_SLACK = 1e-3

# The emulator counts ceil(bytes / 4) per text piece, plus 3 per message and 2 per block.
_PROMPT_OVERHEAD = 5
_FILLER = "The quick brown fox jumps over the lazy dog. " * 2_300


# -- jobs ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    """One model call: its exact input (as the emulator counts it) and its real output."""

    task_id: str
    input_tokens: int
    output_tokens: int
    max_tokens: int = 2_000
    stream: bool = False

    def request(self) -> LLMRequest:
        text = _FILLER[: 4 * (self.input_tokens - _PROMPT_OVERHEAD)]
        assert len(text) == 4 * (self.input_tokens - _PROMPT_OVERHEAD), "filler too short"
        return LLMRequest(
            model=MODEL,
            messages=[{"role": "user", "content": text}],
            max_tokens=self.max_tokens,
            metadata={"emulator_output_tokens": self.output_tokens},
        )


def make_jobs(
    n: int,
    *,
    seed: int,
    inputs: tuple[int, int] = (5_000, 20_000),
    outputs: tuple[int, int] = (200, 1_500),
    max_tokens: int = 2_000,
    streaming: bool | None = None,
    prefix: str = "t",
) -> list[Job]:
    """`n` seeded jobs; `streaming=None` alternates plain and streaming calls."""
    rng = random.Random(seed)
    return [
        Job(
            task_id=f"{prefix}{i:04d}",
            input_tokens=rng.randint(*inputs),
            output_tokens=rng.randint(*outputs),
            max_tokens=max_tokens,
            stream=bool(i % 2) if streaming is None else streaming,
        )
        for i in range(n)
    ]


# -- the server side -----------------------------------------------------------------------


@dataclass(slots=True)
class Arrival:
    """One `POST /v1/messages` as the server saw it."""

    at: float
    status: int | None = None
    retry_after: float | None = None
    spend_limit: bool = False


class Recorder:
    """ASGI middleware in front of `Emulator.app`: when each Messages request arrived (on
    the loop's clock) and how it was answered."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.arrivals: list[Arrival] = []

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope.get("path") != "/v1/messages":
            await self.app(scope, receive, send)
            return
        entry = Arrival(at=asyncio.get_running_loop().time())
        self.arrivals.append(entry)

        async def watch(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"retry-after":
                        entry.retry_after = float(value)
            elif (
                message["type"] == "http.response.body"
                and entry.status == 429
                and b"enforced_spend_limit_reached" in message.get("body", b"")
            ):
                entry.spend_limit = True
            await send(message)

        await self.app(scope, receive, watch)

    @property
    def rejected(self) -> list[Arrival]:
        """The 429s, in arrival order."""
        return [a for a in self.arrivals if a.status == 429]

    def early_arrivals(self) -> list[tuple[float, float]]:
        """(429 time, seconds after it) of every request that arrived after a 429 but before
        that 429's `retry-after` had passed; requests sent in the same instant as the 429
        were admitted before anyone could know of it and do not count."""
        early = []
        for rejected in self.rejected:
            if rejected.retry_after is None:
                continue
            start = rejected.at + TIME_SLACK
            end = rejected.at + rejected.retry_after - TIME_SLACK
            early += [
                (rejected.at, a.at - rejected.at) for a in self.arrivals if start < a.at < end
            ]
        return early


def emulator_config(
    limits: ModelLimits = LIMITS, *, burst: dict[str, Any] | None = None, **options: Any
) -> EmulatorConfig:
    """Emulator options with `limits` (and `burst` overrides) for every model class."""
    per_class = {"rpm": limits.rpm, "itpm": limits.itpm, "otpm": limits.otpm, **(burst or {})}
    data: dict[str, Any] = {
        "seed": 11,
        "limits": {"*": per_class},
        # Bigger stream chunks than the default 32 tokens: fewer events, same token counts.
        "content": {"stream_chunk_tokens": 128},
        **options,
    }
    return EmulatorConfig.load(data)


def client_on(recorder: Recorder, *, timeout: float = 600.0) -> AnthropicClient:
    """An `AnthropicClient` (SDK retries off) whose requests go through `recorder`."""
    http = httpx2.AsyncClient(transport=StreamingASGITransport(recorder), base_url=BASE_URL)
    return AnthropicClient(api_key=KEY, base_url=BASE_URL, http_client=http, timeout=timeout)


def emulator_rejections(emulator: Emulator) -> dict[str, Any]:
    """The emulator's 429 counters (`total`, by limit, acceleration, spend, injected)."""
    rejected: dict[str, Any] = emulator.stats()["rate_limited"]
    return rejected


# -- the client side -----------------------------------------------------------------------


@dataclass(slots=True)
class RunResult:
    """What a batch of concurrent calls came to."""

    started: float
    finished: float = 0.0
    outcomes: dict[str, CallOutcome] = field(default_factory=dict)
    failures: dict[str, BaseException] = field(default_factory=dict)

    @property
    def makespan(self) -> float:
        return self.finished - self.started


async def run_jobs(
    caller: BudgetedCaller,
    jobs: Sequence[Job],
    *,
    kind: str = "worker",
    declare: float | None = None,
) -> RunResult:
    """Start every job at once (one task each, all waiting on the budget together) and
    wait for all of them; `CallFailed` and `SpendLimitReached` are collected, not raised.

    `declare`: each job declares an expected output of `declare` times its real one.
    """
    loop = asyncio.get_running_loop()
    result = RunResult(started=loop.time())

    async def one(job: Job) -> None:
        expected = None if declare is None else max(1, round(job.output_tokens * declare))
        options = CallOptions(
            task_id=job.task_id, kind=kind, stream=job.stream, expected_output_tokens=expected
        )
        try:
            result.outcomes[job.task_id] = await caller.call(job.request(), options)
        except (CallFailed, SpendLimitReached) as exc:
            result.failures[job.task_id] = exc

    with capture_logs():  # the client logs every call at debug level: keep it off the terminal
        await asyncio.gather(*(one(job) for job in jobs))
    result.finished = loop.time()
    return result


def assert_all_succeeded(result: RunResult, jobs: Sequence[Job]) -> None:
    """Every job finished with exactly its own input and output."""
    assert not result.failures, sorted(result.failures.items())[:3]
    assert sorted(result.outcomes) == sorted(job.task_id for job in jobs)
    for job in jobs:
        usage = result.outcomes[job.task_id].response.usage
        assert (usage.input_tokens, usage.output_tokens) == (job.input_tokens, job.output_tokens)


def bound(jobs: Sequence[Job], config: EmulatorConfig, mode: LowerBoundMode) -> LowerBound:
    """The makespan lower bound of independent `jobs` under the emulator's real limits
    (bursts included), with the fastest latency its jitter allows."""
    latency = config.latency_model(MODEL_CLASS)
    fast = 1.0 - latency.jitter
    nodes = [
        DagNode(
            id=job.task_id,
            input_tokens=job.input_tokens,
            output_tokens=job.output_tokens,
            latency=node_latency(
                input_tokens=job.input_tokens,
                output_tokens=job.output_tokens,
                ttft=latency.ttft * fast,
                per_output=fast / latency.tokens_per_second,
                per_input=latency.prefill_per_token * fast,
            ),
        )
        for job in jobs
    ]
    return lower_bound(nodes, config.model_limits(MODEL_CLASS), mode=mode)


def class_stats(budget: Budget) -> ModelClassStatistics:
    """The budget's statistics of the model class the jobs use."""
    return budget.statistics()[MODEL_CLASS]


def report(name: str, **figures: Any) -> None:
    """One line of figures for `pytest -s` (makespans, 429 counts, ratios)."""
    shown = " ".join(
        f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
        for key, value in figures.items()
    )
    print(f"\n[{name}] {shown}")
