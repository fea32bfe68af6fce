"""Token estimation for admission: input size before a call, output size from experience.

The budget admits a call on *estimates*; settlement corrects them with the real `usage`.
Good estimates keep the correction small: an underestimate becomes debt (and a risk of a
429), an overestimate idles capacity until the refund.

- `InputEstimator`: a local chars-per-token heuristic over the request's API JSON
  (system, messages, tools, output schema) plus per-message overhead and a safety margin,
  calibrated online per model class from the real prompt sizes (EWMA of real/estimated,
  bounded). It never calls the API. `TokenCounter` adds exact counts through
  `LLMClient.count_tokens`, throttled to that endpoint's own RPM.
- `OutputEstimator`: expected output per task kind, from the declaration when given,
  else learned from completed tasks of that kind; `max_tokens` sized from a high quantile
  with headroom, bounded by the declared and the model's maximum.
"""

from __future__ import annotations

import bisect
import json
import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from asyncio_throttle import Throttler

from agents.client import LLMRequest, TokenCount
from agents.usage import Usage
from orchestrator.clock import Clock, LoopClock
from orchestrator.limits import model_class

__all__ = [
    "ClockThrottler",
    "InputEstimator",
    "OutputEstimate",
    "OutputEstimator",
    "TokenCounter",
]


def _text_chars(value: Any) -> int:
    """Characters of the text a block contributes (JSON for structured parts)."""
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        kind = value.get("type")
        if kind == "text":
            return len(str(value.get("text", "")))
        if kind == "tool_use":
            return len(str(value.get("name", ""))) + len(json.dumps(value.get("input", {})))
        if kind == "tool_result":
            return _text_chars(value.get("content"))
        if kind in ("image", "document"):
            return 0  # counted per block in `_blocks`, not by characters
        return len(json.dumps(value, default=str))
    if isinstance(value, list | tuple):
        return sum(_text_chars(item) for item in value)
    return len(str(value))


def _media_blocks(value: Any) -> tuple[int, int]:
    """(image blocks, document blocks) in `value`, nested `content` included; one pass."""
    if type(value) is str:
        return 0, 0  # text content, the common leaf: spare it the `Mapping` ABC check
    if type(value) is dict or isinstance(value, Mapping):
        kind = value.get("type")
        images, documents = _media_blocks(value.get("content"))
        return images + (kind == "image"), documents + (kind == "document")
    if isinstance(value, list | tuple):
        images = documents = 0
        for item in value:
            more_images, more_documents = _media_blocks(item)
            images += more_images
            documents += more_documents
        return images, documents
    return 0, 0


def _count_body(request: LLMRequest) -> Mapping[str, Any]:
    """What `InputEstimator.raw` reads of `request.to_api(for_count=True)`.

    A plain request (dict messages in a list or tuple, a text system prompt, no tools, no
    output schema) is read as it is: `to_api` would copy every message only for the same
    count. Anything else goes through `to_api`.
    """
    messages, system = request.messages, request.system
    if (
        request.tools
        or request.output_schema is not None
        or not (system is None or isinstance(system, str))
        or type(messages) not in (list, tuple)
        or not all(type(message) is dict for message in messages)
    ):
        return request.to_api(for_count=True)
    return {"messages": messages, "system": system}


def _plain_text_chars(request: LLMRequest) -> int | None:
    """The characters of a request made of text only (a text or no system prompt, dict
    messages with text content, no tools, no output schema); None for any other request."""
    system, messages = request.system, request.messages
    if request.tools or request.output_schema is not None or type(messages) not in (list, tuple):
        return None
    if system is None:
        chars = 0
    elif type(system) is str:
        chars = len(system)
    else:
        return None
    for message in messages:
        if type(message) is not dict:
            return None
        content = message.get("content")
        if type(content) is not str or message.get("type") in ("image", "document"):
            return None
        chars += len(content)
    return chars


