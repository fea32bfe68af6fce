"""The Ray executor: the same results as local execution, recovery from a killed actor, the CLI.

The Ray tests share one local Ray instance (module fixture, 2 CPUs, no dashboard, bound
to loopback) and skip with a reason when Ray is not installed. Runs go through `launch`
end to end; the actors call a loopback emulator whose answers are seeded by request
content, so identical requests get identical answers in any process, and the local run
of the same workflow is the reference. They run in real time: Ray's processes do not
share the test's virtual clock. The lease-broker tests need no Ray (a fake handle calls
the broker in process) and run in virtual time.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agents.errors import ErrorKind, LLMError
from agents.usage import Usage
from orchestrator._ray_budget import LeaseBroker, RemoteBudget, RemoteBudgetError
from orchestrator.budget._redis_scripts import keys_of
from orchestrator.budget._redis_server import LocalRedis, redis_server_binary
from orchestrator.cli import _register_subcommands, app
from orchestrator.config_errors import ConfigError
from orchestrator.emulator import EmulatorConfig
from orchestrator.events import Event
from orchestrator.executors import ExecutorChoice
from orchestrator.journal import JOURNAL_FILE, Journal
from orchestrator.launch import emulator_backend, launch
from orchestrator.limits import ModelLimits
from orchestrator.runner import RunResult
from orchestrator.spec import WorkflowSpec, load_workflow, parse_workflow

HAVE_RAY = importlib.util.find_spec("ray") is not None
MODEL = "claude-haiku-4-5"


# -- workflows ---------------------------------------------------------------------------


def _dag(
    roots: int, per_root: int, *, joins: int, max_tokens: int = 400, tool: str | None = None
) -> dict[str, Any]:
    """`roots` tasks, `per_root` children of each, and `joins` tasks over the children.

    Every prompt quotes its upstream outputs, so a wrong or swapped answer upstream
    changes every request below it. With `tool` (an import path), join `j0` is an
    agent's that calls it (a tool turn, then the answer). Only one task calls a tool:
    the emulator numbers `toolu_` ids in the order it answers, so tool calls of tasks
    running at once could get each other's ids in another run.
    """
    common = {"expected_output_tokens": 30, "max_tokens": max_tokens}
    tasks: list[dict[str, Any]] = [
        {"id": f"r{i}", "prompt": f"Root question {i}.", **common} for i in range(roots)
    ]
    children = []
    for i in range(roots):
        for k in range(per_root):
            child = f"m{i}_{k}"
            children.append(child)
            tasks.append(
                {
                    "id": child,
                    "depends_on": [f"r{i}"],
                    "prompt": f"Part {k} of: {{{{ tasks.r{i}.output }}}}",
                    **common,
                }
            )
    for j in range(joins):
        mine = children[j::joins]
        refs = " | ".join(f"{{{{ tasks.{c}.output }}}}" for c in mine)
        join = {"id": f"j{j}", "depends_on": mine, "prompt": f"Join: {refs}", **common}
        tasks.append(join | ({"agent": "joiner"} if tool and j == 0 else {}))
    spec: dict[str, Any] = {"name": "raydag", "model": MODEL, "limits": {"tier": "tier4"}}
    if tool:
        spec["agents"] = {"joiner": {"tools": [tool], "max_tokens": max_tokens}}
    return spec | {"tasks": tasks}


def _spec(data: dict[str, Any]) -> WorkflowSpec:
    return parse_workflow(json.dumps(data), file="raydag.yaml")


def _emulator(*, ttft_s: float, faults: dict[str, Any] | None = None) -> EmulatorConfig:
    return EmulatorConfig.model_validate(
        {
            "faults": faults or {},
            "seed": 7,
            "tier": "tier4",
            "latency": {
                "*": {
                    "ttft_s": ttft_s,
                    "tokens_per_second": 1e6,
                    "prefill_s_per_token": 0.0,
                    "jitter": 0.0,
                }
            },
            "content": {"median_output_tokens": 30},
        }
    )


async def _run(
    spec: WorkflowSpec,
    out: Path,
    run_id: str,
    *,
    executor: ExecutorChoice | None = None,
    ttft_s: float = 0.0,
    listeners: tuple[Any, ...] = (),
    workflow_path: Path | None = None,
) -> RunResult:
    backend = emulator_backend(spec, config=_emulator(ttft_s=ttft_s))
    try:
        return await launch(
            spec,
            inputs={},
            backend=backend,
            out_root=out,
            run_id=run_id,
            seed=3,
            executor=executor,
            listeners=listeners,
            workflow_path=workflow_path,
        )
    finally:
        await backend.aclose()


def _answers(result: RunResult) -> dict[str, tuple[str, str, Usage]]:
    return {t: (r.status, r.output, r.usage) for t, r in result.records.items()}


# -- Ray ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    if not HAVE_RAY:
        pytest.skip("ray is not installed (pip install 'dagwright[ray]')")
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
    )
    try:
        yield ray
    finally:
        ray.shutdown()


TOOLS = """\
def lookup(term: str) -> str:
    \"\"\"Look a term up.\"\"\"
    return f"{term!r} has {len(term)} characters"
