"""`dagwright simulate` end to end through the CLI (in-process `CliRunner`, virtual time)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from orchestrator.cli import _register_subcommands, app, configure_logging

WORKFLOW = {
    "name": "cli-fan",
    "model": "claude-haiku-4-5",
    "limits": {"classes": {"haiku-4": {"rpm": 600, "itpm": 200_000, "otpm": 8_000}}},
    "tasks": [
        {"id": "plan", "prompt": "Plan.", "expected_output_tokens": 100, "max_tokens": 400},
        *(
            {
                "id": f"part{i}",
                "prompt": f"Part {i}: {{{{ tasks.plan.output }}}}",
                "depends_on": ["plan"],
                "max_tokens": 1000,
            }
            for i in range(1, 9)
        ),
        {
            "id": "join",
            "prompt": "Join.",
            "depends_on": [f"part{i}" for i in range(1, 9)],
            "expected_output_tokens": 100,
            "max_tokens": 400,
        },
    ],
}
JSON_KEYS = {
    "scenario",
    "status",
    "makespan_s",
    "wall_s",
    "mode",
    "lower_bound_s",
    "lower_bound_terms_s",
    "binding",
    "input_utilisation",
    "output_utilisation",
    "cost_usd",
    "models",
    "limits",
    "assumptions",
    "run_dir",
}


@pytest.fixture
def cli() -> typer.Typer:
    configure_logging("error")
    _register_subcommands()
    return app


@pytest.fixture
def workflow(tmp_path: Path) -> Path:
    path = tmp_path / "fan.yaml"
    path.write_text(yaml.safe_dump(WORKFLOW, sort_keys=False), encoding="utf-8")
    return path


def _user_error(result: Any) -> str:
    """Exit 2, a short message on stderr, nothing on stdout, no traceback."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    stderr: str = result.stderr
    assert stderr.startswith("error: ") or ": " in stderr, stderr
    assert "\n\n" not in stderr.strip(), stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""
    return stderr


