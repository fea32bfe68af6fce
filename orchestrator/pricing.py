"""Prices per million tokens, in one table a user can override; and the cost of a usage."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from agents.usage import Usage

__all__ = ["PRICES", "Price", "PriceTable", "cost_usd"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Price:
    """USD per million tokens."""

    input: float
    cache_write_5m: float
    cache_read: float
    output: float
    cache_write_1h: float | None = None  # 2x input when not given (the public rule)

    def cost(self, usage: Usage, *, batch: bool = False) -> float:
        """Dollar cost of one usage."""
        write_1h = self.cache_write_1h if self.cache_write_1h is not None else 2 * self.input
        w1h = usage.cache_creation_1h_input_tokens
        w5m = usage.cache_creation_input_tokens - w1h
        total = (
            usage.input_tokens * self.input
            + w5m * self.cache_write_5m
            + w1h * write_1h
            + usage.cache_read_input_tokens * self.cache_read
            + usage.output_tokens * self.output
        ) / 1_000_000
        return total * (0.5 if batch else 1.0)


class PriceTable:
    """Model-name patterns to prices; the first pattern that matches wins."""

    def __init__(self, entries: Mapping[str, Price]) -> None:
        self._entries = [(re.compile(p), price) for p, price in entries.items()]

    def price(self, model: str) -> Price:
        """The price of `model`; `KeyError` naming it when no pattern matches."""
        for pattern, price in self._entries:
            if pattern.match(model):
                return price
        raise KeyError(f"no price known for model {model!r}; add it to the price table")

    def with_overrides(self, entries: Mapping[str, Price]) -> PriceTable:
        """A table where `entries` take precedence."""
        merged = PriceTable(entries)
        merged._entries.extend(self._entries)
        return merged


PRICES = PriceTable(
    {
        r"^claude-opus-5[-.]5": Price(input=4, cache_write_5m=5, cache_read=0.20, output=20),
        r"^claude-opus-(5|4)": Price(input=5, cache_write_5m=6.25, cache_read=0.50, output=25),
        r"^claude-sonnet-5": Price(input=2, cache_write_5m=2.50, cache_read=0.20, output=10),
        r"^claude-sonnet-4": Price(input=3, cache_write_5m=3.75, cache_read=0.30, output=15),
        r"^claude-haiku-(5|4)": Price(input=1, cache_write_5m=1.25, cache_read=0.10, output=5),
    }
)


def cost_usd(model: str, usage: Usage, *, table: PriceTable = PRICES) -> float:
    """Dollar cost of `usage` on `model`."""
    return table.price(model).cost(usage)
