"""`EmulatorConfig`: everything the emulator can be told, loadable from YAML or TOML.

Limits: one tier preset (`tier`, default `tier2`) for every model class of
`orchestrator.limits.MODEL_CLASSES`, with overrides per class under `limits` (key `"*"`
for all classes; a class entry wins over `"*"`). Burst capacity (what a bucket holds
when full) defaults to the per-minute limit; set `*_burst` or `burst_fraction` for a
server whose true burst is smaller.

Latency: per-family defaults (see `latency.DEFAULT_LATENCY`), overridable per class or
for all (`"*"`). Faults: seeded probabilities per request (see `faults`). Everything is
validated at load time; unknown keys are errors.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestrator.emulator.latency import LatencyModel, default_latency
from orchestrator.limits import (
    MODEL_CLASSES,
    AccountingMode,
    ExhaustionMode,
    ModelLimits,
    model_class,
    tier_limits,
)

__all__ = [
    "DEFAULT_MODELS",
    "CacheConfig",
    "ContentConfig",
    "EmulatorConfig",
    "EmulatorConfigError",
    "FaultConfig",
    "LatencyOverride",
    "LimitOverride",
    "RampConfig",
]

CLASS_NAMES: tuple[str, ...] = tuple(name for name, _ in MODEL_CLASSES)
ALL_CLASSES = "*"

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveInt = Annotated[int, Field(gt=0)]

#: Listed by `GET /v1/models`; any model name of a known class is accepted regardless.
DEFAULT_MODELS: tuple[str, ...] = (
    "claude-opus-5-5",
    "claude-opus-5",
    "claude-opus-4-8",
    "claude-sonnet-5-5",
    "claude-sonnet-5",
    "claude-sonnet-4-6",
    "claude-haiku-5-5",
    "claude-haiku-4-5",
)


class EmulatorConfigError(ValueError):
    """A configuration mistake, naming the file (if any) and the path of each bad value."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_class_keys(keys: Any, what: str) -> None:
    for key in keys:
        if key != ALL_CLASSES and key not in CLASS_NAMES:
            close = difflib.get_close_matches(str(key), CLASS_NAMES, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"unknown model class {key!r} in {what}; {hint}"
                f"known: {', '.join(CLASS_NAMES)} (or '*' for all)"
            )


class LimitOverride(_Model):
    """Limits of one model class (or of all, under `"*"`) on top of the tier preset.

    `tier` picks another preset for this class; `rpm`/`itpm`/`otpm` are per-minute
    limits; `*_burst` are bucket capacities; `burst_fraction` sets every capacity not
    given explicitly to `limit * fraction`.
    """

    tier: str | None = None
    rpm: PositiveInt | None = None
    itpm: PositiveInt | None = None
    otpm: PositiveInt | None = None
    rpm_burst: PositiveInt | None = None
    itpm_burst: PositiveInt | None = None
    otpm_burst: PositiveInt | None = None
    burst_fraction: Annotated[float, Field(gt=0.0, le=1.0)] | None = None

    @field_validator("tier")
    @classmethod
    def _known_tier(cls, value: str | None) -> str | None:
        if value is not None:
            tier_limits(value)
        return value


class LatencyOverride(_Model):
    """Latency of one model class (or of all, under `"*"`); unset fields keep defaults."""

    ttft_s: Annotated[float, Field(ge=0.0)] | None = None
    tokens_per_second: Annotated[float, Field(gt=0.0)] | None = None
    prefill_s_per_token: Annotated[float, Field(ge=0.0)] | None = None
    jitter: Annotated[float, Field(ge=0.0, lt=1.0)] | None = None


class RampConfig(_Model):
    """Acceleration limit (see `ramp`); off by default since no numbers are published."""

    enabled: bool = False
    window_s: Annotated[float, Field(gt=0.0)] = 60.0
    max_growth: Annotated[float, Field(ge=1.0)] = 2.0
    floor: PositiveInt = 100


class FaultConfig(_Model):
    """Seeded fault probabilities per Messages request (they must sum to <= 1).

    `retry_after_s` is the `retry-after` of injected 429s; `overloaded_retry_after_s`
    that of injected 529s (none by default); `timeout_s` how long a hang lasts before a
    504; `acceleration_windows` are `[start, end)` seconds after the emulator's first
    request during which every Messages request gets 429 `ramp_limit_exceeded` (an
    acceleration-limit episode). See `faults` for what each fault looks like.
    """

    rate_limit_429: Probability = 0.0
    overloaded_529: Probability = 0.0
    server_500: Probability = 0.0
    connection_reset: Probability = 0.0
    timeout: Probability = 0.0
    midstream_error: Probability = 0.0
    acceleration_429: Probability = 0.0
    retry_after_s: PositiveInt = 1
    overloaded_retry_after_s: PositiveInt | None = None
    timeout_s: Annotated[float, Field(gt=0.0)] = 900.0
    acceleration_windows: tuple[tuple[float, float], ...] = ()

    @model_validator(mode="after")
    def _check(self) -> FaultConfig:
        total = sum(getattr(self, name) for name in FAULT_FIELDS)
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities sum to {total:g}; they must sum to <= 1")
        for start, end in self.acceleration_windows:
            if not 0 <= start < end:
                raise ValueError(
                    f"acceleration window ({start}, {end}) must have 0 <= start < end seconds"
                )
        return self


