"""The ``exporters:`` config block: how the agent sends what it sees over OTLP.

Every field left unset falls back to the standard ``OTEL_*`` variable, then to the SDK's
default (see exporters/otlp/settings.py, which resolves them). /metrics needs no settings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.fields import Percent, PositiveDuration


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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
    success_ratio: Percent | None = Field(
        default=None, description="share of successful runs exported (failed runs always are); 1"
    )
    max_queue_size: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="spans waiting for export (256 while the collector is away); 2048",
    )
    propagate: bool = Field(
        default=True, description="send W3C traceparent to HTTP targets (per probe: trace_context)"
    )


class OtlpLogs(Frozen):
    """The audit trail as OpenTelemetry log records (with an ``audit:`` block only)."""

    enabled: bool = True
    max_queue_size: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="audit records waiting for export (256 while the collector is away), then "
        "dropped and counted; 2048",
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
    logs: OtlpLogs = OtlpLogs()

    @model_validator(mode="after")
    def _url(self) -> OtlpExporter:
        if self.endpoint is not None and not self.endpoint.startswith(("http://", "https://")):
            raise ValueError("endpoint must be an http:// or https:// URL, e.g. http://host:4317")
        return self


class ExportersConfig(Frozen):
    otlp: OtlpExporter = OtlpExporter()
