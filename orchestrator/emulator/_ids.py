"""Seeded identifiers (`msg_...`, `req_...`, `toolu_...`): one generator per prefix,
seeded from (seed, prefix), so the same seed and the same requests in the same order
give the same ids.
"""

from __future__ import annotations

import random
import zlib

__all__ = ["IdFactory"]


class IdFactory:
    """`next("msg")` -> `msg_01` and 22 hex digits, shaped like the API's ids."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._generators: dict[str, random.Random] = {}

    def next(self, prefix: str) -> str:
        """The next id with `prefix`."""
        rng = self._generators.get(prefix)
        if rng is None:
            rng = random.Random(self._seed * 7919 + zlib.crc32(prefix.encode()))
            self._generators[prefix] = rng
        return f"{prefix}_01{rng.getrandbits(88):022x}"

    def reset(self) -> None:
        """Start every sequence again."""
        self._generators.clear()
