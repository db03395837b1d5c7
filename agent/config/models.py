"""The config file's shape: frozen models that reject unknown keys and say where a value is wrong.

A probe names its kind by the one block it carries (``http:``, ``tcp:``, ...), so error paths
read like ``patterns.bill_pay.integrations.processor.probes.health.http.url``. The set of kinds
comes from the prober registry and the set of policies from the policy registry; no list of
either is written here. Conditions are compiled here, once, so a bad one is an error at its
own line and the plan takes them as they are.
"""

from __future__ import annotations

import difflib
import functools
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ByteSize,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from agent.conditions.evaluate import Condition
from agent.conditions.parser import ConditionError, compile_condition
from agent.fields import Duration, LabelName, Name, Percent, PositiveDuration
from agent.policies.config import ComplianceConfig, PolicySet
from agent.probers import REGISTRY
from agent.probers.base import ProberSpec
from agent.sharding import MAX_SHARDS
from agent.thresholds import SIGNALS, parse_level
from agent.timing import timeout_problem
from exporters.config import ExportersConfig


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Threshold(Frozen):
    """Warning and critical levels of one signal, as written; either may be left out. The
    probe reads them in the signal's unit (a duration, or a percentage)."""

    warning: float | str | None = None
    critical: float | str | None = None


class StateSettings(Frozen):
    """Hysteresis and flapping, like Gatus and Icinga: one lost packet must not page anyone."""

    failures_to_down: int = Field(default=3, ge=1, le=100)
    successes_to_recover: int = Field(default=2, ge=1, le=100)
    flapping_window: PositiveDuration = 600.0
    flapping_changes: int = Field(default=6, ge=2, le=1000)


class ShardSettings(Frozen):
    """``shard: {index: i, total: n}``: this agent runs shard i of n of the config's probes
    (agent/sharding.py says which); ``--shard`` wins over it, and it over the environment."""

    total: int = Field(ge=1, le=MAX_SHARDS, description="how many shards the probes are split in")
    index: int = Field(ge=0, description="which of them this agent runs, from 0 to total - 1")

    @field_validator("index")
    @classmethod
    def _within(cls, value: int, info: ValidationInfo) -> int:
        total = info.data.get("total")
        if total is not None and value >= total:
            raise ValueError(f"must be below total ({total}): shards are numbered 0 to {total - 1}")
        return value


class AgentSettings(Frozen):
    listen: str = Field(default=":9469", description="host:port of the HTTP listener")
    web_config: str | None = Field(
        default=None,
        description="the listener's web config file (exporter-toolkit format: TLS, basic auth, "
        "headers), relative to this file; --web.config.file overrides it",
    )
    name: str | None = Field(
        default=None, description="this agent's name; default $POD_NAME, else the host name"
    )
    location: str | None = Field(
        default=None, description="zone or site; default $OVERSIGHT_LOCATION, else unset"
    )
    interval: PositiveDuration = 30.0
    timeout: PositiveDuration = 10.0
    concurrency: int = Field(default=256, ge=1, le=100_000, description="probes in flight at most")
    labels: dict[LabelName, str] = Field(default_factory=dict)
    state: StateSettings = StateSettings()
    history: int = Field(
        default=60,
        ge=0,
        le=1440,
        description="runs of each probe kept for the status page and API (9 bytes a run); "
        "0 keeps none",
    )
    histograms: bool = Field(
        default=False,
        description="export each probe's run-duration histogram (14 series a probe); a probe's "
        "own histogram: true or false wins",
    )

    shard: ShardSettings | None = Field(
        default=None, description="run one shard of the probes; default: every probe"
    )

    @model_validator(mode="after")
    def _reserved_labels(self) -> AgentSettings:
        reserved = {"pattern", "integration", "scope", "probe", "agent", "location"} & set(
            self.labels
        )
        if reserved:
            raise ValueError(f"labels {sorted(reserved)} are set by the agent itself")
        return self


def _kind_of(info: ValidationInfo) -> ProberSpec | None:
    """The probe's kind, when its block validated (kind blocks come before other fields)."""
    return next((REGISTRY[k] for k in REGISTRY if info.data.get(k) is not None), None)


def _condition(text: object, info: ValidationInfo) -> object:
    """Compile now, once: a bad condition is a config error at its own line, and the plan
    takes the compiled ``Condition`` as it is."""
    if not isinstance(text, str):
        raise ValueError("a condition is text like '[STATUS] == 200'")
    spec = _kind_of(info)
    if spec is None:
        return text  # the kind block is invalid and says so; the probe does not load
    try:
        return _compiled(spec.kind, text)
    except ConditionError as exc:
        raise ValueError(str(exc)) from None


@functools.lru_cache(maxsize=4096)
def _compiled(kind: str, text: str) -> Condition:
    """Conditions are immutable: a thousand probes checking ``[STATUS] == 200`` share one."""
    return compile_condition(text, REGISTRY[kind].fact_table())


