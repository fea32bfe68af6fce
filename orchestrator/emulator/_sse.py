"""Server-sent events in the Messages API's wire format."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["sse_event"]

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def sse_event(event: str, data: dict[str, Any]) -> bytes:
    """`event: NAME` and one `data:` line of compact JSON, then a blank line."""
    return f"event: {event}\ndata: {_dumps(data)}\n\n".encode()