class InputEstimator:
    """Estimates a request's prompt tokens locally; calibrates itself from real usage.

    `estimate` = ceil(raw * ratio(model) * margin), where `raw` is characters /
    `chars_per_token` plus fixed overheads, and `ratio` is the EWMA of real / raw prompt
    tokens observed for the model's class (clamped to [`min_ratio`, `max_ratio`]). The
    estimate covers the whole prompt; subtract the prefix expected to be read from cache
    to get ITPM-counted tokens.
    """

    def __init__(
        self,
        *,
        chars_per_token: float = 3.5,
        margin: float = 1.05,
        per_message: int = 4,
        per_request: int = 8,
        per_tool: int = 24,
        per_image: int = 1_600,
        per_document: int = 3_000,
        smoothing: float = 0.2,
        min_ratio: float = 0.5,
        max_ratio: float = 3.0,
    ) -> None:
        if chars_per_token <= 0:
            raise ValueError(f"chars_per_token must be > 0, got {chars_per_token}")
        if margin < 1.0:
            raise ValueError(f"margin must be >= 1.0 (a safety margin), got {margin}")
        if not 0.0 < smoothing <= 1.0:
            raise ValueError(f"smoothing must be in (0, 1], got {smoothing}")
        if not 0.0 < min_ratio <= 1.0 <= max_ratio:
            raise ValueError(f"need 0 < min_ratio <= 1 <= max_ratio, got {min_ratio}, {max_ratio}")
        self.chars_per_token = chars_per_token
        self.margin = margin
        self.per_message = per_message
        self.per_request = per_request
        self.per_tool = per_tool
        self.per_image = per_image
        self.per_document = per_document
        self.smoothing = smoothing
        self.min_ratio = min_ratio
        self.max_ratio = max_ratio
        self._ratios: dict[str, float] = {}
        self._samples: dict[str, int] = {}
        self._classes: dict[str, str] = {}

    def _key(self, model: str) -> str:
        # Memoised: `model_class` tries a regex per class, twice per call otherwise.
        key = self._classes.get(model)
        if key is None:
            key = self._classes[model] = model_class(model) or model
        return key

    def raw(self, request: LLMRequest | Mapping[str, Any]) -> int:
        """The uncalibrated estimate of a request (an `LLMRequest` or its API JSON)."""
        plain = _plain_text_chars(request) if isinstance(request, LLMRequest) else None
        if plain is not None and isinstance(request, LLMRequest):
            # Text messages only: the same counts as the walk below, read directly.
            chars, n_messages, n_tools, images, documents = plain, len(request.messages), 0, 0, 0
        else:
            body = _count_body(request) if isinstance(request, LLMRequest) else request
            messages = body.get("messages") or []
            tools = body.get("tools") or []
            chars = _text_chars(body.get("system"))
            chars += sum(_text_chars(message.get("content")) for message in messages)
            chars += sum(len(json.dumps(tool, default=str)) for tool in tools)
            output_config = body.get("output_config")
            if output_config:
                chars += len(json.dumps(output_config, default=str))
            n_messages, n_tools = len(messages), len(tools)
            images, documents = _media_blocks(messages)
        tokens = chars / self.chars_per_token
        tokens += self.per_request + self.per_message * n_messages + self.per_tool * n_tools
        tokens += self.per_image * images
        tokens += self.per_document * documents
        return math.ceil(tokens)

    def ratio(self, model: str) -> float:
        """The learned real/raw ratio for `model`'s class (1.0 before any usage)."""
        return self._ratios.get(self._key(model), 1.0)

    def estimate(self, request: LLMRequest | Mapping[str, Any], *, model: str | None = None) -> int:
        """The calibrated prompt-token estimate, with the safety margin."""
        if model is None:
            model = request.model if isinstance(request, LLMRequest) else str(request["model"])
        return self.calibrated(self.raw(request), model)

    def calibrated(self, raw_estimate: int, model: str) -> int:
        """`estimate` from an already computed `raw` (a caller needing both computes it once)."""
        return math.ceil(raw_estimate * self.ratio(model) * self.margin)

    def calibrate(self, model: str, raw_estimate: int, actual: int | Usage) -> float:
        """Learn from one call: `raw_estimate` (from `raw`) vs the real prompt size.

        `actual` is a `Usage` (its `prompt_tokens`: cached and uncached input) or an exact
        count. Returns the new ratio.
        """
        real = actual.prompt_tokens if isinstance(actual, Usage) else actual
        key = self._key(model)
        if raw_estimate <= 0 or real <= 0:
            return self._ratios.get(key, 1.0)
        observed = min(self.max_ratio, max(self.min_ratio, real / raw_estimate))
        count = self._samples.get(key, 0)
        previous = self._ratios.get(key)
        # The first samples move the ratio fully (1/n), later ones by `smoothing`.
        alpha = max(self.smoothing, 1.0 / (count + 1))
        ratio = observed if previous is None else previous + alpha * (observed - previous)
        self._ratios[key] = ratio
        self._samples[key] = count + 1
        return ratio


