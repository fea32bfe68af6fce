"""Deterministic filler text: ASCII words of an exact length, cut from a fixed corpus."""

from __future__ import annotations

import random

__all__ = ["filler", "words"]

# one string is easier to read than a long list literal
_VOCABULARY = (  # noqa: SIM905
    "the budget admits each worker when every bucket covers its request and scheduler "
    "orders ready nodes by longest tail so that critical path finishes first while cached "
    "prefixes save input tokens output refill at limit per minute divided sixty graph plan "
    "task result summary analysis evidence source finding section report data model agent "
    "context prompt answer review draft outline step value metric latency stream cache "
    "token response rate window burst capacity error retry"
).split()


def _build_corpus() -> tuple[str, tuple[int, ...]]:
    rng = random.Random(0x7E57)
    pieces: list[str] = []
    size = 0
    while size < 1 << 16:
        sentence = " ".join(rng.choice(_VOCABULARY) for _ in range(rng.randint(6, 16)))
        sentence = sentence[0].upper() + sentence[1:] + ". "
        pieces.append(sentence)
        size += len(sentence)
    corpus = "".join(pieces)
    starts = tuple(i + 1 for i, ch in enumerate(corpus) if ch == " ")
    return corpus, starts


_CORPUS, _WORD_STARTS = _build_corpus()


def filler(rng: random.Random, length: int) -> str:
    """Exactly `length` ASCII characters of sentence-like text, chosen by `rng`."""
    if length <= 0:
        return ""
    start = _WORD_STARTS[rng.randrange(len(_WORD_STARTS))]
    end = start + length
    if end <= len(_CORPUS):
        return _CORPUS[start:end]
    repeats = end // len(_CORPUS) + 1
    return (_CORPUS * repeats)[start:end]


def words(rng: random.Random, count: int) -> str:
    """`count` vocabulary words joined by spaces."""
    return " ".join(rng.choice(_VOCABULARY) for _ in range(count))
