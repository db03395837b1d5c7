"""The config file's shape: frozen models that reject unknown keys and say where a value is wrong.

A probe names its kind by the one block it carries (``http:``, ``tcp:``, ...), so error paths
read like ``patterns.bill_pay.integrations.processor.probes.health.http.url``. The set of kinds
comes from the prober registry; no list of kinds is written here.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from agent.compliance.config import AuditConfig, ComplianceConfig, PolicySet
from agent.conditions.parser import ConditionError, compile_condition
from agent.durations import PositiveDuration, parse_duration
from agent.probers import REGISTRY
from agent.probers.base import ProberSpec

Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$")]
LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _level(value: object) -> object:
    """A threshold level: a duration (``300ms``, ``30d``), a number, or a percentage."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return float(value.strip()[:-1]) / 100
    return parse_duration(value)


Level = Annotated[float, BeforeValidator(_level)]


class Threshold(Frozen):
    """Warning and critical levels of one signal; either may be left out."""

    warning: Level | None = None
    critical: Level | None = None


class StateSettings(Frozen):
    """Hysteresis and flapping, like Gatus and Icinga: one lost packet must not page anyone."""

    failures_to_down: int = Field(default=3, ge=1, le=100)
    successes_to_recover: int = Field(default=2, ge=1, le=100)
    flapping_window: PositiveDuration = 600.0
    flapping_changes: int = Field(default=6, ge=2, le=1000)


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

    @model_validator(mode="after")
    def _reserved_labels(self) -> AgentSettings:
        reserved = {"pattern", "integration", "scope", "probe", "agent", "location"} & set(
            self.labels
        )
        if reserved:
            raise ValueError(f"labels {sorted(reserved)} are set by the agent itself")
        return self

    @model_validator(mode="after")
    def _timeout_fits(self) -> AgentSettings:
        if self.timeout > self.interval:
            raise ValueError("the default timeout is longer than the default interval")
        return self


class PrometheusExporter(Frozen):
    enabled: bool = True


class OtlpTls(Frozen):
    ca_file: str | None = Field(
        default=None, description="CA bundle that signs the collector's cert"
    )
    cert_file: str | None = Field(default=None, description="client certificate (mTLS)")
    key_file: str | None = Field(default=None, description="client key (mTLS)")
    insecure: bool | None = Field(
        default=None, description="plaintext gRPC; default: true for http:// endpoints"
    )


class OtlpMetrics(Frozen):
    enabled: bool = True
    interval: PositiveDuration | None = Field(
        default=None,
        description="export interval; default $OTEL_METRIC_EXPORT_INTERVAL (ms), else 60s",
    )


class OtlpTraces(Frozen):
    enabled: bool = True
    success_ratio: Annotated[float, BeforeValidator(_level), Field(ge=0, le=1)] | None = Field(
        default=None, description="share of successful runs exported (failed runs always are); 1"
    )
    max_queue_size: int | None = Field(
        default=None, ge=1, le=1_000_000, description="spans held while the collector is away; 2048"
    )
    propagate: bool = Field(
        default=True, description="send W3C traceparent to HTTP targets (per probe: trace_context)"
    )


class OtlpExporter(Frozen):
    """OTLP export; every field unset falls back to the standard OTEL_* variable, then default."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    enabled: bool | None = Field(
        default=None, description="default: on when an endpoint is set here or in the environment"
    )
    endpoint: str | None = Field(default=None, description="http(s)://host:port of the collector")
    protocol: Literal["grpc", "http/protobuf"] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    compression: Literal["gzip", "none"] | None = None
    timeout: PositiveDuration | None = Field(default=None, description="per export; default 10s")
    shutdown_timeout: PositiveDuration = Field(
        default=3.0, description="how long stopping may spend flushing"
    )
    tls: OtlpTls = OtlpTls()
    service_name: str | None = None
    resource_attributes: dict[str, str] = Field(default_factory=dict)
    metrics: OtlpMetrics = OtlpMetrics()
    traces: OtlpTraces = OtlpTraces()

    @model_validator(mode="after")
    def _url(self) -> OtlpExporter:
        if self.endpoint is not None and not self.endpoint.startswith(("http://", "https://")):
            raise ValueError("endpoint must be an http:// or https:// URL, e.g. http://host:4317")
        return self


class ExportersConfig(Frozen):
    prometheus: PrometheusExporter = PrometheusExporter()
    otlp: OtlpExporter = OtlpExporter()


def _kind_of(info: ValidationInfo) -> ProberSpec | None:
    """The probe's kind, when its block validated (kind blocks come before other fields)."""
    return next((REGISTRY[k] for k in REGISTRY if info.data.get(k) is not None), None)


def _condition(text: str, info: ValidationInfo) -> str:
    """Compile now, so a bad condition is a config error at its own line."""
    spec = _kind_of(info)
    if spec is not None:
        try:
            compile_condition(text, spec.fact_table())
        except ConditionError as exc:
            raise ValueError(str(exc)) from None
    return text


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
        interval = info.data.get("interval")
        if value is not None and interval is not None and value > interval:
            raise ValueError(f"timeout {value:g}s is longer than the interval {interval:g}s")
        return value

    @field_validator("thresholds", check_fields=False)
    @classmethod
    def _known_signals(cls, value: dict[str, Threshold], info: ValidationInfo) -> Any:
        spec = _kind_of(info)
        for signal in value:
            if spec is not None and signal not in spec.signals:
                close = difflib.get_close_matches(signal, spec.signals, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ValueError(
                    f"unknown signal {signal!r} for {spec.kind} probes; {hint}"
                    f"known: {', '.join(spec.signals)}"
                )
        return value


# Kind blocks first: the validators of the common fields read which kind validated.
ProbeConfig: type[ProbeCommon] = create_model(  # type: ignore[call-overload]
    "ProbeConfig",
    __base__=ProbeCommon,
    **{kind: (spec.model | None, None) for kind, spec in REGISTRY.items()},
    interval=(PositiveDuration | None, None),
    timeout=(PositiveDuration | None, None),
    conditions=(tuple[Annotated[str, AfterValidator(_condition)], ...], ()),
    thresholds=(dict[str, Threshold], Field(default_factory=dict)),
)


Ratio = Annotated[float, BeforeValidator(_level), Field(gt=0, lt=1)]

# Availability objective by criticality when an integration sets none.
DEFAULT_OBJECTIVES = {"critical": 0.999, "high": 0.995, "medium": 0.99, "low": 0.95}


class SloConfig(Frozen):
    availability: Ratio | None = Field(
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
    compliance: PolicySet | None = Field(None, description="overrides of the policies")
    probes: dict[Name, ProbeConfig] = Field(min_length=1)  # type: ignore[valid-type]


class PatternConfig(Frozen):
    owner: str | None = None
    description: str = ""
    compliance: PolicySet | None = Field(None, description="overrides of the policies")
    integrations: dict[Name, IntegrationConfig] = Field(min_length=1)


class Config(Frozen):
    agent: AgentSettings = AgentSettings()
    exporters: ExportersConfig = ExportersConfig()
    compliance: ComplianceConfig = ComplianceConfig()
    audit: AuditConfig | None = None
    patterns: dict[Name, PatternConfig] = Field(min_length=1)
