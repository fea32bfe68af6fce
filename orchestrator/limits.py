"""Rate limits: per-model-class RPM / ITPM / OTPM, tier presets and model classes."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal

__all__ = [
    "MODEL_CLASSES",
    "TIERS",
    "AccountingMode",
    "BucketKind",
    "ExhaustionMode",
    "ModelLimits",
    "model_class",
    "tier_limits",
]

AccountingMode = Literal["actual", "legacy"]
"""`actual`: OTPM counts output as generated. `legacy`: max_tokens reserved at admission."""

ExhaustionMode = Literal["throttle", "debt", "error"]
"""What a server in `actual` mode does when output runs out mid-stream (undocumented)."""


class BucketKind(StrEnum):
    """The three buckets per model class."""

    REQUESTS = "requests"
    INPUT = "input_tokens"
    OUTPUT = "output_tokens"


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelLimits:
    """Per-minute limits of one model class; burst capacity defaults to the limit."""

    rpm: int
    itpm: int
    otpm: int
    rpm_burst: int | None = None
    itpm_burst: int | None = None
    otpm_burst: int | None = None

    def __post_init__(self) -> None:
        for name in ("rpm", "itpm", "otpm"):
            value = getattr(self, name)
            if value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")
            burst = getattr(self, f"{name}_burst")
            if burst is not None and burst <= 0:
                raise ValueError(f"{name}_burst must be > 0 (or None for = {name}), got {burst}")

    def limit(self, kind: BucketKind) -> int:
        """The per-minute limit of one bucket."""
        return {BucketKind.REQUESTS: self.rpm, BucketKind.INPUT: self.itpm}.get(kind, self.otpm)

    def capacity(self, kind: BucketKind) -> float:
        """Burst capacity: how much the bucket holds when full."""
        burst = {
            BucketKind.REQUESTS: self.rpm_burst,
            BucketKind.INPUT: self.itpm_burst,
            BucketKind.OUTPUT: self.otpm_burst,
        }[kind]
        return float(burst if burst is not None else self.limit(kind))

    def rate(self, kind: BucketKind) -> float:
        """Refill per second: limit / 60."""
        return self.limit(kind) / 60.0

    def scaled(self, factor: float) -> ModelLimits:
        """These limits times `factor` (e.g. a per-process share); at least 1 each."""

        def s(v: int | None) -> int | None:
            return None if v is None else max(1, int(v * factor))

        return replace(
            self,
            rpm=max(1, int(self.rpm * factor)),
            itpm=max(1, int(self.itpm * factor)),
            otpm=max(1, int(self.otpm * factor)),
            rpm_burst=s(self.rpm_burst),
            itpm_burst=s(self.itpm_burst),
            otpm_burst=s(self.otpm_burst),
        )


#: Tier presets (RPM / ITPM / OTPM), the same for each main current model class.
TIERS: dict[str, ModelLimits] = {
    "tier1": ModelLimits(rpm=50, itpm=30_000, otpm=8_000),
    "tier2": ModelLimits(rpm=1_000, itpm=450_000, otpm=90_000),
    "tier3": ModelLimits(rpm=2_000, itpm=800_000, otpm=160_000),
    "tier4": ModelLimits(rpm=4_000, itpm=2_000_000, otpm=400_000),
    "start": ModelLimits(rpm=1_000, itpm=2_000_000, otpm=400_000),
    "build": ModelLimits(rpm=5_000, itpm=5_000_000, otpm=1_000_000),
    "scale": ModelLimits(rpm=10_000, itpm=10_000_000, otpm=2_000_000),
}


def tier_limits(name: str) -> ModelLimits:
    """A tier preset by name; the error lists the known names."""
    key = name.strip().lower().replace(" ", "").replace("-", "").replace("_", "")
    if key not in TIERS:
        known = ", ".join(sorted(TIERS))
        raise ValueError(f"unknown tier {name!r}; known tiers: {known}")
    return TIERS[key]


#: Model classes pool models into one set of buckets (first matching pattern wins).
MODEL_CLASSES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("opus-5", re.compile(r"^claude-opus-5(?:[-.]\d+)?(?:-\d{8})?$")),
    ("opus-4", re.compile(r"^claude-opus-4(?:[-.]\d+)?(?:-\d{8})?$")),
    ("sonnet-5", re.compile(r"^claude-sonnet-5(?:[-.]\d+)?(?:-\d{8})?$")),
    ("sonnet-4", re.compile(r"^claude-sonnet-4(?:[-.]\d+)?(?:-\d{8})?$")),
    ("haiku-5", re.compile(r"^claude-haiku-5(?:[-.]\d+)?(?:-\d{8})?$")),
    ("haiku-4", re.compile(r"^claude-haiku-4(?:[-.]\d+)?(?:-\d{8})?$")),
)


def model_class(model: str) -> str | None:
    """The model class whose buckets `model` draws from, or None if unknown."""
    for name, pattern in MODEL_CLASSES:
        if pattern.match(model):
            return name
    return None