class ClockThrottler(Throttler):
    """`asyncio_throttle.Throttler` on an injected `Clock`, waking exactly when a slot frees.

    The stock throttler reads `time.monotonic()` and re-checks every `retry_interval`;
    under virtual time that clock does not move, and the re-checks are polling.
    """

    def __init__(self, rate_limit: int, period: float = 1.0, *, clock: Clock | None = None):
        if rate_limit < 1:
            raise ValueError(f"rate_limit must be >= 1, got {rate_limit}")
        super().__init__(rate_limit=rate_limit, period=period)
        self.clock: Clock = clock if clock is not None else LoopClock()

    def flush(self) -> None:
        """Forget calls older than one period."""
        now = self.clock.now()
        while self._task_logs and now - self._task_logs[0] >= self.period:
            self._task_logs.popleft()

    async def acquire(self) -> None:
        """Wait until a call fits in the window, sleeping exactly until the oldest expires."""
        while True:
            self.flush()
            if len(self._task_logs) < self.rate_limit:
                break
            await self.clock.sleep(self._task_logs[0] + self.period - self.clock.now())
        self._task_logs.append(self.clock.now())


CountTokens = Callable[[LLMRequest], Awaitable[TokenCount]]


class TokenCounter:
    """Exact prompt sizes through `count_tokens`, throttled to its own RPM; feeds calibration.

    ```python
    counter = TokenCounter(client.count_tokens, rpm=100, estimator=estimator)
    tokens = await counter.count(request)
    ```
    """

    def __init__(
        self,
        count_tokens: CountTokens,
        *,
        rpm: int = 100,
        estimator: InputEstimator | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._count_tokens = count_tokens
        self.estimator = estimator
        self.throttler = ClockThrottler(rpm, 60.0, clock=clock)

    async def count(self, request: LLMRequest) -> int:
        """The server's count for `request` (also calibrates the estimator, if any)."""
        async with self.throttler:
            result = await self._count_tokens(request)
        if self.estimator is not None:
            self.estimator.calibrate(
                request.model, self.estimator.raw(request), result.input_tokens
            )
        return result.input_tokens


@dataclass(frozen=True, kw_only=True, slots=True)
class OutputEstimate:
    """What to reserve and what to send: the expected output and `max_tokens`."""

    expected: int
    max_tokens: int
    learned: bool


class _Window:
    """The last `size` values of one kind, kept sorted for quantiles."""

    __slots__ = ("order", "size", "sorted", "total")

    def __init__(self, size: int) -> None:
        self.size = size
        self.order: deque[float] = deque()
        self.sorted: list[float] = []
        self.total = 0.0

    def add(self, value: float) -> None:
        if len(self.order) == self.size:
            old = self.order.popleft()
            del self.sorted[bisect.bisect_left(self.sorted, old)]
            self.total -= old
        self.order.append(value)
        bisect.insort(self.sorted, value)
        self.total += value

    def quantile(self, q: float) -> float:
        index = min(len(self.sorted) - 1, max(0, math.ceil(q * len(self.sorted)) - 1))
        return self.sorted[index]


class OutputEstimator:
    """Expected output and `max_tokens` per task kind, learned from completed calls.

    - expected: the declared expected output if given; else, after `min_samples`
      completions of the kind, their mean over the last `window`; else the declared
      `max_tokens` (conservative) or `default_output`.
    - max_tokens: ceil(quantile(`quantile`) * `headroom`) once learned, else
      ceil(declared expected * `headroom` * 1.5) or the declared maximum; always at least
      the expected output and at most the declared `max_tokens` and `model_max`.
    - a call that stopped at `max_tokens` is a censored sample (the real need was larger);
      it is recorded as `truncation_factor` times its length so the next `max_tokens` grows.
    """

    def __init__(
        self,
        *,
        default_output: int = 1_024,
        default_max_tokens: int = 4_096,
        headroom: float = 1.3,
        quantile: float = 0.95,
        window: int = 256,
        min_samples: int = 5,
        truncation_factor: float = 2.0,
    ) -> None:
        if headroom < 1.0:
            raise ValueError(f"headroom must be >= 1.0, got {headroom}")
        if not 0.0 < quantile <= 1.0:
            raise ValueError(f"quantile must be in (0, 1], got {quantile}")
        if window < 1 or min_samples < 1:
            raise ValueError(f"window and min_samples must be >= 1, got {window}, {min_samples}")
        self.default_output = default_output
        self.default_max_tokens = default_max_tokens
        self.headroom = headroom
        self.quantile = quantile
        self.window = window
        self.min_samples = min_samples
        self.truncation_factor = truncation_factor
        self._kinds: dict[str, _Window] = {}
        self._primed: set[str] = set()

    def record(self, kind: str, output_tokens: int, *, truncated: bool = False) -> None:
        """Learn from one completed call of `kind` (pass `truncated=True` on stop `max_tokens`)."""
        value = float(output_tokens) * (self.truncation_factor if truncated else 1.0)
        window = self._kinds.get(kind)
        if window is None:
            window = self._kinds[kind] = _Window(self.window)
        window.add(value)

    def prime(self, sizes: Mapping[str, Iterable[int]]) -> None:
        """Learn from earlier runs: output tokens of completed calls, by kind.

        A primed kind counts as learned from its first sample: an earlier run's answer to
        the same task is better evidence than `min_samples` guards against (a fan-out's
        first, shortest answers in this run).
        """
        for kind, outputs in sizes.items():
            for produced in outputs:
                self.record(kind, produced)
                self._primed.add(kind)

    def samples(self, kind: str) -> int:
        """How many completions of `kind` are in the window."""
        window = self._kinds.get(kind)
        return 0 if window is None else len(window.order)

    def estimate(
        self,
        kind: str,
        *,
        declared_output: int | None = None,
        declared_max_tokens: int | None = None,
        model_max: int | None = None,
    ) -> OutputEstimate:
        """The expected output and the `max_tokens` to send for a call of `kind`."""
        ceiling = declared_max_tokens if model_max is None else model_max
        if declared_max_tokens is not None and model_max is not None:
            ceiling = min(declared_max_tokens, model_max)
        window = self._kinds.get(kind)
        learned = window is not None and (
            len(window.order) >= self.min_samples or kind in self._primed
        )
        if declared_output is not None:
            expected = float(declared_output)
        elif learned and window is not None:
            expected = window.total / len(window.order)
        elif declared_max_tokens is not None:
            expected = float(declared_max_tokens)
        else:
            expected = float(self.default_output)
        if learned and window is not None:
            high = max(window.quantile(self.quantile), expected) * self.headroom
        elif declared_output is not None:
            high = declared_output * self.headroom * 1.5
        else:
            high = float(declared_max_tokens or self.default_max_tokens)
        max_tokens = max(1, math.ceil(high))
        if ceiling is not None:
            max_tokens = min(max_tokens, ceiling)
        expected_int = min(max(1, math.ceil(expected)), max_tokens)
        return OutputEstimate(expected=expected_int, max_tokens=max_tokens, learned=learned)
