"""The live run display follows tasks that join the graph during the run."""

from __future__ import annotations

from rich.console import Console

from orchestrator._live import LiveView
from orchestrator.events import Event


def _event(name: str, task_id: str | None, **data: object) -> Event:
    return Event(name=name, at=0.0, run_id="r", task_id=task_id, data=dict(data))


def _rendered(view: LiveView) -> str:
    console = Console(width=120, record=True)
    console.print(view.render())
    return console.export_text()


def test_expanded_children_get_rows_as_they_become_ready() -> None:
    view = LiveView(["research", "report"])
    view(_event("task.ready", "research"))
    view(_event("task.started", "research"))
    for child in ("research.history", "research.risks"):
        view(_event("task.ready", child))
        view(_event("task.started", child))
    view(_event("task.finished", "research.history", attempts=1, output_tokens=321))
    assert set(view.rows) == {"research", "report", "research.history", "research.risks"}
    assert view.rows["research.history"].state == "succeeded"
    assert view.rows["research.risks"].state == "running"
    text = _rendered(view)
    assert "research.history" in text and "research.risks" in text and "321" in text


def test_events_of_unknown_tasks_other_than_ready_add_no_rows() -> None:
    view = LiveView(["a"])
    view(_event("task.finished", "ghost", attempts=1))
    view(_event("call.error", "ghost"))
    view(_event("run.started", None))
    assert set(view.rows) == {"a"} and view.errors == 1
