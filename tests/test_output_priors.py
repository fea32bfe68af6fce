"""Output sizes learned by earlier runs of a workflow prime the next run's estimates."""

from __future__ import annotations

from pathlib import Path

from agents.estimate import OutputEstimator
from orchestrator import Workflow
from orchestrator.budget import Budget
from orchestrator.emulator import EmulatorConfig
from orchestrator.journal import JOURNAL_FILE, CrossRunCache, Journal
from orchestrator.launch import _output_priors, emulator_backend

INSTANT = EmulatorConfig.model_validate(
    {"latency": {"*": {"ttft_s": 0, "tokens_per_second": 1e9, "prefill_s_per_token": 0}}}
)


def workflow(name: str = "sizes") -> Workflow:
    wf = Workflow(name, limits="tier2")
    for i in range(4):
        # No declared output: each call reserves its whole max_tokens until sizes are known.
        wf.task(f"w{i}", model="claude-sonnet-4-6", prompt=f"summarise part {i}", max_tokens=4_000)
    return wf


async def run(wf: Workflow, out: Path) -> tuple[str, float]:
    budgets: list[Budget] = []
    backend = emulator_backend(wf.spec, config=INSTANT)
    result = await wf.run(backend=backend, out=out, on_budget=budgets.append)
    assert result.ok, result.reason
    (stats,) = [c for c in budgets[0].statistics().classes if c.admitted]
    assert stats.output_tokens is not None
    return result.run_id, stats.output_tokens.granted


async def test_a_second_run_reserves_what_the_first_learned(tmp_path: Path) -> None:
    wf = workflow()
    first_id, first_granted = await run(wf, tmp_path)
    assert first_granted == 4 * 4_000  # nothing known: whole max_tokens each
    with Journal.open(tmp_path / first_id / JOURNAL_FILE, read_only=True) as journal:
        produced = {t: r.usage.output_tokens for t, r in journal.completed().items()}
    assert all(0 < v < 4_000 for v in produced.values())

    # The next run of the same workflow starts with each task's size known.
    priors = _output_priors(wf.spec, tmp_path, run_id="next")
    assert priors == {t: [v] for t, v in produced.items()}
    _, second_granted = await run(wf, tmp_path)
    assert second_granted < 4_000
    assert second_granted >= sum(produced.values())  # sized from them, with headroom

    # Two runs now: two samples per task, newest run first, capped by `per_task`.
    history = CrossRunCache(tmp_path)
    try:
        assert all(len(v) == 2 for v in history.outputs("sizes").values())
        assert all(len(v) == 1 for v in history.outputs("sizes", per_task=1).values())
    finally:
        history.close()
    # Another workflow under the same root learns nothing from these runs.
    assert _output_priors(workflow("other").spec, tmp_path, run_id="x") == {}


def test_primed_kinds_are_learned_from_their_first_sample(tmp_path: Path) -> None:
    assert CrossRunCache(tmp_path).outputs("sizes") == {}
    estimator = OutputEstimator(min_samples=5)
    estimator.prime({"k": [100, 300]})
    # Primed kinds count as learned at once; others still need `min_samples` answers.
    assert estimator.samples("k") == 2 and estimator.estimate("k").learned
    assert estimator.estimate("k").expected == 200
    estimator.record("fresh", 100)
    assert not estimator.estimate("fresh").learned
