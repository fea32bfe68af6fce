"""A local emulator of the Anthropic Messages API, faithful to its rate limits.

`POST /v1/messages` (JSON and SSE streaming), `POST /v1/messages/count_tokens`,
`GET /v1/models` and `GET /_emulator/stats`. Serve it with `dagwright emulator`
(`serve`, `BackgroundServer`) or call it in-process: `Emulator(config).anthropic()` is
an `anthropic.AsyncAnthropic` wired to the app through `StreamingASGITransport`
(streams arrive chunk by chunk, read timeouts apply); plain `httpx2.ASGITransport` works
too but buffers streams and applies no timeout. All waiting goes through the injected
`Clock`, so under `looptime` hours of rate-limited traffic take seconds.

The choices where the API is undocumented or the emulator has to decide:

- Rate limits (`buckets`): per (API key, model class) token buckets for requests,
  input tokens (input + cache writes; never cache reads) and output tokens; capacity =
  burst, refill = limit / 60 per second. 429 `retry-after` = ceil(deficit / refill), at
  least 1; rejected requests take nothing. `tokens-*` headers add input and output.
- Accounting and exhaustion (`_generation`): `legacy` reserves `max_tokens` at
  admission and refunds the rest; `actual` charges output as produced and admits while
  the bucket holds a token. When it runs dry mid-stream: `throttle` (default) slows the
  running streams to the refill rate, `debt` lets them finish and blocks new requests
  until repaid, `error` ends them with an SSE `error` event (`rate_limit_error` by
  default) or, without streaming, an HTTP 429.
- Tokens (`tokens`): `ceil(utf8_bytes / 4)` per text piece plus small per-message,
  per-block, per-tool and structured-output overheads; output text of n tokens is 4n
  characters.
- Prompt caching (`cache`): an entry is readable once its writing request has produced
  its first token; parallel writers all pay for the write. Hits are looked for at each
  breakpoint and the 20 block boundaries before it; a hit refreshes the TTL.
- Content (`content`): `metadata.emulator_output_tokens` (int >= 1) asks for an exact
  output length (cut at `max_tokens`); `metadata.emulator_tool_calls` (int >= 0) sets
  how many `tool_use` blocks an `auto` tool answer has. Otherwise lengths are a seeded
  lognormal; structured output is a seeded schema-valid instance; tool inputs match
  their schemas. Same seed and same requests in the same order give the same bytes.
- Planning (`_plan_content`): a manager's planning request (output schema titled
  `Plan`, a `<goal>` section in the prompt) is answered with a deterministic plan
  derived from the goal's text: one research task per clause (at most `1 + words // 10`,
  within the `<caps>` the prompt states), in parallel, then a task that writes the
  answer from their results; agents chosen by name from the schema's `agent` enum.
- Acceleration (`ramp`) is off by default (no published numbers); `faults` injects
  429, 529, 500, resets, hangs, mid-stream errors and ramp 429s at seeded rates.
"""

from orchestrator.emulator.buckets import LimitBuckets, Shortfall, TokenBucket
from orchestrator.emulator.cache import Breakpoint, CachePlan, PromptCache, prompt_shape
from orchestrator.emulator.config import (
    CacheConfig,
    ContentConfig,
    EmulatorConfig,
    EmulatorConfigError,
    FaultConfig,
    LatencyOverride,
    LimitOverride,
    RampConfig,
)
from orchestrator.emulator.content import ContentPlanner, OutputBlock, OutputPlan
from orchestrator.emulator.emulator import BASE_URL, Emulator
from orchestrator.emulator.faults import FaultInjector, FaultKind
from orchestrator.emulator.latency import LatencyModel, Timing
from orchestrator.emulator.ramp import RampLimiter
from orchestrator.emulator.schema_instances import schema_instance
from orchestrator.emulator.server import BackgroundServer, serve
from orchestrator.emulator.stats import EmulatorStats
from orchestrator.emulator.tokens import count_request_tokens, text_tokens
from orchestrator.emulator.transport import StreamingASGITransport

__all__ = [
    "BASE_URL",
    "BackgroundServer",
    "Breakpoint",
    "CacheConfig",
    "CachePlan",
    "ContentConfig",
    "ContentPlanner",
    "Emulator",
    "EmulatorConfig",
    "EmulatorConfigError",
    "EmulatorStats",
    "FaultConfig",
    "FaultInjector",
    "FaultKind",
    "LatencyModel",
    "LatencyOverride",
    "LimitBuckets",
    "LimitOverride",
    "OutputBlock",
    "OutputPlan",
    "PromptCache",
    "RampConfig",
    "RampLimiter",
    "Shortfall",
    "StreamingASGITransport",
    "Timing",
    "TokenBucket",
    "count_request_tokens",
    "prompt_shape",
    "schema_instance",
    "serve",
    "text_tokens",
]
