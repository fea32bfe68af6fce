"""The emulator over a real loopback port (uvicorn in a thread), in real time."""

from __future__ import annotations

import anthropic
import httpx2
import pytest
from emulator_helpers import MODEL, USER, config, meta

from orchestrator.emulator import BackgroundServer


def test_sdk_over_a_real_port() -> None:
    with BackgroundServer(config(limits={"*": {"rpm": 3}})) as server:
        assert server.port > 0
        client = anthropic.Anthropic(api_key="k", base_url=server.base_url, max_retries=0)
        raw = client.messages.with_raw_response.create(
            model=MODEL,
            max_tokens=50,
            messages=USER,
            metadata=meta(20),
        )
        message = raw.parse()
        assert message.usage.output_tokens == 20
        assert raw.headers["anthropic-ratelimit-requests-remaining"] == "2"
        with client.messages.stream(model=MODEL, max_tokens=50, messages=USER) as stream:
            final = stream.get_final_message()
        assert final.stop_reason in ("end_turn", "max_tokens")
        assert client.messages.count_tokens(model=MODEL, messages=USER).input_tokens > 0
        client.messages.create(model=MODEL, max_tokens=5, messages=USER)
        with pytest.raises(anthropic.RateLimitError) as info:
            client.messages.create(model=MODEL, max_tokens=5, messages=USER)
        assert int(info.value.response.headers["retry-after"]) >= 1
        stats = httpx2.get(f"{server.base_url}/_emulator/stats").json()
        assert stats["responses"] == {"200": 4, "429": 1}
    # stopped: the port no longer answers
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(f"{server.base_url}/_emulator/stats", timeout=2.0)


def test_faults_over_a_real_port() -> None:
    emulator_config = config(faults={"connection_reset": 1.0})
    with BackgroundServer(emulator_config) as server:
        client = anthropic.Anthropic(api_key="k", base_url=server.base_url, max_retries=0)
        with pytest.raises(anthropic.APIConnectionError) as info:
            client.messages.create(model=MODEL, max_tokens=5, messages=USER)
        assert not isinstance(info.value, anthropic.APITimeoutError)
    with BackgroundServer(config(faults={"timeout": 1.0, "timeout_s": 1.0})) as server:
        client = anthropic.Anthropic(
            api_key="k", base_url=server.base_url, max_retries=0, timeout=0.3
        )
        with pytest.raises(anthropic.APITimeoutError):
            client.messages.create(model=MODEL, max_tokens=5, messages=USER)
