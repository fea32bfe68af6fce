"""The `agents` package's public API is deliberate: sorted, importable, documented."""

from __future__ import annotations

import agents


def test_all_is_sorted_and_importable() -> None:
    assert agents.__all__ == sorted(agents.__all__)
    for name in agents.__all__:
        assert getattr(agents, name) is not None


def test_llm_client_seam_exports() -> None:
    for name in ("AnthropicClient", "MissingAPIKeyError", "ScriptedLLM", "ScriptedReply"):
        assert name in agents.__all__
        assert getattr(agents, name).__doc__