FAULT_FIELDS: tuple[str, ...] = (
    "rate_limit_429",
    "overloaded_529",
    "server_500",
    "connection_reset",
    "timeout",
    "midstream_error",
    "acceleration_429",
)


def _haiku_minimum() -> dict[str, int]:
    return {"haiku-4": 2048, "haiku-5": 2048}


class CacheConfig(_Model):
    """Prompt caching: the shortest cacheable prefix (per class where given) and the
    TTLs of `5m` and `1h` entries in seconds."""

    min_tokens: PositiveInt = 1024
    min_tokens_by_class: dict[str, PositiveInt] = Field(default_factory=_haiku_minimum)
    ttl_s: Annotated[float, Field(gt=0.0)] = 300.0
    ttl_1h_s: Annotated[float, Field(gt=0.0)] = 3600.0

    @field_validator("min_tokens_by_class")
    @classmethod
    def _classes(cls, value: dict[str, int]) -> dict[str, int]:
        _check_class_keys(value, "cache.min_tokens_by_class")
        return value


class ContentConfig(_Model):
    """Generated content: the lognormal text length (median, sigma) used when a request
    does not ask for one, and the tokens per generation step (streamed delta, or step
    of a non-streaming answer; also the granularity of output throttling)."""

    median_output_tokens: PositiveInt = 250
    output_sigma: Annotated[float, Field(ge=0.0)] = 0.5
    stream_chunk_tokens: PositiveInt = 32
    nonstream_chunk_tokens: PositiveInt = 256
    seeding: Literal["request", "sequence"] = "request"
    """`request`: each answer is seeded by (seed, request bytes), so the same request gets
    the same answer in any order (resumed and real-time runs reproduce). `sequence`: one
    stream for the whole emulator (same seed + same requests in the same order)."""


