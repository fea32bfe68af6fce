"""Scenarios of a simulation: which limits and accounting mode one simulated run uses.

The limits start from `--limits FILE` (a `limits:` block as in a workflow), else the
workflow's own `limits`, else `DEFAULT_TIER` (the emulator's default). A scenario's `tier`
replaces them with a tier preset for every model class; its `rpm`/`itpm`/`otpm` then
override that number for every class the workflow uses (the burst of an overridden
bucket becomes its limit). Lists of values become one scenario per combination.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.graph import TaskGraph
from orchestrator.limits import TIERS, AccountingMode, ModelLimits, model_class
from orchestrator.spec import ClassLimits, LimitsSpec, WorkflowSpec

__all__ = ["DEFAULT_TIER", "MAX_SCENARIOS", "Scenario", "expand_scenarios", "scenario_spec"]

DEFAULT_TIER = "tier2"
MAX_SCENARIOS = 16
"""More combinations than this are refused: the table would not be readable."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Scenario:
    """Overrides of one simulated run; unset fields keep the workflow's settings."""

    tier: str | None = None
    rpm: int | None = None
    itpm: int | None = None
    otpm: int | None = None
    mode: AccountingMode | None = None
    limits: LimitsSpec | None = None

    def __post_init__(self) -> None:
        if self.tier is not None and self.tier not in TIERS:
            raise ValueError(f"unknown tier {self.tier!r}; known tiers: {', '.join(TIERS)}")
        for name in ("rpm", "itpm", "otpm"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")

    @property
    def label(self) -> str:
        """What this scenario changes, e.g. `otpm 8,000 · legacy`, or `as written`."""
        parts = []
        if self.tier is not None:
            parts.append(self.tier)
        for name in ("rpm", "itpm", "otpm"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name} {value:,}")
        if self.mode is not None:
            parts.append(self.mode)
        return " · ".join(parts) or "as written"


def expand_scenarios(
    *,
    tiers: Sequence[str] = (),
    rpms: Sequence[int] = (),
    itpms: Sequence[int] = (),
    otpms: Sequence[int] = (),
    modes: Sequence[AccountingMode] = (),
    limits: LimitsSpec | None = None,
) -> list[Scenario]:
    """One scenario per combination of the given values (an empty list: leave as is)."""
    tier_axis: list[str | None] = [*tiers] or [None]
    rpm_axis: list[int | None] = [*rpms] or [None]
    itpm_axis: list[int | None] = [*itpms] or [None]
    otpm_axis: list[int | None] = [*otpms] or [None]
    mode_axis: list[AccountingMode | None] = [*modes] or [None]
    combos = list(itertools.product(tier_axis, rpm_axis, itpm_axis, otpm_axis, mode_axis))
    if len(combos) > MAX_SCENARIOS:
        raise ValueError(
            f"{len(combos)} scenarios asked for (the product of every list given); "
            f"at most {MAX_SCENARIOS} fit side by side: give fewer values"
        )
    return [
        Scenario(tier=t, rpm=r, itpm=i, otpm=o, mode=m, limits=limits) for t, r, i, o, m in combos
    ]


def _classes(spec: WorkflowSpec) -> list[str]:
    """The model classes the workflow's model tasks use, in first-use order."""
    out: list[str] = []
    for node in TaskGraph.from_spec(spec):
        cls = model_class(node.model or "") if node.kind != "step" else None
        if cls is not None and cls not in out:
            out.append(cls)
    return out


def _base(spec: WorkflowSpec, scenario: Scenario, cls: str) -> ModelLimits:
    if scenario.tier is not None:
        return TIERS[scenario.tier]
    written = scenario.limits if scenario.limits is not None else spec.limits
    limits = written.for_class(cls) if written is not None else None
    return limits if limits is not None else TIERS[DEFAULT_TIER]


def scenario_spec(spec: WorkflowSpec, scenario: Scenario) -> WorkflowSpec:
    """`spec` with explicit limits for every model class it uses, as `scenario` says."""
    written = scenario.limits if scenario.limits is not None else spec.limits
    mode = scenario.mode or (written.accounting if written is not None else "actual")
    classes = {}
    for cls in _classes(spec):
        base = _base(spec, scenario, cls)
        values = {
            "rpm": base.rpm,
            "itpm": base.itpm,
            "otpm": base.otpm,
            "rpm_burst": base.rpm_burst,
            "itpm_burst": base.itpm_burst,
            "otpm_burst": base.otpm_burst,
        }
        for name in ("rpm", "itpm", "otpm"):
            value = getattr(scenario, name)
            if value is not None:
                values[name] = value
                values[f"{name}_burst"] = None
        classes[cls] = ClassLimits.model_validate(values)
    limits = LimitsSpec(accounting=mode, classes=classes)
    return spec.model_copy(update={"limits": limits})
