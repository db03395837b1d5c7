"""The ``compliance:`` and ``audit:`` config blocks: policies with defaults, overridable per
pattern and integration, compiled (regexes, contract documents) as the file loads.

A pattern's or integration's ``compliance:`` block has the same policies as the top level;
only the keys written there override, so ``security_headers: {headers: [X-Frame-Options]}``
on an integration keeps the policy's ``enabled`` from above.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ByteSize,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from agent.compliance.contract import check_contract_file
from agent.durations import PositiveDuration

ProbeName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$")]
HeaderName = Annotated[str, Field(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")]
TlsVersionName = Literal["TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3"]


def _percent(value: object) -> object:
    """``95%``, ``95`` or ``0.95`` -> 0.95."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return float(value.strip()[:-1]) / 100
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 1:
        return value / 100
    return value


Share = Annotated[float, BeforeValidator(_percent), Field(gt=0, lt=1)]


class _Block(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    enabled: bool = True


class TlsMinVersion(_Block):
    min_version: TlsVersionName = "TLS1.2"


class CertMinDaysLeft(_Block):
    days: float = Field(default=14, gt=0, description="days a certificate must still be valid")


class HttpsRequired(_Block):
    scopes: tuple[Literal["external", "internal"], ...] = ("external",)


class SecurityHeaders(_Block):
    headers: tuple[HeaderName, ...] = ("Strict-Transport-Security", "X-Content-Type-Options")


class AuthRequired(_Block):
    probes: tuple[ProbeName, ...] = Field(
        default=(),
        description="http probes of protected endpoints; each is also sent without credentials",
    )
    interval: PositiveDuration | None = Field(
        default=None, description="default: the probe's interval"
    )


def _compile_patterns(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    for name, text in value.items():
        if not isinstance(text, str):
            continue
        try:
            re.compile(text)
        except re.error as exc:
            raise ValueError(f"pattern {name!r} is not a regular expression: {exc}") from None
    return value


class NoSensitiveData(_Block):
    card_numbers: bool = True
    patterns: Annotated[
        dict[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_ -]{0,40}$")], str],
        BeforeValidator(_compile_patterns),
    ] = Field(default_factory=dict, description="name -> regular expression, e.g. national ids")

    def compiled(self) -> dict[str, re.Pattern[str]]:
        return {name: re.compile(text) for name, text in self.patterns.items()}


class ApiContract(_Block):
    """A JSON Schema of the response (``schema``), or an OpenAPI 3 document (``openapi``)
    whose operation is found by the probe's method and path, or named by ``operation``."""

    json_schema: str | None = Field(default=None, alias="schema", description="a JSON Schema file")
    openapi: str | None = Field(
        default=None, description="an OpenAPI 3.0 or 3.1 document (YAML/JSON)"
    )
    operation: str | None = Field(default=None, description="operationId; default: method and path")
    probes: tuple[ProbeName, ...] = Field(default=(), description="default: every http probe")

    @field_validator("json_schema")
    @classmethod
    def _schema_file(cls, value: str | None) -> str | None:
        if value is not None:
            check_contract_file(value, openapi=False)
        return value

    @field_validator("openapi")
    @classmethod
    def _openapi_file(cls, value: str | None) -> str | None:
        if value is not None:
            check_contract_file(value, openapi=True)
        return value

    @model_validator(mode="after")
    def _one_contract(self) -> ApiContract:
        if self.json_schema is not None and self.openapi is not None:
            raise ValueError("give one contract: schema or openapi, not both")
        if self.operation is not None and self.openapi is None:
            raise ValueError("operation names an operation of an openapi document")
        return self


class LatencySla(_Block):
    max: PositiveDuration = Field(default=1.0, description="the agreed response time")
    percentile: Share = Field(default=0.95, description="share of successful runs within max")


class AvailabilitySlo(_Block):
    min_runs: int = Field(default=10, ge=1, description="runs in the window before it is judged")


class PolicySet(BaseModel):
    """Every policy; in an override block only the keys written there apply."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tls_min_version: TlsMinVersion = TlsMinVersion()
    cert_min_days_left: CertMinDaysLeft = CertMinDaysLeft()
    https_required: HttpsRequired = HttpsRequired()
    security_headers: SecurityHeaders = SecurityHeaders()
    auth_required: AuthRequired = AuthRequired()
    no_sensitive_data: NoSensitiveData = NoSensitiveData()
    api_contract: ApiContract = ApiContract()
    latency_sla: LatencySla = LatencySla()
    availability_slo: AvailabilitySlo = AvailabilitySlo()


class ComplianceConfig(PolicySet):
    """The top-level ``compliance:`` block: the defaults every integration starts from."""

    enabled: bool = True
    window: PositiveDuration = Field(
        default=3600.0, description="rolling window of the SLA/SLO policies"
    )


class AuditConfig(BaseModel):
    """``audit: {path: ..., max_bytes: 10MiB, keep: 5}``: the hash-chained audit trail."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(min_length=1)
    max_bytes: Annotated[ByteSize, Field(ge=4096)] = ByteSize(10 << 20)
    keep: int = Field(default=5, ge=1, le=1000, description="rotated files kept")


_EXCLUSIVE = {"json_schema": ("openapi", "operation"), "openapi": ("json_schema",)}


def merge(base: PolicySet, override: PolicySet | None) -> PolicySet:
    """``base`` with the keys written in ``override`` (a pattern's or integration's block).

    A contract written below replaces one from above: ``schema`` drops an inherited
    ``openapi`` and ``operation``, and the other way round.
    """
    if override is None:
        return base
    blocks: dict[str, Any] = {}
    for name in override.model_fields_set:
        block, over = getattr(base, name), getattr(override, name)
        update = {field: getattr(over, field) for field in over.model_fields_set}
        for field in list(update):
            for dropped in _EXCLUSIVE.get(field, ()):
                update.setdefault(dropped, None)
        blocks[name] = block.model_copy(update=update)
    return base.model_copy(update=blocks)


def set_where(
    levels: list[tuple[tuple[str | int, ...], PolicySet | None]], policy: str, key: str
) -> tuple[str | int, ...] | None:
    """The config path of the most specific level that wrote ``policy.key`` (for errors)."""
    for path, block in reversed(levels):
        if block is not None and policy in block.model_fields_set:
            settings = getattr(block, policy)
            if key in settings.model_fields_set:
                return (*path, policy, type(settings).model_fields[key].alias or key)
    return None