class EmulatorConfig(_Model):
    """The whole emulator configuration (pydantic; unknown keys are errors).

    `seed` drives content, ids, jitter and faults. `tier`/`limits`: see the module
    docstring. `accounting`/`exhaustion`/`exhaustion_error_type`: see `_generation`.
    `spend_limit_usd` caps each API key's spend (priced with `orchestrator.pricing`).
    `max_body_bytes` bounds request bodies (413 beyond); `count_tokens_rpm` is the
    separate `count_tokens` limit; `api_keys` restricts accepted keys (None: any);
    `wall_epoch` fixes the Unix time of the first request (for reproducible reset
    headers; default: the time of construction); `models` are listed by `/v1/models`.
    """

    seed: int = 0
    tier: str = "tier2"
    limits: dict[str, LimitOverride] = Field(default_factory=dict)
    accounting: AccountingMode = "actual"
    exhaustion: ExhaustionMode = "throttle"
    exhaustion_error_type: Literal["rate_limit_error", "overloaded_error"] = "rate_limit_error"
    ramp: RampConfig = Field(default_factory=RampConfig)
    spend_limit_usd: Annotated[float, Field(ge=0.0)] | None = None
    latency: dict[str, LatencyOverride] = Field(default_factory=dict)
    faults: FaultConfig = Field(default_factory=FaultConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    content: ContentConfig = Field(default_factory=ContentConfig)
    max_body_bytes: PositiveInt = 32 * 1024 * 1024
    count_tokens_rpm: PositiveInt = 8_000
    api_keys: tuple[str, ...] | None = None
    wall_epoch: float | None = None
    models: tuple[str, ...] = DEFAULT_MODELS

    @field_validator("tier")
    @classmethod
    def _known_tier(cls, value: str) -> str:
        tier_limits(value)
        return value

    @field_validator("limits")
    @classmethod
    def _limit_classes(cls, value: dict[str, LimitOverride]) -> dict[str, LimitOverride]:
        _check_class_keys(value, "limits")
        return value

    @field_validator("latency")
    @classmethod
    def _latency_classes(cls, value: dict[str, LatencyOverride]) -> dict[str, LatencyOverride]:
        _check_class_keys(value, "latency")
        return value

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if model_class(name) is None:
                raise ValueError(f"model {name!r} belongs to no known model class")
        return value

    def model_limits(self, cls: str) -> ModelLimits:
        """The limits of model class `cls`: tier preset, then `"*"`, then the class entry."""
        layers = [o for o in (self.limits.get(ALL_CLASSES), self.limits.get(cls)) if o]
        tier = self.tier
        for layer in layers:
            tier = layer.tier or tier
        base = tier_limits(tier)
        values: dict[str, Any] = {
            "rpm": base.rpm,
            "itpm": base.itpm,
            "otpm": base.otpm,
            "rpm_burst": base.rpm_burst,
            "itpm_burst": base.itpm_burst,
            "otpm_burst": base.otpm_burst,
        }
        fraction: float | None = None
        for layer in layers:
            for name in values:
                given = getattr(layer, name)
                if given is not None:
                    values[name] = given
            fraction = layer.burst_fraction if layer.burst_fraction is not None else fraction
        if fraction is not None:
            for name in ("rpm", "itpm", "otpm"):
                if values[f"{name}_burst"] is None:
                    values[f"{name}_burst"] = max(1, math.floor(values[name] * fraction))
        return ModelLimits(**values)

    def latency_model(self, cls: str) -> LatencyModel:
        """The latency of model class `cls`: family default, then `"*"`, then the class."""
        base = default_latency(cls)
        ttft, tps = base.ttft, base.tokens_per_second
        prefill, jitter = base.prefill_per_token, base.jitter
        for layer in (self.latency.get(ALL_CLASSES), self.latency.get(cls)):
            if layer is None:
                continue
            ttft = layer.ttft_s if layer.ttft_s is not None else ttft
            tps = layer.tokens_per_second if layer.tokens_per_second is not None else tps
            if layer.prefill_s_per_token is not None:
                prefill = layer.prefill_s_per_token
            jitter = layer.jitter if layer.jitter is not None else jitter
        return LatencyModel(
            ttft=ttft, tokens_per_second=tps, prefill_per_token=prefill, jitter=jitter
        )

    def cache_min_tokens(self, cls: str) -> int:
        """The minimum cacheable prefix of model class `cls`."""
        return self.cache.min_tokens_by_class.get(cls, self.cache.min_tokens)

    def without_latency(self) -> EmulatorConfig:
        """This configuration with instant answers for every class."""
        zero = LatencyOverride(
            ttft_s=0.0, tokens_per_second=math.inf, prefill_s_per_token=0.0, jitter=0.0
        )
        return self.model_copy(update={"latency": {ALL_CLASSES: zero}})

    @classmethod
    def load(cls, data: Any, *, source: str | None = None) -> EmulatorConfig:
        """Validate plain data; errors become one `EmulatorConfigError` naming each path."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise EmulatorConfigError(_describe(exc, source)) from None

    @classmethod
    def from_file(cls, path: str | Path) -> EmulatorConfig:
        """Load a `.yaml`/`.yml` or `.toml` file."""
        return cls.load(read_config_file(path), source=str(path))


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The plain data of a YAML or TOML configuration file (an empty file is `{}`)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise EmulatorConfigError(f"{file}: cannot read: {exc.strerror or exc}") from None
    suffix = file.suffix.lower()
    try:
        if suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise EmulatorConfigError(f"{file}: unknown format; use .yaml, .yml or .toml")
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise EmulatorConfigError(f"{file}: not valid {suffix[1:].upper()}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise EmulatorConfigError(f"{file}: the top level must be a mapping of options")
    return data


def _describe(exc: ValidationError, source: str | None) -> str:
    lines = []
    prefix = f"{source}: " if source else ""
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        if err["type"] == "extra_forbidden":
            message = f"unknown option {err['loc'][-1]!r}"
            allowed = _allowed_at(err["loc"][:-1])
            close = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
            if close:
                message += f"; did you mean {close[0]!r}?"
            elif allowed:
                message += f"; allowed: {', '.join(sorted(allowed))}"
        else:
            got = repr(err.get("input"))
            got = got if len(got) <= 60 else got[:57] + "..."
            message = f"{err['msg'].removeprefix('Value error, ')} (got {got})"
        lines.append(f"{prefix}{loc}: {message}")
    return "\n".join(lines)


def _allowed_at(loc: tuple[int | str, ...]) -> list[str]:
    """The option names allowed at `loc` (for did-you-mean hints)."""
    model: type[BaseModel] = EmulatorConfig
    parts = [str(p) for p in loc]
    while parts:
        part = parts.pop(0)
        if model is EmulatorConfig and part in _PER_CLASS:
            if not parts:
                return []
            parts.pop(0)  # the model-class key
            model = _PER_CLASS[part]
            continue
        field = model.model_fields.get(part)
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


_PER_CLASS: dict[str, type[BaseModel]] = {"limits": LimitOverride, "latency": LatencyOverride}
