"""Token usage of one Messages API call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Usage"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Usage:
    """The `usage` object of a response, as the server reported it.

    `input_tokens` excludes cached tokens: the prompt is
    `input_tokens + cache_creation_input_tokens + cache_read_input_tokens`.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_5m_input_tokens: int = 0
    cache_creation_1h_input_tokens: int = 0

    @property
    def itpm_tokens(self) -> int:
        """Tokens that count toward the input-tokens-per-minute limit (cache reads do not)."""
        return self.input_tokens + self.cache_creation_input_tokens

    @property
    def prompt_tokens(self) -> int:
        """Every prompt token, cached or not."""
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens
            + other.cache_creation_input_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
            cache_creation_5m_input_tokens=self.cache_creation_5m_input_tokens
            + other.cache_creation_5m_input_tokens,
            cache_creation_1h_input_tokens=self.cache_creation_1h_input_tokens
            + other.cache_creation_1h_input_tokens,
        )

    @classmethod
    def from_api(cls, data: Mapping[str, Any] | Any) -> Usage:
        """Build from the API's usage JSON (a mapping) or the SDK's `Usage` model."""
        if not isinstance(data, Mapping):
            dump = getattr(data, "model_dump", None)
            data = dump() if callable(dump) else {}
        creation = data.get("cache_creation") or {}
        return cls(
            input_tokens=int(data.get("input_tokens") or 0),
            output_tokens=int(data.get("output_tokens") or 0),
            cache_creation_input_tokens=int(data.get("cache_creation_input_tokens") or 0),
            cache_read_input_tokens=int(data.get("cache_read_input_tokens") or 0),
            cache_creation_5m_input_tokens=int(creation.get("ephemeral_5m_input_tokens") or 0),
            cache_creation_1h_input_tokens=int(creation.get("ephemeral_1h_input_tokens") or 0),
        )

    def to_api(self) -> dict[str, Any]:
        """The API's JSON form."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache_creation_5m_input_tokens,
                "ephemeral_1h_input_tokens": self.cache_creation_1h_input_tokens,
            },
        }