"""


def _transcripts(run_dir: Path, task_ids: list[str]) -> dict[str, list[list[Any]]]:
    with Journal.open(run_dir / JOURNAL_FILE, read_only=True) as journal:
        return {t: journal.transcript(t) for t in task_ids}


async def test_500_tasks_on_ray_equal_local_execution(ray_cluster: Any, tmp_path: Path) -> None:
    # The joins' agent calls a tool from a module next to the workflow file, which the
    # actors import by name (the workflow's folder is put on their sys.path).
    (tmp_path / "raytools_500.py").write_text(TOOLS, encoding="utf-8")
    path = tmp_path / "workflow.yaml"
    path.write_text(json.dumps(_dag(25, 18, joins=25, tool="raytools_500:lookup")))
    spec = load_workflow(path)
    assert len(spec.tasks) == 500
    local = await _run(spec, tmp_path, "local", workflow_path=path)
    remote = await _run(
        spec, tmp_path, "ray", executor=ExecutorChoice(name="ray"), workflow_path=path
    )
    assert local.ok and remote.ok, (local.reason, remote.reason)
    assert _answers(remote) == _answers(local)
    assert remote.usage == local.usage
    # No lost tries: each task made the calls it made locally (j0 two, the rest one).
    attempts = {t: r.attempts for t, r in remote.records.items()}
    assert attempts == {t: r.attempts for t, r in local.records.items()}
    assert attempts["j0"] == 2 and attempts["j1"] == 1
    # The driver journaled each turn the actors made, as the local run did: for j0 a
    # tool turn (with the tool's result), then the answer.
    turns = _transcripts(tmp_path / "ray", ["j0", "j1"])
    assert turns == _transcripts(tmp_path / "local", ["j0", "j1"])
    first = turns["j0"][0]
    assert len(turns["j0"]) == 2 and first[-1]["content"][0]["type"] == "tool_result"
    assert "characters" in first[-1]["content"][0]["content"]
    assert len(turns["j1"]) == 1
    # The driver journaled every turn the actors made, as a local run does.
    summary = json.loads((tmp_path / "ray" / "result.json").read_text(encoding="utf-8"))
    assert summary["backend"].startswith("built-in emulator")
    assert (tmp_path / "ray" / "tasks" / "j24.md").read_text(encoding="utf-8") == (
        local.output("j24") + "\n"
    )


async def test_the_actors_call_errors_and_retries_reach_the_drivers_event_log(
    ray_cluster: Any, tmp_path: Path
) -> None:
    spec = _spec(_dag(4, 3, joins=1))
    backend = emulator_backend(spec, config=_emulator(ttft_s=0.0, faults={"overloaded_529": 0.12}))
    try:
        result = await launch(
            spec,
            inputs={},
            backend=backend,
            out_root=tmp_path,
            run_id="ray",
            seed=3,
            executor=ExecutorChoice(name="ray"),
        )
    finally:
        await backend.aclose()
    assert result.ok, result.reason
    lines = (tmp_path / "ray" / "events.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    errors = [e for e in events if e["event"] == "call.error"]
    retries = [e for e in events if e["event"] == "task.retry"]
    # The actors' callers saw 529s and retried; each shows in the run's log, by task.
    assert errors and {e["kind"] for e in errors} == {"overloaded"}
    assert len(retries) == len(errors)
    tried = {e["task_id"] for e in errors}
    assert tried <= set(result.records)
    assert all(result.records[t].attempts >= 2 for t in tried)


async def test_a_killed_actor_is_replaced_and_its_tasks_sent_again(
    ray_cluster: Any, tmp_path: Path
) -> None:
    ray = ray_cluster
    spec = _spec(_dag(4, 10, joins=2))
    local = await _run(spec, tmp_path, "local-k", ttft_s=0.4)
    started: list[str] = []
    killed: list[str] = []
    retries: list[Event] = []

    def kill_one(event: Event) -> None:
        # Once a dozen tasks are in flight (about half on each actor), kill one actor.
        if event.name == "task.retry":
            retries.append(event)
        if event.name == "task.started":
            started.append(str(event.task_id))
            if len(started) == 12 and not killed:
                name = "dagwright/ray-k/worker-1"
                ray.kill(ray.get_actor(name))
                killed.append(name)

    remote = await _run(
        spec,
        tmp_path,
        "ray-k",
        executor=ExecutorChoice(name="ray", actors_per_node=2),
        ttft_s=0.4,
        listeners=(kill_one,),
    )
    assert killed
    assert remote.ok, remote.reason
    assert _answers(remote) == _answers(local)
    resent = {t: r.attempts for t, r in remote.records.items() if r.attempts > 1}
    assert resent, "no task was sent again after the kill"
    assert all(attempts == 2 for attempts in resent.values())
    assert sorted(str(e.task_id) for e in retries) == sorted(resent)
    assert all("worker actor lost" in e.data["reason"] for e in retries)


async def test_with_a_redis_budget_the_actors_lease_from_redis(
    ray_cluster: Any, tmp_path: Path
) -> None:
    if redis_server_binary() is None or importlib.util.find_spec("redis") is None:
        pytest.skip("needs redis-server and the redis package (apt-get install redis-server)")
    import redis

    data = _dag(2, 4, joins=1)
    local = await _run(_spec(data), tmp_path, "local-r")
    with LocalRedis() as server:
        budget = {"backend": "redis", "url": server.url, "namespace": "raytest"}
        remote = await _run(
            _spec(data | {"budget": budget}), tmp_path, "ray-r", executor=ExecutorChoice(name="ray")
        )
        bucket = keys_of("raytest", "haiku-4")[0]
        admitted = redis.Redis.from_url(server.url).hget(bucket, "admitted")
    assert remote.ok, remote.reason
    assert _answers(remote) == _answers(local)
    # Every call was admitted by the shared Redis budget (the driver made none).
    assert admitted is not None and int(admitted) == len(remote.records) == 11


PLANNED = {
    "name": "planned",
    "model": MODEL,
    "agents": {
        "manager": {"system": "You plan research for a small team."},
        "researcher": {"system": "You research one question.", "max_tokens": 4000},
    },
    "tasks": [
        {
            "id": "research",
            "kind": "plan",
            "agent": "manager",
            "prompt": "Research rate limits: how they are measured and shared.",
            "plan": {"max_tasks": 3, "max_depth": 1, "agents": ["researcher"]},
        },
        {
            "id": "report",
            "depends_on": ["research"],
            "max_tokens": 4000,
            "prompt": "Report from these notes: {{ tasks.research.output }}",
        },
    ],
}


def test_cli_runs_a_planned_workflow_on_ray(ray_cluster: Any, tmp_path: Path) -> None:
    # `dagwright run --executor ray` end to end on the CLI's own emulator (served on
    # loopback for the actors): the plan task plans in the driver, under the broker's
    # budget; the tasks it planned and the report run on the actors.
    _register_subcommands()
    path = tmp_path / "planned.yaml"
    path.write_text(json.dumps(PLANNED), encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["run", str(path), "--executor", "ray", "--out", str(tmp_path), "--run-id", "c", "-q"],
        env={"ANTHROPIC_API_KEY": ""},
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "c" / "result.json").read_text(encoding="utf-8"))
    assert summary["status"] == "succeeded"
    planned = [t for t in summary["tasks"] if t.startswith("research.")]
    assert 1 <= len(planned) <= 3
    assert all(summary["tasks"][t]["status"] == "succeeded" for t in planned)
    assert (tmp_path / "c" / "tasks" / "report.md").read_text(encoding="utf-8").strip()


# -- choosing an executor (no Ray needed) --------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--executor", "rey"], "unknown executor 'rey'"),
        (["--ray-address", "auto"], "--ray-address was given, but the executor is not ray"),
    ],
)
def test_cli_refuses_a_bad_executor_choice(tmp_path: Path, args: list[str], expected: str) -> None:
    _register_subcommands()
    path = tmp_path / "small.yaml"
    path.write_text(json.dumps(_dag(1, 1, joins=1)), encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path), *args])
    assert result.exit_code != 0
    text = " ".join(result.output.split())
    assert expected in text
    assert "Traceback" not in result.output
    assert not (tmp_path / "raydag").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--executor", "rey"], "unknown executor 'rey'"),
        (["--ray-address", "auto"], "--ray-address was given, but the executor is not ray"),
    ],
)
def test_resume_refuses_a_bad_executor_choice(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    _register_subcommands()
    result = CliRunner().invoke(app, ["resume", "some-run", "--out", str(tmp_path), *args])
    assert result.exit_code == 2
    assert expected in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_executor_choice_checks_its_settings() -> None:
    with pytest.raises(ConfigError, match="did you mean 'ray'"):
        ExecutorChoice(name="rays")
    with pytest.raises(ConfigError, match="actors_per_node must be >= 1"):
        ExecutorChoice(name="ray", actors_per_node=0)


# -- the lease broker (no Ray needed) -----------------------------------------------------


class _Method:
    def __init__(self, target: Any, name: str) -> None:
        self._call = getattr(target, name)

    def remote(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        """Like a Ray actor call: starts now, returns an awaitable of the result."""
        result = self._call(*args, **kwargs)
        if asyncio.iscoroutine(result):
            return asyncio.ensure_future(result)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(result)
        return done


class _Handle:
    """A fake Ray actor handle: `handle.method.remote(...)` calls the object in process."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def __getattr__(self, name: str) -> _Method:
        return _Method(self._target, name)


