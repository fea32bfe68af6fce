"""Runs made for the run-report tests: a rate-limited fan-in on the emulator, virtual time.

Eight independent tasks (each a long prompt) and one task that joins them, on Haiku with
an input limit small enough that the eight cannot all start at once: some wait for budget,
so the report has waits, a critical path and a bucket that runs dry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import looptime
import yaml
from anthropic._base_client import get_platform

from orchestrator.emulator import EmulatorConfig
from orchestrator.launch import emulator_backend, launch
from orchestrator.runner import RunResult
from orchestrator.spec import load_workflow

T = TypeVar("T")

FAN = 8
LIMITS = {"rpm": 60, "itpm": 2000, "otpm": 1000}
_NOTE = {"type": "object", "properties": {"note": {"type": "string"}}, "required": ["note"]}


def fan_in_spec(fan: int = FAN) -> dict[str, Any]:
    """`fan` independent tasks of ~300 input tokens each, and `join` after all of them."""
    body = " ".join(f"Paragraph {i} of the brief repeats a point about budgets." for i in range(25))
    tasks: list[dict[str, Any]] = [
        {"id": f"part-{i}", "prompt": f"Part {i}. {body}", "agent": "note"} for i in range(fan)
    ]
    refs = " ".join(f"{{{{ tasks.part-{i}.data.note }}}}" for i in range(fan))
    tasks.append(
        {
            "id": "join",
            "prompt": f"Join the notes: {refs}",
            "agent": "note",
            "depends_on": [f"part-{i}" for i in range(fan)],
        }
    )
    return {
        "name": "report-fan-in",
        "model": "claude-haiku-4-5",
        "limits": {"accounting": "actual", "classes": {"haiku-4": LIMITS}},
        "agents": {
            "note": {"expected_output_tokens": 40, "max_tokens": 300, "output_schema": _NOTE}
        },
        "tasks": tasks,
    }


async def make_run(
    tmp_path: Path,
    *,
    rate_limit_429: float = 0.0,
    server_500: float = 0.0,
    seed: int = 3,
    run_id: str = "r1",
) -> tuple[Path, RunResult, dict[str, Any]]:
    """Run the fan-in on the emulator with injected faults (probabilities per request);
    (run folder, result, the emulator's own counters)."""
    path = tmp_path / "fan.yaml"
    path.write_text(yaml.safe_dump(fan_in_spec(), sort_keys=False), encoding="utf-8")
    spec = load_workflow(path)
    config = EmulatorConfig.model_validate(
        {
            "seed": seed,
            "accounting": "actual",
            "limits": {"haiku-4": LIMITS},
            "faults": {
                "rate_limit_429": rate_limit_429,
                "server_500": server_500,
                "retry_after_s": 1,
            },
        }
    )
    backend = emulator_backend(spec, config=config)
    sdk = backend.client.sdk  # type: ignore[attr-defined]
    if getattr(sdk, "_platform", None) is None:
        # The SDK would resolve its platform headers in a worker thread on the first
        # request; under looptime a pending thread makes virtual time follow real time.
        sdk._platform = get_platform()
    try:
        result = await launch(
            spec,
            inputs={},
            backend=backend,
            out_root=tmp_path / "runs",
            run_id=run_id,
            workflow_path=path,
            workflow_text=path.read_text(encoding="utf-8"),
            seed=seed,
        )
    finally:
        await backend.aclose()
    return tmp_path / "runs" / run_id, result, backend.emulator.stats()


def in_virtual_time(factory: Callable[[], Awaitable[T]]) -> T:
    """Run `factory()` on a fresh looptime loop (clock from 0): for module-scoped runs."""
    loop = looptime.new_event_loop(start=0.0, end=7 * 24 * 3600.0, noop_cycles=1)
    try:
        return loop.run_until_complete(factory())
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