def _text(condition: Condition | str) -> str:
    return condition if isinstance(condition, str) else condition.text


CompiledCondition = Annotated[
    Any, BeforeValidator(_condition), PlainSerializer(_text, return_type=str)
]


class ProbeCommon(Frozen):
    """What every probe has, whatever its kind. The kind blocks are added from the registry."""

    @property
    def kind(self) -> str:
        return next(k for k in REGISTRY if getattr(self, k) is not None)

    @property
    def settings(self) -> Any:
        return getattr(self, self.kind)

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, data: Any) -> Any:
        # An unknown key may be a misspelt kind (``tpc:``): extra="forbid" reports it better.
        if isinstance(data, dict) and not set(data) - set(cls.model_fields):
            kinds = [k for k in REGISTRY if data.get(k) is not None]
            if len(kinds) != 1:
                found = f"found {', '.join(kinds)}" if kinds else "found none"
                raise ValueError(
                    f"a probe needs exactly one kind block, one of {', '.join(REGISTRY)}; {found}"
                )
        return data

    @field_validator("timeout", check_fields=False)
    @classmethod
    def _timeout_fits(cls, value: float | None, info: ValidationInfo) -> float | None:
        """Checked against the probe's interval, or the agent's that it inherits."""
        agent = (info.context or {}).get("agent") or AgentSettings()
        interval = info.data.get("interval") or agent.interval
        if value is not None and (problem := timeout_problem(value, interval)):
            raise ValueError(problem)
        return value

    @field_validator("thresholds", check_fields=False)
    @classmethod
    def _known_signals(cls, value: dict[str, Threshold], info: ValidationInfo) -> Any:
        """Each signal must be one the kind has; its levels are read in the signal's unit."""
        spec = _kind_of(info)
        read = {}
        for signal, levels in value.items():
            if spec is not None and signal not in spec.signals:
                close = difflib.get_close_matches(signal, spec.signals, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ValueError(
                    f"unknown signal {signal!r} for {spec.kind} probes; {hint}"
                    f"known: {', '.join(spec.signals)}"
                )
            unit = SIGNALS[signal].unit if signal in SIGNALS else "seconds"
            try:
                read[signal] = Threshold(
                    warning=parse_level(levels.warning, unit),
                    critical=parse_level(levels.critical, unit),
                )
            except ValueError as exc:
                raise ValueError(f"{signal}: {exc}") from None
        return read


# Kind blocks first: the validators of the common fields read which kind validated.
ProbeConfig: type[ProbeCommon] = create_model(  # type: ignore[call-overload]
    "ProbeConfig",
    __base__=ProbeCommon,
    **{kind: (spec.model | None, None) for kind, spec in REGISTRY.items()},
    interval=(PositiveDuration | None, None),
    timeout=(PositiveDuration | None, None),
    histogram=(bool | None, None),
    conditions=(tuple[CompiledCondition, ...], ()),
    thresholds=(dict[str, Threshold], Field(default_factory=dict)),
    retries=(int, Field(0, ge=0, le=10, description="more attempts after a failed one")),
    retry_backoff=(
        Duration,
        Field(0.25, description="pause before the first retry, doubled before each next"),
    ),
)


# Availability objective by criticality when an integration sets none.
DEFAULT_OBJECTIVES = {"critical": 0.999, "high": 0.995, "medium": 0.99, "low": 0.95}


class SloConfig(Frozen):
    availability: Annotated[Percent, Field(gt=0, lt=1)] | None = Field(
        default=None, description="objective such as 99.9% or 0.999; default by criticality"
    )


class IntegrationConfig(Frozen):
    scope: Literal["external", "internal"]
    criticality: Literal["critical", "high", "medium", "low"] = "medium"
    slo: SloConfig = SloConfig()
    owner: str | None = None
    runbook: str | None = None
    description: str = ""
    depends_on: tuple[str, ...] = ()
    compliance: PolicySet | None = Field(None, description="overrides of the policies")  # type: ignore[valid-type]
    probes: dict[Name, ProbeConfig] = Field(min_length=1)  # type: ignore[valid-type]


class PatternConfig(Frozen):
    owner: str | None = None
    description: str = ""
    compliance: PolicySet | None = Field(None, description="overrides of the policies")  # type: ignore[valid-type]
    integrations: dict[Name, IntegrationConfig] = Field(min_length=1)


class AuditConfig(Frozen):
    """``audit: {path: ..., max_bytes: 10MiB, keep: 5}``: the hash-chained audit trail."""

    path: str = Field(min_length=1)
    max_bytes: Annotated[ByteSize, Field(ge=4096)] = ByteSize(10 << 20)
    keep: int = Field(default=5, ge=1, le=1000, description="rotated files kept")


class Config(Frozen):
    agent: AgentSettings = AgentSettings()
    exporters: ExportersConfig = ExportersConfig()
    compliance: ComplianceConfig = ComplianceConfig()
    audit: AuditConfig | None = None
    patterns: dict[Name, PatternConfig] = Field(min_length=1)