def test_scenarios_side_by_side(cli: typer.Typer, workflow: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    args = ["simulate", str(workflow), "--otpm", "500,2000,80k", "--out", str(out)]
    result = CliRunner().invoke(cli, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()

    def cells(name: str) -> list[str]:
        line = next(line for line in lines if line.startswith(f"│ {name}"))
        return [cell.strip() for cell in line.split("│")[2:-1]]

    header = next(line for line in lines if "otpm 500" in line)
    assert "otpm 2,000" in header and "otpm 80,000" in header  # one column per scenario
    assert cells("binding limit")[1:] == ["output tokens (OTPM)", "critical path"]
    # An OTPM below a task's max_tokens (1000) cannot admit it: the prediction says so.
    assert cells("status") == ["failed", "succeeded", "succeeded"]
    assert "stopped: task 'part" in result.stdout
    assert "claude-haiku-4-5 cost" in result.stdout
    # the assumptions are stated: 8 parts at 40% of 1000, plan and join declared
    assert "40% of the task's max_tokens (2 declared, 8 fraction)" in result.stdout
    assert "latency haiku-4: first token 0.3s" in result.stdout
    assert len([p for p in out.iterdir() if p.is_dir()]) == 3


def test_json_records(cli: typer.Typer, workflow: Path, tmp_path: Path) -> None:
    args = [
        "simulate",
        str(workflow),
        "--mode",
        "legacy,actual",
        "--output-tokens",
        "150",
        "--ttft",
        "1",
        "--tps",
        "50",
        "--out",
        str(tmp_path / "runs"),
        "--json",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["mode"] for r in records] == ["legacy", "actual"]
    for record in records:
        assert set(record) >= JSON_KEYS
        assert record["status"] == "succeeded"
        assert set(record["lower_bound_terms_s"]) == {
            "critical_path",
            "requests",
            "input",
            "output",
        }
        assert record["binding"] in record["lower_bound_terms_s"]
        assert record["lower_bound_s"] == max(record["lower_bound_terms_s"].values())
        assert record["makespan_s"] >= record["lower_bound_s"] * 0.999
        assert record["models"][0]["output_tokens"] == 10 * 150
        latency = record["assumptions"]["latency"]["haiku-4"]
        assert (latency["ttft_s"], latency["tokens_per_second"]) == (1.0, 50.0)
        assert Path(record["run_dir"], "result.json").is_file()


def test_tier_and_limits_file(cli: typer.Typer, workflow: Path, tmp_path: Path) -> None:
    limits = tmp_path / "limits.yaml"
    limits.write_text("limits:\n  tier: tier1\n  accounting: legacy\n", encoding="utf-8")
    args = ["simulate", str(workflow), "--limits", str(limits), "--json"]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    assert record["limits"]["haiku-4"] == {"rpm": 50, "itpm": 30_000, "otpm": 8_000}
    assert record["mode"] == "legacy"
    tiers = ["simulate", str(workflow), "--tier", "tier1,tier4", "--json"]
    result = CliRunner().invoke(cli, [*tiers, "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert [r["limits"]["haiku-4"]["otpm"] for r in json.loads(result.stdout)] == [8_000, 400_000]


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--otpm", "abc"], "--otpm: 'abc' is not valid"),
        (["--otpm", "8000,"], "--otpm: '' is not valid"),
        (["--rpm", "0"], "--rpm: '0' is not valid"),
        (["--itpm", "1.5"], "--itpm: '1.5' is not valid"),
        (["--tier", "tier9"], "did you mean 'tier4'"),
        (["--mode", "lazy"], "choose actual or legacy"),
        (["--output-tokens", "10", "--output-fraction", "0.5"], "not both"),
        (["--output-fraction", "2"], "output fraction must be in (0, 1]"),
        (["--tps", "0"], "tokens per second must be > 0"),
        (["--policy", "fastest"], "unknown policy 'fastest'"),
        (["--rpm", "1,2,3,4,5", "--otpm", "1,2,3,4"], "at most 16"),
    ],
)
def test_bad_flags_are_one_line_errors(
    cli: typer.Typer, workflow: Path, tmp_path: Path, flags: list[str], needle: str
) -> None:
    out = tmp_path / "runs"
    args = ["simulate", str(workflow), *flags, "--out", str(out)]
    stderr = _user_error(CliRunner().invoke(cli, args))
    assert needle in stderr
    assert not out.exists(), "nothing runs after a usage error"


def test_bad_limits_file_names_the_line(cli: typer.Typer, workflow: Path, tmp_path: Path) -> None:
    limits = tmp_path / "limits.yaml"
    limits.write_text("tier: tier1\nclasses:\n  haiku-4: {rpm: 5, itpm: 10, otpn: 3}\n")
    args = ["simulate", str(workflow), "--limits", str(limits), "--out", str(tmp_path / "o")]
    stderr = _user_error(CliRunner().invoke(cli, args))
    assert "limits.yaml:3" in stderr and "otpn" in stderr and "otpm" in stderr


def test_bad_workflow_is_a_config_error(cli: typer.Typer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntasks:\n  - id: a\n    prompt: p\n    depends_on: [b]\n")
    stderr = _user_error(CliRunner().invoke(cli, ["simulate", str(bad), "--out", str(tmp_path)]))
    assert "bad.yaml" in stderr and "'b'" in stderr


def test_goal_is_planned_then_simulated(cli: typer.Typer, tmp_path: Path) -> None:
    args = ["simulate", "--goal", "Compare the rate limits of three LLM APIs", "--json"]
    result = CliRunner().invoke(cli, [*args, "--otpm", "8000,80000", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["limits"][next(iter(r["limits"]))]["otpm"] for r in records] == [8_000, 80_000]
    for record in records:
        assert record["status"] == "succeeded"
        assert record["models"] and record["models"][0]["output_tokens"] > 0
        assert record["makespan_s"] > 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([], "no workflow given"),
        (["WORKFLOW", "--goal", "x"], "not both"),
        (["--goal", "   "], "the goal is empty"),
    ],
)
def test_file_or_goal(
    cli: typer.Typer, workflow: Path, tmp_path: Path, args: list[str], needle: str
) -> None:
    args = [str(workflow) if a == "WORKFLOW" else a for a in args]
    out = tmp_path / "runs"
    stderr = _user_error(CliRunner().invoke(cli, ["simulate", *args, "--out", str(out)]))
    assert needle in stderr
    assert not out.exists()
