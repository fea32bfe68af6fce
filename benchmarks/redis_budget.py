"""The Redis-shared budget: lease + settle latency, admissions per second, and contention.

`python -m benchmarks.redis_budget` starts a throwaway `redis-server` on a free loopback
port and prints:

1. latency: one `RedisBudget.lease` + `settle` at a time (p50 / p99 of each; settle is
   measured until Redis applied it), with limits far above the load;
2. admissions per second: 200 tasks leasing and settling as fast as they can for 3 s;
3. contention: N OS processes x 50 workers sharing one Redis budget against one emulator
   key (served over loopback, real time, limits scaled down): 429s, the fewest and most
   grants per process, and output-token utilisation (actual output / what OTPM allowed
   over the run), for 1 process and for 4.

The contention harness (`contention`) is also what `tests/integration/test_redis_*` run;
each worker process is `python -m benchmarks.redis_budget worker ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.limits import ModelLimits

MODEL = "claude-sonnet-4-6"
KEY = "org-shared-key"
#: Output binds: 1000 output tokens/s with a 1000-token burst; requests and input are loose.
LIMITS = ModelLimits(
    rpm=1_800, itpm=600_000, otpm=60_000, rpm_burst=30, itpm_burst=20_000, otpm_burst=1_000
)
EXPECTED_OUTPUT = 150  # reserved per call; the emulator produces 40-120
_FILLER = "The quick brown fox jumps over the lazy dog. " * 200


@dataclass(kw_only=True)
class ProcessReport:
    """What one worker process did."""

    name: str
    grants: list[tuple[float, str]] = field(default_factory=list)  # (wall time, source)
    completed: int = 0
    output_tokens: int = 0
    input_tokens: int = 0
    errors: list[str] = field(default_factory=list)
    ended: float = 0.0  # wall time when the last call ended
    counters: dict[str, int] = field(default_factory=dict)


@dataclass(kw_only=True)
class Contention:
    """A contention run: every process's report plus the server's view."""

    processes: list[ProcessReport]
    started: float
    finished: float
    rejected: int
    limits: ModelLimits

    @property
    def elapsed(self) -> float:
        return self.finished - self.started

    def grant_times(self) -> list[float]:
        return sorted(t for p in self.processes for t, _ in p.grants)

    def output_utilisation(self) -> float:
        allowed = self.limits.otpm_burst or self.limits.otpm
        allowed += self.limits.otpm / 60 * self.elapsed
        return sum(p.output_tokens for p in self.processes) / allowed


# -- one worker process --------------------------------------------------------------------


async def _work(args: argparse.Namespace) -> ProcessReport:
    from agents.anthropic_client import AnthropicClient
    from agents.client import LLMRequest
    from agents.errors import LLMError
    from orchestrator.budget.redis_budget import RedisBudget

    report = ProcessReport(name=args.name)
    budget = RedisBudget(args.redis, LIMITS, expected_processes=args.expected)
    client = AnthropicClient(api_key=KEY, base_url=args.emulator, timeout=120.0)
    rng = random.Random(args.name)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + args.duration

    async def worker(w: int) -> None:
        k = 0
        while (remaining := deadline - loop.time()) > 0:
            k += 1
            task_id = f"{args.name}-w{w}-{k}"
            inputs = rng.randint(100, 400)
            try:
                async with asyncio.timeout(remaining):
                    lease = await budget.acquire(
                        task_id,
                        model=MODEL,
                        input_tokens=inputs,
                        max_tokens=300,
                        output_tokens=EXPECTED_OUTPUT,
                    )
            except TimeoutError:
                return
            report.grants.append((time.time(), budget.reserved_in(lease) or "probe"))
            request = LLMRequest(
                model=MODEL,
                messages=[{"role": "user", "content": _FILLER[: 4 * (inputs - 5)]}],
                max_tokens=lease.max_tokens,
                metadata={"emulator_output_tokens": rng.randint(40, 120)},
            )
            try:
                response = await client.create(request)
            except LLMError as exc:
                lease.report_error(exc)
                lease.release()
                report.errors.append(f"{task_id}: {exc}")
                continue
            lease.settle(response.usage, response.ratelimit)
            report.completed += 1
            report.output_tokens += response.usage.output_tokens
            report.input_tokens += response.usage.input_tokens

    await asyncio.gather(*(worker(w) for w in range(args.workers)))
    report.ended = time.time()
    await budget.aclose()
    await client.aclose()
    report.counters = dict(vars(budget.counters))
    return report


def _worker_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.redis_budget worker")
    for name in ("--redis", "--emulator", "--name", "--out"):
        parser.add_argument(name, required=True)
    parser.add_argument("--duration", type=float, default=12.0)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--expected", type=int, default=1)
    args = parser.parse_args(argv)
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    report = asyncio.run(_work(args))
    Path(args.out).write_text(json.dumps(vars(report)), encoding="utf-8")


# -- the contention run ----------------------------------------------------------------------


def contention(
    processes: int,
    *,
    workers: int = 50,
    duration: float = 12.0,
    redis_url: str | None = None,
    outage: tuple[float, float] | None = None,
) -> Contention:
    """`processes` x `workers` against one emulator key through one Redis budget.

    `outage=(kill_at, restart_at)`: seconds after the start at which the Redis server is
    killed, then started again empty on the same port (needs `redis_url=None`).
    """
    from orchestrator.budget._redis_server import LocalRedis
    from orchestrator.emulator import BackgroundServer, EmulatorConfig

    config = EmulatorConfig.load(
        {
            "seed": 5,
            "limits": {
                "*": {
                    "rpm": LIMITS.rpm,
                    "itpm": LIMITS.itpm,
                    "otpm": LIMITS.otpm,
                    "rpm_burst": LIMITS.rpm_burst,
                    "itpm_burst": LIMITS.itpm_burst,
                    "otpm_burst": LIMITS.otpm_burst,
                }
            },
            "latency": {"*": {"ttft_s": 0.2, "tokens_per_second": 200.0}},
        }
    )
    redis_server = LocalRedis() if redis_url is None else None
    if redis_server is not None:
        redis_server.start()
        redis_url = redis_server.url
    assert redis_url is not None
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp, BackgroundServer(config) as server:
        children = []
        for i in range(processes):
            out = Path(tmp) / f"p{i}.json"
            command = [sys.executable, "-m", "benchmarks.redis_budget", "worker"]
            command += ["--redis", redis_url, "--emulator", server.base_url, "--name", f"p{i}"]
            command += ["--out", str(out), "--duration", str(duration)]
            command += ["--workers", str(workers), "--expected", str(processes)]
            child = subprocess.Popen(
                command, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            children.append((child, out))
        try:
            for child, _ in children:
                assert child.stdout is not None
                line = child.stdout.readline().strip()
                if line != "ready":
                    raise RuntimeError(f"worker process did not start (said {line!r})")
            started = time.time()
            for child, _ in children:
                assert child.stdin is not None
                child.stdin.write("go\n")
                child.stdin.flush()
            if outage is not None and redis_server is not None:
                time.sleep(max(0.0, started + outage[0] - time.time()))
                redis_server.stop()
                time.sleep(max(0.0, started + outage[1] - time.time()))
                redis_server.start()
            for child, _ in children:
                if child.wait(timeout=duration + 120) != 0:
                    raise RuntimeError(f"worker process exited with {child.returncode}")
        finally:
            for child, _ in children:
                if child.poll() is None:
                    child.kill()
                    child.wait()
            if redis_server is not None:
                redis_server.stop()
        reports = [ProcessReport(**json.loads(out.read_text())) for _, out in children]
        rejected = int(server.emulator.stats()["rate_limited"]["total"])
    finished = max(r.ended for r in reports)
    return Contention(
        processes=reports, started=started, finished=finished, rejected=rejected, limits=LIMITS
    )


# -- latency and admission rate ----------------------------------------------------------------


async def _latency(url: str, calls: int = 500) -> dict[str, float]:
    from agents.usage import Usage
    from orchestrator.budget.redis_budget import RedisBudget

    big = ModelLimits(rpm=10**7, itpm=10**10, otpm=10**9)
    budget = RedisBudget(url, big, namespace=f"bench-{os.getpid()}")
    lease_s, settle_s = [], []
    for i in range(calls):
        t0 = time.perf_counter()
        lease = await budget.acquire(f"l{i}", model=MODEL, input_tokens=100, max_tokens=100)
        t1 = time.perf_counter()
        lease.settle(Usage(input_tokens=100, output_tokens=50))
        await budget.flush()
        settle_s.append(time.perf_counter() - t1)
        lease_s.append(t1 - t0)
    deadline = time.perf_counter() + 3.0
    admitted = 0

    async def spin(w: int) -> None:
        nonlocal admitted
        k = 0
        while time.perf_counter() < deadline:
            k += 1
            lease = await budget.acquire(f"s{w}-{k}", model=MODEL, input_tokens=100, max_tokens=100)
            lease.settle(Usage(input_tokens=100, output_tokens=50))
            admitted += 1

    started = time.perf_counter()
    await asyncio.gather(*(spin(w) for w in range(200)))
    rate = admitted / (time.perf_counter() - started)
    await budget.aclose()

    def pct(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1] * 1000

    return {
        "lease_p50_ms": pct(lease_s, 50),
        "lease_p99_ms": pct(lease_s, 99),
        "settle_p50_ms": pct(settle_s, 50),
        "settle_p99_ms": pct(settle_s, 99),
        "admissions_per_s": rate,
    }


def _describe(run: Contention) -> str:
    grants = sorted(len(p.grants) for p in run.processes)
    errors = sum(len(p.errors) for p in run.processes)
    return (
        f"{len(run.processes)} process(es): {sum(grants)} calls in {run.elapsed:.1f}s, "
        f"{run.rejected} 429s, {errors} errors, grants per process {grants[0]}..{grants[-1]}, "
        f"output utilisation {run.output_utilisation():.0%}"
    )


def main() -> None:
    """Print the latency, admission rate and contention figures."""
    from orchestrator.budget._redis_server import LocalRedis, redis_server_binary

    if redis_server_binary() is None:
        sys.exit("redis-server is not installed: apt-get install -y redis-server")
    with LocalRedis() as server:
        figures = asyncio.run(_latency(server.url))
    print(
        f"lease p50 {figures['lease_p50_ms']:.2f} ms, p99 {figures['lease_p99_ms']:.2f} ms; "
        f"settle p50 {figures['settle_p50_ms']:.2f} ms, p99 {figures['settle_p99_ms']:.2f} ms; "
        f"{figures['admissions_per_s']:.0f} admissions/s (200 tasks, one process)"
    )
    for n in (1, 4):
        print(_describe(contention(n)))


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        _worker_main(sys.argv[2:])
    else:
        main()
