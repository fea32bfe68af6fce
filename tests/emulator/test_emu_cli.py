"""`dagwright emulator`: help, configuration from file and flags, the selftest."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.emulator import EmulatorConfig, EmulatorConfigError
from orchestrator.emulator._cli import build_config, register

runner = CliRunner()
if not any(command.name == "emulator" for command in app.registered_commands):
    register(app)


def test_help_documents_every_option() -> None:
    result = runner.invoke(app, ["emulator", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    text = result.output
    for needle in ("throttle", "debt", "error", "legacy", "emulator_output_tokens", "first token"):
        assert needle in text
    flags = [
        "--config", "--host", "--port", "--selftest", "--print-config", "--seed", "--tier",
        "--rpm", "--itpm", "--otpm", "--rpm-burst", "--itpm-burst", "--otpm-burst",
        "--burst-fraction", "--class-limit", "--accounting", "--exhaustion",
        "--exhaustion-error-type", "--ramp", "--ramp-window", "--ramp-max-growth",
        "--ramp-floor", "--spend-limit-usd", "--no-latency", "--ttft", "--tokens-per-second",
        "--prefill-per-token", "--jitter", "--class-latency", "--fault-rate-limit",
        "--fault-overloaded", "--fault-server-error", "--fault-connection-reset",
        "--fault-timeout", "--fault-midstream-error", "--fault-acceleration",
        "--fault-retry-after", "--fault-529-retry-after", "--fault-timeout-seconds",
        "--acceleration-window", "--cache-min-tokens", "--cache-min-tokens-class",
        "--cache-ttl", "--cache-ttl-1h", "--output-median-tokens", "--output-sigma",
        "--stream-chunk-tokens", "--nonstream-chunk-tokens", "--max-body-bytes",
        "--count-tokens-rpm", "--content-seeding", "--api-key", "--wall-epoch", "--model",
        "--log-level",
    ]  # fmt: skip
    missing = [flag for flag in flags if flag not in text]
    assert not missing


def _leaf_options(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every leaf option of the config model, as dotted paths."""
    out = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out |= _leaf_options(annotation, f"{prefix}{name}.")
        else:
            out.add(f"{prefix}{name}")
    return out


def test_every_config_option_has_a_flag() -> None:
    covered = {
        "seed", "tier", "limits", "accounting", "exhaustion", "exhaustion_error_type",
        "ramp.enabled", "ramp.window_s", "ramp.max_growth", "ramp.floor", "spend_limit_usd",
        "latency", "faults.rate_limit_429", "faults.overloaded_529", "faults.server_500",
        "faults.connection_reset", "faults.timeout", "faults.midstream_error",
        "faults.acceleration_429", "faults.retry_after_s", "faults.overloaded_retry_after_s",
        "faults.timeout_s", "faults.acceleration_windows", "cache.min_tokens",
        "cache.min_tokens_by_class", "cache.ttl_s", "cache.ttl_1h_s",
        "content.median_output_tokens", "content.output_sigma", "content.stream_chunk_tokens",
        "content.nonstream_chunk_tokens", "content.seeding", "max_body_bytes", "count_tokens_rpm",
        "api_keys",
        "wall_epoch", "models",
    }  # fmt: skip
    assert _leaf_options(EmulatorConfig) == covered


def test_flags_override_the_file(tmp_path: Path) -> None:
    file = tmp_path / "emu.yaml"
    file.write_text(
        "seed: 3\ntier: tier1\naccounting: legacy\nlimits:\n  opus-4: {otpm: 80000}\n"
        "faults: {overloaded_529: 0.01}\n"
    )
    flags = {
        "seed": 9,
        "class_limit": ["opus-4:rpm=70,otpm_burst=1000", "sonnet-4:tier=tier3"],
        "no_latency": True,
        "ttft": 0.25,
        "fault_midstream_error": 0.02,
        "acceleration_window": ["10:20"],
        "cache_min_tokens_class": ["haiku-4=4096"],
        "api_key": ["a", "b"],
    }
    config = build_config(file, flags)
    assert config.seed == 9 and config.accounting == "legacy"
    opus = config.model_limits("opus-4")
    assert (opus.rpm, opus.itpm, opus.otpm, opus.otpm_burst) == (70, 30_000, 80_000, 1000)
    assert config.model_limits("sonnet-4").rpm == 2000
    latency = config.latency_model("opus-4")
    assert latency.ttft == 0.25 and math.isinf(latency.tokens_per_second)
    assert config.faults.overloaded_529 == 0.01 and config.faults.midstream_error == 0.02
    assert config.faults.acceleration_windows == ((10.0, 20.0),)
    assert config.cache_min_tokens("haiku-4") == 4096
    assert config.api_keys == ("a", "b")


def test_toml_file(tmp_path: Path) -> None:
    file = tmp_path / "emu.toml"
    file.write_text('exhaustion = "debt"\n[limits."*"]\nburst_fraction = 0.5\n')
    config = EmulatorConfig.from_file(file)
    assert config.exhaustion == "debt"
    assert config.model_limits("haiku-5").rpm_burst == 500


def test_config_errors_name_the_path_and_suggest(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text("faults:\n  timout: 0.1\nlimits:\n  '*': {rpm: -1}\n")
    with pytest.raises(EmulatorConfigError) as info:
        EmulatorConfig.from_file(file)
    text = str(info.value)
    assert f"{file}: faults.timout: unknown option 'timout'; did you mean 'timeout'?" in text
    assert "limits.*.rpm" in text
    with pytest.raises(EmulatorConfigError, match="did you mean 'opus-4'"):
        EmulatorConfig.load({"limits": {"opus4": {"rpm": 1}}})


def test_cli_reports_config_errors_without_a_traceback() -> None:
    result = runner.invoke(app, ["emulator", "--tier", "tier9", "--print-config"])
    assert result.exit_code == 2
    assert "unknown tier 'tier9'" in result.output
    bad = runner.invoke(app, ["emulator", "--class-limit", "opus-4", "--print-config"])
    assert bad.exit_code == 2 and "CLASS:field=value" in bad.output


def test_print_config_round_trips(tmp_path: Path) -> None:
    result = runner.invoke(app, ["emulator", "--print-config", "--no-latency", "--rpm", "77"])
    assert result.exit_code == 0, result.output
    file = tmp_path / "printed.yaml"
    file.write_text(result.output)
    config = EmulatorConfig.from_file(file)
    assert config.model_limits("opus-5").rpm == 77
    assert config.latency_model("opus-5").instant


def test_selftest_passes() -> None:
    result = runner.invoke(app, ["emulator", "--selftest", "--seed", "4"])
    assert result.exit_code == 0, result.output
    assert "4/4 checks passed" in result.output
    assert "429" in result.output


def test_request_seeding_gives_the_same_answer_in_any_order() -> None:
    import asyncio

    from orchestrator.emulator import Emulator, EmulatorConfig

    async def answers(order: list[int]) -> dict[int, str]:
        emulator = Emulator(
            EmulatorConfig(seed=3, latency={"*": {"ttft_s": 0, "tokens_per_second": 1e9}})
        )
        client = emulator.anthropic()
        out = {}
        for i in order:
            message = await client.messages.create(
                model="claude-sonnet-5",
                max_tokens=200,
                messages=[{"role": "user", "content": f"question {i}"}],
            )
            out[i] = message.content[0].text
        return out

    forward = asyncio.run(answers([0, 1, 2]))
    backward = asyncio.run(answers([2, 1, 0]))
    assert forward == backward
    assert len(set(forward.values())) == 3
