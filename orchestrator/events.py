"""Run events: stable names, bound to the run, kept in memory, written as JSON lines.

Event names are part of the public contract (reports, progress displays and users'
log processing rely on them): `run.started`, `task.ready`, `budget.waiting`,
`task.started`, `task.retry`, `task.finished`, `task.failed`, `task.skipped`,
`run.finished`, plus `call.error` for each failed model call, `hook.error` for each
exception raised by a `RunHooks` method and `budget.sample` (each bucket's level, taken
periodically during a `launch`ed run, for the run report).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import structlog

__all__ = ["EVENT_NAMES", "Event", "EventLog", "redact"]

EVENT_NAMES = frozenset(
    {
        "run.started",
        "run.finished",
        "task.ready",
        "task.started",
        "task.retry",
        "task.finished",
        "task.failed",
        "task.skipped",
        "task.expanded",
        "budget.waiting",
        "budget.sample",
        "call.error",
        "hook.error",
    }
)

#: Value types `_clean` passes through unchanged (exact types: no subclass is a str).
_PLAIN: frozenset[type] = frozenset({int, float, bool, type(None)})

# Anthropic keys look like sk-ant-...; also catch bearer headers pasted into messages.
_SECRET = re.compile(r"(sk-ant-[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9_\-.]{8,})")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with API keys (pattern-matched, plus any of `secrets`) replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _SECRET.sub("[redacted]", text)


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    """One thing that happened in a run, at clock time `at`."""

    name: str
    at: float
    run_id: str
    task_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A flat JSON object."""
        out: dict[str, Any] = {"event": self.name, "at": round(self.at, 6), "run_id": self.run_id}
        if self.task_id is not None:
            out["task_id"] = self.task_id
        out.update(self.data)
        return out


class EventLog:
    """Collects a run's events; optionally appends them to a JSON-lines file.

    Every string is passed through `redact` with the configured secrets, so an API key
    never reaches a log, even when an error message quotes it.
    """

    def __init__(
        self,
        run_id: str,
        *,
        clock: Callable[[], float],
        path: Path | None = None,
        secrets: tuple[str, ...] = (),
        listeners: tuple[Callable[[Event], None], ...] = (),
    ) -> None:
        self.run_id = run_id
        self._clock = clock
        self._secrets = secrets
        self._listeners = list(listeners)
        self.events: list[Event] = []
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")
        self._log = structlog.get_logger("dagwright.run").bind(run_id=run_id)
        # structlog's filtering loggers answer `is_enabled_for`; other wrappers log always.
        self._debug_enabled: Callable[[int], bool] | None = getattr(
            self._log, "is_enabled_for", None
        )

    def listen(self, listener: Callable[[Event], None]) -> None:
        """Call `listener` with every later event."""
        self._listeners.append(listener)

    def _clean(self, value: Any) -> Any:
        if type(value) in _PLAIN:
            return value
        if isinstance(value, str):
            return redact(value, self._secrets)
        if isinstance(value, dict):
            return {k: self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        return value

    def emit(self, name: str, task_id: str | None = None, **data: Any) -> Event:
        """Record event `name` now."""
        if name not in EVENT_NAMES:
            raise ValueError(f"unknown event name {name!r}; known: {sorted(EVENT_NAMES)}")
        # `data` is this call's own kwargs dict: clean it in place (only the values that
        # can hold a secret) rather than building a copy; most events carry numbers only.
        clean = self._clean
        for key, value in data.items():
            if type(value) not in _PLAIN:
                data[key] = clean(value)
        event = Event(name=name, at=self._clock(), run_id=self.run_id, task_id=task_id, data=data)
        self.events.append(event)
        if self._file is not None:
            self._file.write(json.dumps(event.to_json(), default=str) + "\n")
            self._file.flush()
        # Building the log fields costs more than the rest of `emit`: skip it when the
        # logger drops debug anyway (the default: `agents._logging` sets warning level).
        if self._debug_enabled is None or self._debug_enabled(logging.DEBUG):
            fields = dict(data)
            if task_id is not None:
                fields["task_id"] = task_id
            self._log.debug(name, **fields)
        for listener in self._listeners:
            listener(event)
        return event

    def close(self) -> None:
        """Close the JSON-lines file."""
        if self._file is not None:
            self._file.close()
            self._file = None