LIMITS = {"haiku-4": ModelLimits(rpm=60, itpm=100_000, otpm=20_000)}


def _lease(budget: RemoteBudget, task_id: str) -> Any:
    return budget.lease(task_id, model=MODEL, input_tokens=100, max_tokens=200, output_tokens=50)


@pytest.mark.looptime
async def test_remote_budgets_share_one_budget_and_a_dead_owner_is_released() -> None:
    broker = LeaseBroker(LIMITS, mode="actual")
    handle = _Handle(broker)
    first = RemoteBudget(handle, owner="a1", mode="actual")
    second = RemoteBudget(handle, owner="a2", mode="actual")
    loop = asyncio.get_running_loop()
    # The RPM bucket (60/min, burst included) admits a limited run of leases at once; both
    # actors draw on it, so the second one waits once the first has taken its share.
    granted: list[tuple[str, float]] = []

    async def take(budget: RemoteBudget, task_id: str, hold: bool) -> None:
        context = _lease(budget, task_id)
        lease = await context.__aenter__()
        granted.append((task_id, loop.time()))
        assert lease.max_tokens == 200
        if not hold:
            lease.settle(Usage(input_tokens=100, output_tokens=40))
            await context.__aexit__(None, None, None)

    await asyncio.gather(*(take(first, f"a{i}", hold=True) for i in range(5)))
    assert broker.open_leases() == 5
    await asyncio.gather(*(take(second, f"b{i}", hold=False) for i in range(5)))
    await asyncio.sleep(0)
    assert broker.open_leases() == 5
    # Actor a1 died holding five leases: the driver releases them.
    assert broker.release_owner("a1") == 5
    assert broker.open_leases() == 0
    times = [t for _, t in granted]
    assert times == sorted(times)


