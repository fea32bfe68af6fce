"""The run journal: durability, resume queries, transcripts, expansions, events, reuse."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from agents.usage import Usage
from orchestrator.journal import (
    SCHEMA_VERSION,
    CrossRunCache,
    Journal,
    JournalError,
    TaskRecord,
    content_hash,
    journal_path,
)

_SPEC = json.dumps({"name": "demo", "tasks": [{"id": "a", "prompt": "hi"}]})


def _create(path: Path, run_id: str = "run-1", **kwargs: Any) -> Journal:
    return Journal.create(
        path,
        run_id=run_id,
        workflow_name="demo",
        spec_json=_SPEC,
        inputs={"topic": "limits", "words": 600},
        meta={"dagwright": "0.1.0"},
        **kwargs,
    )


def _record(task_id: str, status: str = "succeeded", **kwargs: Any) -> TaskRecord:
    values: dict[str, Any] = {
        "output": f"output of {task_id}",
        "usage": Usage(input_tokens=10, output_tokens=5),
        "cost_usd": 0.001,
        "attempts": 1,
        "model": "claude-sonnet-4-5",
        "started_at": 100.0,
        "finished_at": 101.5,
    }
    values.update(kwargs)
    return TaskRecord(task_id=task_id, status=status, **values)  # type: ignore[arg-type]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return journal_path(tmp_path / "out", "run-1")


@pytest.fixture
def journal(path: Path) -> Any:
    with _create(path) as journal:
        yield journal


# Lifecycle --------------------------------------------------------------------------


def test_create_then_reopen_keeps_the_run(path: Path) -> None:
    with _create(path, created_at=1234.5) as journal:
        journal.set_status("interrupted")
    with Journal.open(path) as journal:
        info = journal.run_info()
    assert info.run_id == "run-1"
    assert info.workflow_name == "demo"
    assert json.loads(info.spec_json)["name"] == "demo"
    assert info.inputs == {"topic": "limits", "words": 600}
    assert info.meta == {"dagwright": "0.1.0"}
    assert info.status == "interrupted"
    assert info.created_at == 1234.5


def test_wal_and_full_sync_while_open_one_file_after_close(path: Path) -> None:
    journal = _create(path)
    journal.record_task_result(_record("a"))
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    journal.close()
    journal.close()  # idempotent
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name)) == [
        "journal.sqlite",
        "journal.sqlite.lock",
    ]


def test_create_refuses_an_existing_journal(journal: Journal, path: Path) -> None:
    with pytest.raises(JournalError, match="already exists") as info:
        _create(path)
    assert info.value.hint is not None and "resume" in info.value.hint


def test_create_checks_its_json_before_touching_disk(path: Path) -> None:
    with pytest.raises(ValueError, match="spec_json is not valid JSON"):
        Journal.create(path, run_id="r", workflow_name="w", spec_json="{", inputs={})
    with pytest.raises(ValueError, match="inputs is not JSON-serialisable"):
        Journal.create(path, run_id="r", workflow_name="w", spec_json="{}", inputs={"x": {1, 2}})
    assert not path.exists()


@pytest.mark.parametrize("run_id", ["", ".", "..", "a/b", "a\\b"])
def test_journal_path_refuses_ids_that_are_not_folder_names(run_id: str) -> None:
    with pytest.raises(JournalError, match="invalid run id"):
        journal_path("out", run_id)


def test_open_missing_or_folder(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="does not exist") as info:
        Journal.open(tmp_path / "nope.sqlite")
    assert info.value.hint == "check the run id and the output folder"
    with pytest.raises(JournalError, match="is a folder"):
        Journal.open(tmp_path)


def test_open_something_else(tmp_path: Path) -> None:
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database at all, but long enough to have a header" * 10)
    with pytest.raises(JournalError, match="not a readable dagwright journal"):
        Journal.open(text)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(JournalError, match="not a dagwright journal"):
        Journal.open(other, read_only=True)


def test_open_refuses_a_newer_schema(path: Path) -> None:
    _create(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(JournalError, match="newer dagwright") as info:
        Journal.open(path)
    assert info.value.hint == "upgrade dagwright to resume this run"
    # The lock was released: after the refusal, the same path can be locked again.
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    conn.close()
    Journal.open(path).close()


def test_one_writer_many_readers(journal: Journal, path: Path) -> None:
    with pytest.raises(JournalError, match="already open for writing"):
        Journal.open(path)
    journal.record_task_result(_record("a"))
    with Journal.open(path, read_only=True) as reader:
        assert reader.read_only
        assert list(reader.completed()) == ["a"]
        with pytest.raises(JournalError, match="read-only"):
            reader.set_status("failed")


def test_closed_journal_says_so(path: Path) -> None:
    journal = _create(path)
    journal.close()
    with pytest.raises(JournalError, match="is closed"):
        journal.records()


# Tasks ------------------------------------------------------------------------------


def test_task_record_round_trip(journal: Journal) -> None:
    usage = Usage(
        input_tokens=12,
        output_tokens=34,
        cache_creation_input_tokens=100,
        cache_read_input_tokens=900,
        cache_creation_5m_input_tokens=60,
        cache_creation_1h_input_tokens=40,
    )
    record = _record(
        "a",
        data={"claims": ["x", "y"], "score": 0.5, "nested": {"ok": True}},
        usage=usage,
        waited_s=2.25,
        content_hash="abc",
    )
    journal.record_task_result(record)
    assert journal.records() == {"a": record}


def test_latest_record_wins_and_completed_means_succeeded(journal: Journal) -> None:
    journal.record_task_result(_record("a", "failed", error="HTTP 400 (request_id req_1)"))
    journal.record_task_result(_record("b"))
    journal.record_task_result(_record("c", "skipped", attempts=0, model=None))
    journal.record_task_result(_record("a", attempts=2))
    records = journal.records()
    assert list(records) == ["b", "c", "a"]
    assert records["a"].status == "succeeded" and records["a"].attempts == 2
    assert list(journal.completed()) == ["b", "a"]


def test_started_attempts(journal: Journal) -> None:
    journal.record_task_start("a", 1, 10.0)
    journal.record_task_start("a", 2, 12.0)
    journal.record_task_start("b", 1, 10.5)
    assert journal.started() == {"a": 2, "b": 1}
    with pytest.raises(ValueError, match="attempt must be >= 1"):
        journal.record_task_start("a", 0, 1.0)


def test_task_record_validation() -> None:
    with pytest.raises(ValueError, match="status must be one of"):
        TaskRecord(task_id="a", status="done")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="attempts must be >= 0"):
        TaskRecord(task_id="a", status="failed", attempts=-1)


def test_unserialisable_data_writes_nothing(journal: Journal) -> None:
    with pytest.raises(ValueError, match="data of task 'a' is not JSON-serialisable"):
        journal.record_task_result(_record("a", data={"when": object()}))
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        journal.record_task_result(_record("a", data=float("nan")))
    assert journal.records() == {}


def test_find_cached_only_succeeded_latest(journal: Journal) -> None:
    journal.record_task_result(_record("a", content_hash="h1", output="old"))
    journal.record_task_result(_record("b", "failed", content_hash="h2"))
    journal.record_task_result(_record("c", content_hash="h1", output="new"))
    found = journal.find_cached("h1")
    assert found is not None and found.output == "new"
    assert journal.find_cached("h2") is None
    assert journal.find_cached("nope") is None


# Transcripts, expansions, events ----------------------------------------------------


def test_transcript_is_a_gapless_prefix(journal: Journal) -> None:
    turn0 = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "tool?"}]
    turn1 = [{"role": "user", "content": [{"type": "tool_result", "content": "42"}]}]
    journal.append_turn("a", 0, json.dumps(turn0))
    journal.append_turn("a", 1, json.dumps(turn1))
    journal.append_turn("b", 0, "[]")
    assert journal.transcript("a") == [turn0, turn1]
    with pytest.raises(ValueError, match="would leave a gap: 2 turns are recorded"):
        journal.append_turn("a", 3, "[]")
    journal.append_turn("a", 1, json.dumps([{"role": "assistant", "content": "retried"}]))
    journal.append_turn("a", 0, json.dumps(turn0))  # replaces turn 0, drops turn 1
    assert journal.transcript("a") == [turn0]
    journal.clear_transcript("a")
    assert journal.transcript("a") == []
    assert journal.transcript("b") == [[]]


@pytest.mark.parametrize(
    ("text", "error"),
    [("{", "not valid JSON"), ('{"role": "user"}', "JSON array"), (["x"], "must be JSON text")],
)
def test_transcript_turns_must_be_json_arrays(journal: Journal, text: Any, error: str) -> None:
    with pytest.raises((ValueError, TypeError), match=error):
        journal.append_turn("a", 0, text)


def test_expansions(journal: Journal) -> None:
    plan = {"tasks": [{"id": "p.1", "prompt": "x"}, {"id": "p.2", "prompt": "y"}]}
    journal.record_expansion("plan", json.dumps(plan))
    journal.record_expansion("other", "[]")
    assert journal.expansion("plan") == plan
    assert journal.expansion("missing") is None
    assert journal.expansions() == {"plan": plan, "other": []}
    with pytest.raises(ValueError, match="JSON object or array"):
        journal.record_expansion("plan", "3")


def test_events(journal: Journal) -> None:
    first = journal.record_event("rate_limited", None, 5.0, {"retry_after": 2.0})
    journal.record_event("retry", "a", 7.5, {"attempt": 2, "reason": "529"})
    journal.record_event("rate_limited", "b", 9.0)
    events = journal.events()
    assert [(e.seq - first, e.kind, e.task_id, e.at) for e in events] == [
        (0, "rate_limited", None, 5.0),
        (1, "retry", "a", 7.5),
        (2, "rate_limited", "b", 9.0),
    ]
    assert events[1].data == {"attempt": 2, "reason": "529"}
    assert [e.task_id for e in journal.events("rate_limited")] == [None, "b"]


def test_status_is_checked(journal: Journal) -> None:
    with pytest.raises(ValueError, match="status must be one of"):
        journal.set_status("done")  # type: ignore[arg-type]
    journal.set_status("finished")
    assert journal.run_info().status == "finished"


def test_writes_from_threads(journal: Journal) -> None:
    def write(i: int) -> None:
        journal.record_event("tick", f"t{i % 4}", float(i), {"i": i})
        journal.record_task_result(_record(f"t{i}"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(80)))
    assert sorted(e.data["i"] for e in journal.events()) == list(range(80))
    assert len(journal.completed()) == 80


async def test_usable_from_asyncio(journal: Journal) -> None:
    import asyncio

    await asyncio.to_thread(journal.record_task_result, _record("a"))
    journal.record_task_result(_record("b"))
    assert list(journal.completed()) == ["a", "b"]


# Reuse across runs ------------------------------------------------------------------


def test_content_hash_is_canonical() -> None:
    task = {"prompt": "Summarise", "max_tokens": 100, "schema": {"b": 1, "a": 2}}
    reordered = {"schema": {"a": 2, "b": 1}, "max_tokens": 100, "prompt": "Summarise"}
    key = content_hash(task, model="claude-sonnet-4-5", prompt="Summarise X")
    assert key == content_hash(reordered, model="claude-sonnet-4-5", prompt="Summarise X")
    assert key == content_hash(json.dumps(task), model="claude-sonnet-4-5", prompt="Summarise X")
    assert key != content_hash(task, model="claude-haiku-4-5", prompt="Summarise X")
    assert key != content_hash(task, model="claude-sonnet-4-5", prompt="Summarise Y")
    assert len(key) == 64


def test_cross_run_cache(tmp_path: Path) -> None:
    root = tmp_path / "out"
    with _create(journal_path(root, "old"), run_id="old", created_at=1.0) as old:
        old.record_task_result(_record("a", content_hash="h", output="from old"))
        old.record_task_result(_record("b", content_hash="only-old"))
    with _create(journal_path(root, "new"), run_id="new", created_at=2.0) as new:
        new.record_task_result(_record("a", content_hash="h", output="from new"))
    (root / "broken").mkdir()
    (root / "broken" / "journal.sqlite").write_bytes(b"garbage" * 100)
    current = _create(journal_path(root, "current"), run_id="current", created_at=3.0)
    current.record_task_result(_record("a", content_hash="h", output="from current"))
    with CrossRunCache(root, exclude=["current"]) as cache:
        assert [p.parent.name for p in cache.sources] == ["new", "old"]
        assert [p.parent.name for p, _ in cache.skipped] == ["broken"]
        hit = cache.find("h")
        assert hit is not None and hit.output == "from new"
        assert cache.find("only-old") is not None
        assert cache.find("missing") is None
    current.close()


# Crash safety -----------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import json, sys
    from agents.usage import Usage
    from orchestrator.journal import Journal, TaskRecord

    journal = Journal.create(
        sys.argv[1], run_id="crash", workflow_name="w", spec_json="{}", inputs={}
    )
    big = "x" * 20_000  # multi-page rows, so a kill can land inside a write
    for i in range(100_000):
        journal.record_task_start(f"t{i}", 1, float(i))
        journal.append_turn(f"t{i}", 0, json.dumps([{"role": "user", "content": big}]))
        journal.record_task_result(
            TaskRecord(
                task_id=f"t{i}", status="succeeded", output=big, data={"i": i},
                usage=Usage(input_tokens=i, output_tokens=1), attempts=1,
            )
        )
        print(i, flush=True)
    """
)


def test_sigkill_mid_run_leaves_a_consistent_resumable_journal(tmp_path: Path) -> None:
    path = tmp_path / "crash" / "journal.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    reported = -1
    try:
        for line in child.stdout:
            reported = int(line)
            if reported >= 40:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert reported >= 40, "the writer died before writing anything"

    check = sqlite3.connect(path)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()
    with Journal.open(path) as journal:  # the dead writer's lock is gone
        assert journal.run_info().status == "running"
        done = journal.completed()
        # Everything reported as committed is there; at most the writes in flight are not.
        count = len(done)
        assert count > reported
        assert list(done) == [f"t{i}" for i in range(count)]
        assert all(r.data == {"i": int(r.task_id[1:])} for r in done.values())
        assert all(len(journal.transcript(t)) == 1 for t in done)
        started = journal.started()
        assert set(done) <= set(started) and len(started) <= count + 1
        journal.set_status("running")  # writable again: resume can carry on
