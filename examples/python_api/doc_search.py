"""A local, offline tool: keyword search over the bundled documents in `docs/`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import Field

from agents import tool

DOCS = Path(__file__).resolve().parent / "docs"

_WORD = re.compile(r"[a-z0-9]+")


def _title(text: str, fallback: str) -> str:
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    return first.lstrip("# ").strip() or fallback


def list_documents() -> list[dict[str, str]]:
    """Every bundled document: its file name and title."""
    return [
        {"path": path.name, "title": _title(path.read_text(encoding="utf-8"), path.stem)}
        for path in sorted(DOCS.glob("*.md"))
    ]


@tool
def search_docs(
    query: str, limit: Annotated[int, Field(ge=1, le=5)] = 3
) -> list[dict[str, str | int]]:
    """Search the team's documents for a query; returns the best-matching paragraphs.

    Args:
        query: Words to look for, e.g. "retry-after backoff".
        limit: How many paragraphs to return (1-5).
    """
    words = set(_WORD.findall(query.lower()))
    hits: list[tuple[int, str, str]] = []
    for path in sorted(DOCS.glob("*.md")):
        for paragraph in path.read_text(encoding="utf-8").split("\n\n"):
            score = sum(paragraph.lower().count(word) for word in words)
            if score and not paragraph.startswith("#"):
                hits.append((score, path.name, " ".join(paragraph.split())))
    hits.sort(key=lambda hit: (-hit[0], hit[1]))
    if not hits:  # nothing matched: point the model at what exists instead
        return [{"path": d["path"], "text": d["title"], "score": 0} for d in list_documents()]
    return [{"path": p, "text": text, "score": score} for score, p, text in hits[:limit]]
