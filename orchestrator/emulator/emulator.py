"""`Emulator`: the local Messages API, as an ASGI app with its state and client helpers.

```python
emulator = Emulator(EmulatorConfig(seed=1))
client = emulator.anthropic()  # anthropic.AsyncAnthropic wired to the app in-process
message = await client.messages.create(model="claude-sonnet-4-5", max_tokens=100,
                                       messages=[{"role": "user", "content": "Hi"}])
```

All waiting goes through the injected `Clock` (default `LoopClock`: the running event
loop's time, so `looptime` fast-forwards it). One `Emulator` serves one event loop at a
time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx2
from starlette.routing import Route, Router

from orchestrator.clock import Clock, LoopClock
from orchestrator.emulator._endpoints import (
    CountTokensEndpoint,
    ModelsEndpoint,
    NotFoundEndpoint,
    StatsEndpoint,
)
from orchestrator.emulator._http import Receive, Scope, Send
from orchestrator.emulator._messages import MessagesEndpoint
from orchestrator.emulator._state import EmulatorState
from orchestrator.emulator.config import EmulatorConfig
from orchestrator.emulator.transport import ASGIApp, StreamingASGITransport

if TYPE_CHECKING:
    import anthropic

__all__ = ["BASE_URL", "Emulator"]

#: The base URL the in-process clients use (any host works; nothing is resolved).
BASE_URL = "http://emulator.local"


class _Only:
    """Answer only `method`; anything else gets an API-shaped 405."""

    def __init__(self, method: str, app: ASGIApp, state: EmulatorState) -> None:
        self._method = method
        self._app = app
        self._not_allowed = NotFoundEndpoint(state, status=405)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == self._method:
            await self._app(scope, receive, send)
        else:
            await self._not_allowed(scope, receive, send)


class Emulator:
    """The emulated API: `.app` to serve, `.anthropic()`/`.http_client()` to call it."""

    def __init__(self, config: EmulatorConfig | None = None, clock: Clock | None = None) -> None:
        self.config = config if config is not None else EmulatorConfig()
        self.clock: Clock = clock if clock is not None else LoopClock()
        self._state = EmulatorState(self.config, self.clock)
        state = self._state
        models = ModelsEndpoint(state)
        self.app: ASGIApp = Router(
            routes=[
                Route("/v1/messages", _Only("POST", MessagesEndpoint(state), state)),
                Route(
                    "/v1/messages/count_tokens", _Only("POST", CountTokensEndpoint(state), state)
                ),
                Route("/v1/models", _Only("GET", models, state)),
                Route("/v1/models/{model_id}", _Only("GET", models, state)),
                Route("/_emulator/stats", _Only("GET", StatsEndpoint(state), state)),
            ],
            default=NotFoundEndpoint(state),
        )

    def stats(self) -> dict[str, Any]:
        """Counters: requests, responses by status, 429s by cause, tokens, cache, peaks."""
        return self._state.stats.snapshot()

    def reset(self) -> None:
        """Forget all traffic (buckets full, cache empty, counters and seeds restarted)."""
        self._state.reset()

    def http_client(self, **kwargs: Any) -> httpx2.AsyncClient:
        """An `httpx2.AsyncClient` talking to this emulator in-process (streaming, timeouts)."""
        kwargs.setdefault("base_url", BASE_URL)
        return httpx2.AsyncClient(transport=StreamingASGITransport(self.app), **kwargs)

    def anthropic(self, api_key: str = "test-key", **kwargs: Any) -> anthropic.AsyncAnthropic:
        """An `anthropic.AsyncAnthropic` on this emulator; SDK retries off unless given."""
        import anthropic

        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("base_url", BASE_URL)
        if "http_client" not in kwargs:
            kwargs["http_client"] = self.http_client()
        return anthropic.AsyncAnthropic(api_key=api_key, **kwargs)