@pytest.mark.looptime
async def test_a_dead_owners_waiting_lease_is_released_when_granted() -> None:
    broker = LeaseBroker({"haiku-4": ModelLimits(rpm=2, itpm=100_000, otpm=20_000)})
    live = RemoteBudget(_Handle(broker), owner="live", mode="actual")
    for i in range(2):
        async with _lease(live, f"t{i}") as lease:
            lease.settle(Usage(input_tokens=100, output_tokens=40))
    kwargs = {"model": MODEL, "input_tokens": 100, "max_tokens": 200}
    waiting = asyncio.ensure_future(broker.acquire("dead", "dead:1", "w", kwargs))
    await asyncio.sleep(1.0)
    assert not waiting.done()  # the bucket is empty: it waits for a refill
    assert broker.release_owner("dead") == 0
    grant = await waiting
    assert grant.error is None and broker.open_leases() == 0


@pytest.mark.looptime
async def test_broker_is_never_open_without_a_grant() -> None:
    # A class with 2 requests per minute: a third lease waits for the bucket to refill.
    broker = LeaseBroker({"haiku-4": ModelLimits(rpm=2, itpm=100_000, otpm=20_000)})
    budget = RemoteBudget(_Handle(broker), owner="a", mode="actual")
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(3):
        async with _lease(budget, f"t{i}") as lease:
            lease.settle(Usage(input_tokens=100, output_tokens=40))
    assert loop.time() - start >= 20.0
    # A 429 reported through a lease pauses the shared budget.
    async with _lease(budget, "t429") as lease:
        lease.report_error(LLMError(ErrorKind.RATE_LIMITED, "slow down", retry_after=30.0))
    before = loop.time()
    async with _lease(budget, "after"):
        pass
    assert loop.time() - before >= 29.0
    # An abandoned request is released when its grant arrives.
    broker.release("a:late")
    grant = await broker.acquire(
        "a", "a:late", "late", {"model": MODEL, "input_tokens": 1, "max_tokens": 10}
    )
    assert grant.error is None and broker.open_leases() == 0


async def test_a_request_too_large_fails_with_the_brokers_message() -> None:
    broker = LeaseBroker({"haiku-4": ModelLimits(rpm=50, itpm=1_000, otpm=20_000)})
    budget = RemoteBudget(_Handle(broker), owner="a", mode="actual")
    context = budget.lease("big", model=MODEL, input_tokens=50_000, max_tokens=100)
    with pytest.raises(RemoteBudgetError, match="big"):
        await context.__aenter__()
