"""`dagwright emulator`: serve the emulator, check it (`--selftest`) or show its config.

Every `EmulatorConfig` option has a flag; flags override `--config FILE` (YAML or TOML).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from orchestrator.emulator.config import EmulatorConfig, EmulatorConfigError, read_config_file

__all__ = ["build_config", "register"]

# One line per paragraph: the help renderer wraps paragraphs itself.
HELP = "\n\n".join(
    [
        "Serve a local emulator of the Anthropic Messages API.",
        "POST /v1/messages (JSON and SSE streaming), POST /v1/messages/count_tokens, "
        "GET /v1/models and GET /_emulator/stats, with the API's rate limits per (API key, "
        "model class): token buckets for requests, input tokens (input + cache writes, never "
        "cache reads) and output tokens, refilling at limit/60 per second up to the burst "
        "capacity; 429s with retry-after; prompt caching; a latency model; seeded content; "
        "fault injection. All options can also come from --config FILE.",
        "Accounting: 'actual' charges output tokens as they are generated; 'legacy' reserves "
        "max_tokens at admission and refunds the unused part at the end.",
        "Exhaustion (actual accounting, when the output bucket empties while streams run): "
        "'throttle' slows generation so running streams share the refill rate; 'debt' lets "
        "them finish, the bucket goes negative and new requests get 429 until it is repaid; "
        "'error' ends them with an SSE error event (non-streaming requests get the HTTP "
        "error).",
        "Content: metadata.emulator_output_tokens=N asks for exactly N output tokens (cut at "
        "max_tokens); metadata.emulator_tool_calls=N sets how many tool_use blocks an 'auto' "
        "tool answer has (0: text). Tokens are ceil(utf8_bytes/4) per text piece plus small "
        "per-message and per-block overheads. A prompt-cache entry becomes readable once its "
        "writing request has produced its first token.",
    ]
)

_LIMITS = "Limits"
_LATENCY = "Latency"
_FAULTS = "Faults"
_CACHE = "Prompt cache"
_CONTENT = "Content"
_SERVER = "Server"


def _set(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    if value is None:
        return
    node = target
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _scalar(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _class_fields(specs: list[str] | None, flag: str) -> dict[str, dict[str, Any]]:
    """`CLASS:field=value[,field=value]` items -> {class: {field: value}}."""
    out: dict[str, dict[str, Any]] = {}
    for spec in specs or []:
        cls, sep, rest = spec.partition(":")
        if not sep or not rest:
            raise EmulatorConfigError(f"{flag} {spec!r}: expected CLASS:field=value[,field=value]")
        for item in rest.split(","):
            name, eq, value = item.partition("=")
            if not eq:
                raise EmulatorConfigError(f"{flag} {spec!r}: {item!r} is not field=value")
            out.setdefault(cls.strip(), {})[name.strip()] = _scalar(value.strip())
    return out


def _windows(specs: list[str] | None) -> list[list[float]] | None:
    if not specs:
        return None
    out = []
    for spec in specs:
        start, sep, end = spec.partition(":")
        try:
            out.append([float(start), float(end)])
        except ValueError:
            raise EmulatorConfigError(
                f"--acceleration-window {spec!r}: expected START:END in seconds"
            ) from None
        if not sep:
            raise EmulatorConfigError(f"--acceleration-window {spec!r}: expected START:END")
    return out


def build_config(config_file: Path | None, flags: dict[str, Any]) -> EmulatorConfig:
    """The configuration from an optional file, overridden by the given flags."""
    data = read_config_file(config_file) if config_file is not None else {}
    patch: dict[str, Any] = {}
    for name in ("seed", "tier", "accounting", "exhaustion", "exhaustion_error_type"):
        _set(patch, (name,), flags.get(name))
    for name in ("spend_limit_usd", "max_body_bytes", "count_tokens_rpm", "wall_epoch"):
        _set(patch, (name,), flags.get(name))
    if flags.get("api_key"):
        patch["api_keys"] = list(flags["api_key"])
    if flags.get("model"):
        patch["models"] = list(flags["model"])
    for name in ("rpm", "itpm", "otpm", "rpm_burst", "itpm_burst", "otpm_burst", "burst_fraction"):
        _set(patch, ("limits", "*", name), flags.get(name))
    for cls, fields in _class_fields(flags.get("class_limit"), "--class-limit").items():
        for name, value in fields.items():
            _set(patch, ("limits", cls, name), value)
    if flags.get("no_latency"):
        zero = {
            "ttft_s": 0.0,
            "tokens_per_second": float("inf"),
            "prefill_s_per_token": 0.0,
            "jitter": 0.0,
        }
        patch.setdefault("latency", {})["*"] = zero
    for flag, name in (
        ("ttft", "ttft_s"),
        ("tokens_per_second", "tokens_per_second"),
        ("prefill_per_token", "prefill_s_per_token"),
        ("jitter", "jitter"),
    ):
        _set(patch, ("latency", "*", name), flags.get(flag))
    for cls, fields in _class_fields(flags.get("class_latency"), "--class-latency").items():
        for name, value in fields.items():
            _set(patch, ("latency", cls, name), value)
    for flag, name in (
        ("ramp", "enabled"),
        ("ramp_window", "window_s"),
        ("ramp_max_growth", "max_growth"),
        ("ramp_floor", "floor"),
    ):
        _set(patch, ("ramp", name), flags.get(flag))
    for flag, name in (
        ("fault_rate_limit", "rate_limit_429"),
        ("fault_overloaded", "overloaded_529"),
        ("fault_server_error", "server_500"),
        ("fault_connection_reset", "connection_reset"),
        ("fault_timeout", "timeout"),
        ("fault_midstream_error", "midstream_error"),
        ("fault_acceleration", "acceleration_429"),
        ("fault_retry_after", "retry_after_s"),
        ("fault_overloaded_retry_after", "overloaded_retry_after_s"),
        ("fault_timeout_seconds", "timeout_s"),
    ):
        _set(patch, ("faults", name), flags.get(flag))
    _set(patch, ("faults", "acceleration_windows"), _windows(flags.get("acceleration_window")))
    for flag, name in (
        ("cache_min_tokens", "min_tokens"),
        ("cache_ttl", "ttl_s"),
        ("cache_ttl_1h", "ttl_1h_s"),
    ):
        _set(patch, ("cache", name), flags.get(flag))
    for spec in flags.get("cache_min_tokens_class") or []:
        cls, eq, value = spec.partition("=")
        if not eq:
            raise EmulatorConfigError(f"--cache-min-tokens-class {spec!r}: expected CLASS=N")
        _set(patch, ("cache", "min_tokens_by_class", cls.strip()), _scalar(value.strip()))
    for flag, name in (
        ("output_median_tokens", "median_output_tokens"),
        ("output_sigma", "output_sigma"),
        ("stream_chunk_tokens", "stream_chunk_tokens"),
        ("nonstream_chunk_tokens", "nonstream_chunk_tokens"),
        ("content_seeding", "seeding"),
    ):
        _set(patch, ("content", name), flags.get(flag))
    source = str(config_file) if config_file is not None else "command line"
    return EmulatorConfig.load(_merge(data, patch), source=source)


def _opt(panel: str, help_text: str, *flags: str) -> Any:
    return typer.Option(*flags, help=help_text, rich_help_panel=panel)


OptInt = int | None
OptFloat = float | None
OptStr = str | None
Many = list[str] | None


def emulator_command(
    config_file: Annotated[
        Path | None, _opt(_SERVER, "YAML or TOML file of options; flags override it.", "--config")
    ] = None,
    host: Annotated[str, _opt(_SERVER, "Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, _opt(_SERVER, "Port to listen on.")] = 8080,
    log_level: Annotated[str, _opt(_SERVER, "uvicorn log level.")] = "info",
    selftest: Annotated[
        bool,
        _opt(
            _SERVER,
            "Start the emulator in-process, send a few requests through the anthropic SDK "
            "(plain, streaming, count_tokens, a 429 burst), print a report; exit 0 on success.",
            "--selftest",
        ),
    ] = False,
    print_config: Annotated[
        bool, _opt(_SERVER, "Print the resolved configuration as YAML and exit.", "--print-config")
    ] = False,
    api_key: Annotated[
        Many, _opt(_SERVER, "Accept only this API key (repeatable; default: any non-empty key).")
    ] = None,
    model: Annotated[
        Many,
        _opt(
            _SERVER,
            "A model listed by GET /v1/models (repeatable); any model of a known class is served.",
        ),
    ] = None,
    max_body_bytes: Annotated[
        OptInt, _opt(_SERVER, "Larger bodies get 413 request_too_large (default 32 MiB).")
    ] = None,
    wall_epoch: Annotated[
        OptFloat,
        _opt(_SERVER, "Unix time of the first request, for reproducible reset headers."),
    ] = None,
    seed: Annotated[
        OptInt, _opt(_CONTENT, "Seed of content, ids, jitter and faults (default 0).")
    ] = None,
    output_median_tokens: Annotated[
        OptInt, _opt(_CONTENT, "Median of the seeded lognormal text length (default 250).")
    ] = None,
    output_sigma: Annotated[
        OptFloat, _opt(_CONTENT, "Sigma of the lognormal text length (default 0.5).")
    ] = None,
    stream_chunk_tokens: Annotated[
        OptInt, _opt(_CONTENT, "Tokens per streamed delta (default 32).")
    ] = None,
    nonstream_chunk_tokens: Annotated[
        OptInt, _opt(_CONTENT, "Tokens per step of non-streaming generation (default 256).")
    ] = None,
    content_seeding: Annotated[
        OptStr,
        _opt(
            _CONTENT,
            "request (default): each answer seeded by (seed, request bytes), the same in any"
            " order; sequence: one seeded stream in request order.",
        ),
    ] = None,
    tier: Annotated[
        OptStr,
        _opt(_LIMITS, "Preset for every class: tier1-4, start, build, scale (default tier2)."),
    ] = None,
    rpm: Annotated[OptInt, _opt(_LIMITS, "Requests per minute, every class.")] = None,
    itpm: Annotated[OptInt, _opt(_LIMITS, "Input tokens per minute, every class.")] = None,
    otpm: Annotated[OptInt, _opt(_LIMITS, "Output tokens per minute, every class.")] = None,
    rpm_burst: Annotated[
        OptInt, _opt(_LIMITS, "Requests bucket capacity (default: the RPM).")
    ] = None,
    itpm_burst: Annotated[
        OptInt, _opt(_LIMITS, "Input-token bucket capacity (default: the ITPM).")
    ] = None,
    otpm_burst: Annotated[
        OptInt, _opt(_LIMITS, "Output-token bucket capacity (default: the OTPM).")
    ] = None,
    burst_fraction: Annotated[
        OptFloat,
        _opt(_LIMITS, "Capacity = limit x fraction where no burst is given (0.0167 = 1 s)."),
    ] = None,
    class_limit: Annotated[
        Many,
        _opt(
            _LIMITS,
            "Limits of one class, e.g. 'opus-4:tier=tier1,otpm=80000' (fields: tier, rpm, "
            "itpm, otpm, rpm_burst, itpm_burst, otpm_burst, burst_fraction; repeatable).",
        ),
    ] = None,
    accounting: Annotated[
        OptStr,
        _opt(
            _LIMITS,
            "'actual' (output charged as generated; default) or 'legacy' (max_tokens "
            "reserved at admission).",
        ),
    ] = None,
    exhaustion: Annotated[
        OptStr,
        _opt(
            _LIMITS,
            "When output runs out mid-stream (actual accounting): 'throttle' (default), "
            "'debt' or 'error'.",
        ),
    ] = None,
    exhaustion_error_type: Annotated[
        OptStr,
        _opt(
            _LIMITS,
            "Error type of exhaustion 'error': 'rate_limit_error' (default) or 'overloaded_error'.",
        ),
    ] = None,
    count_tokens_rpm: Annotated[
        OptInt, _opt(_LIMITS, "count_tokens requests per minute per key (default 8000).")
    ] = None,
    spend_limit_usd: Annotated[
        OptFloat,
        _opt(
            _LIMITS,
            "Spend cap per key in USD; then 429 enforced_spend_limit_reached, no retry-after.",
        ),
    ] = None,
    ramp: Annotated[
        bool | None,
        _opt(
            _LIMITS,
            "Acceleration limit: 429 ramp_limit_exceeded when traffic grows too fast "
            "(default off).",
            "--ramp/--no-ramp",
        ),
    ] = None,
    ramp_window: Annotated[
        OptFloat, _opt(_LIMITS, "Acceleration window in seconds (default 60).")
    ] = None,
    ramp_max_growth: Annotated[
        OptFloat, _opt(_LIMITS, "Requests allowed per window vs the previous one (default 2).")
    ] = None,
    ramp_floor: Annotated[
        OptInt, _opt(_LIMITS, "Requests per window that never trigger it (default 100).")
    ] = None,
    no_latency: Annotated[
        bool, _opt(_LATENCY, "Instant answers for every class.", "--no-latency")
    ] = False,
    ttft: Annotated[OptFloat, _opt(_LATENCY, "Time to first token (s), every class.")] = None,
    tokens_per_second: Annotated[
        OptFloat, _opt(_LATENCY, "Output tokens per second ('inf': instant), every class.")
    ] = None,
    prefill_per_token: Annotated[
        OptFloat, _opt(_LATENCY, "Seconds of prefill per input token, every class.")
    ] = None,
    jitter: Annotated[
        OptFloat, _opt(_LATENCY, "Jitter j: a seeded latency factor in [1-j, 1+j] per request.")
    ] = None,
    class_latency: Annotated[
        Many,
        _opt(
            _LATENCY,
            "Latency of one class, e.g. 'opus-4:ttft_s=1.5,tokens_per_second=25' (fields: "
            "ttft_s, tokens_per_second, prefill_s_per_token, jitter; repeatable).",
        ),
    ] = None,
    fault_rate_limit: Annotated[
        OptFloat, _opt(_FAULTS, "Probability of an injected 429 rate_limit_error.")
    ] = None,
    fault_overloaded: Annotated[
        OptFloat, _opt(_FAULTS, "Probability of a 529 overloaded_error.")
    ] = None,
    fault_server_error: Annotated[
        OptFloat, _opt(_FAULTS, "Probability of a 500 api_error.")
    ] = None,
    fault_connection_reset: Annotated[
        OptFloat, _opt(_FAULTS, "Probability of a dropped connection.")
    ] = None,
    fault_timeout: Annotated[
        OptFloat, _opt(_FAULTS, "Probability that the server hangs (--fault-timeout-seconds).")
    ] = None,
    fault_midstream_error: Annotated[
        OptFloat, _opt(_FAULTS, "Probability of an SSE error event halfway through a stream.")
    ] = None,
    fault_acceleration: Annotated[
        OptFloat, _opt(_FAULTS, "Probability of a 429 ramp_limit_exceeded.")
    ] = None,
    fault_retry_after: Annotated[
        OptInt, _opt(_FAULTS, "retry-after seconds of injected 429s (default 1).")
    ] = None,
    fault_overloaded_retry_after: Annotated[
        OptInt,
        _opt(
            _FAULTS,
            "retry-after seconds of injected 529s (default: none).",
            "--fault-529-retry-after",
        ),
    ] = None,
    fault_timeout_seconds: Annotated[
        OptFloat,
        _opt(_FAULTS, "How long a hang lasts before a 504 timeout_error (default 900)."),
    ] = None,
    acceleration_window: Annotated[
        Many,
        _opt(
            _FAULTS,
            "START:END seconds after the first request during which every request gets "
            "429 ramp_limit_exceeded (repeatable).",
        ),
    ] = None,
    cache_min_tokens: Annotated[
        OptInt, _opt(_CACHE, "Shortest cacheable prefix in tokens (default 1024).")
    ] = None,
    cache_min_tokens_class: Annotated[
        Many,
        _opt(
            _CACHE,
            "Shortest cacheable prefix of one class, CLASS=N (default 2048 for haiku-4 and "
            "haiku-5; repeatable).",
        ),
    ] = None,
    cache_ttl: Annotated[
        OptFloat, _opt(_CACHE, "TTL of 5m cache entries in seconds (default 300).")
    ] = None,
    cache_ttl_1h: Annotated[
        OptFloat, _opt(_CACHE, "TTL of 1h cache entries in seconds (default 3600).")
    ] = None,
) -> None:
    """Serve the emulator (see `dagwright emulator --help`)."""
    flags = dict(locals())
    try:
        config = build_config(config_file, flags)
    except EmulatorConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if print_config:
        typer.echo(
            yaml.safe_dump(config.model_dump(mode="json", exclude_none=True), sort_keys=False),
            nl=False,
        )
        return
    if selftest:
        from orchestrator.emulator._selftest import format_report, run_selftest

        checks = run_selftest(config)
        typer.echo(format_report(config, checks))
        raise typer.Exit(0 if all(c.ok for c in checks) else 1)
    from orchestrator.emulator.server import serve

    typer.echo(f"dagwright emulator on http://{host}:{port} (Ctrl-C to stop)", err=True)
    serve(config, host=host, port=port, log_level=log_level)


def register(app: typer.Typer) -> None:
    """Add the `emulator` command to the `dagwright` CLI."""
    app.command("emulator", help=HELP, no_args_is_help=False)(emulator_command)
