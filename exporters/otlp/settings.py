"""OTLP settings from the config's ``exporters.otlp`` and the standard ``OTEL_*`` variables.

Precedence, field by field: the config file, then the signal's variable
(``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), then the general one (``OTEL_EXPORTER_OTLP_ENDPOINT``),
then the default. Everything is resolved here, once, and passed to the SDK explicitly, because
the Python SDK reads some variables differently from the specification: its exporters ignore
``OTEL_EXPORTER_OTLP_PROTOCOL`` (only auto-configuration reads it) and read
``OTEL_EXPORTER_OTLP_TIMEOUT`` as seconds where the specification says milliseconds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from agent.redact import redact_url
from exporters.config import OtlpExporter

log = logging.getLogger("oversight.otel")

SIGNALS = ("metrics", "traces", "logs")  # logs: the audit trail's records
DEFAULT_ENDPOINTS = {"grpc": "http://localhost:4317", "http/protobuf": "http://localhost:4318"}
DEFAULT_TIMEOUT = 10.0  # seconds, per export
DEFAULT_METRIC_INTERVAL = 60.0  # seconds, the specification's default
DEFAULT_MAX_QUEUE = 2048  # spans
DEFAULT_SPAN_DELAY = 5.0  # seconds between span batches
DEFAULT_LOG_DELAY = 1.0  # seconds between batches of audit records


class OtlpSettingsError(ValueError):
    """A variable or setting that cannot be used; the message names it."""


@dataclass(frozen=True, slots=True)
class SignalTarget:
    """Where and how one signal is sent. ``endpoint`` is final: a full URL for HTTP."""

    signal: str
    protocol: str  # grpc | http/protobuf
    endpoint: str
    headers: tuple[tuple[str, str], ...]
    compression: str  # gzip | none
    timeout: float  # seconds
    insecure: bool  # plaintext gRPC
    ca_file: str | None
    cert_file: str | None
    key_file: str | None

    @property
    def display(self) -> str:
        """Where it goes, fit for a log line (no credentials, no headers)."""
        return f"{redact_url(self.endpoint)} ({self.protocol})"


@dataclass(frozen=True, slots=True)
class OtlpSettings:
    metrics: SignalTarget | None  # None: this signal is not exported
    traces: SignalTarget | None
    logs: SignalTarget | None  # audit records, when there is an audit trail
    metric_interval: float
    success_ratio: float
    max_queue_size: int
    span_delay: float  # seconds between span batches
    log_queue_size: int  # audit records waiting to be sent at most
    log_delay: float  # seconds between batches of audit records
    propagate: bool
    shutdown_timeout: float
    service_name: str | None  # None: the environment's, else the default
    resource_attributes: tuple[tuple[str, str], ...]


def resolve(config: OtlpExporter, env: Mapping[str, str]) -> OtlpSettings | None:
    """The settings in force, or None when OTLP export is off.

    Export is on when the config says ``enabled: true``, or leaves ``enabled`` unset and an
    endpoint is given in the config or any ``OTEL_EXPORTER_OTLP_*ENDPOINT`` variable.
    ``OTEL_SDK_DISABLED=true`` and ``enabled: false`` turn it off whatever else is set.
    """
    if config.enabled is False or _flag(env, "OTEL_SDK_DISABLED") is True:
        return None
    signal_endpoints = [f"OTEL_EXPORTER_OTLP_{s.upper()}_ENDPOINT" for s in SIGNALS]
    asked = (
        config.enabled
        or config.endpoint
        or any(env.get(k) for k in ("OTEL_EXPORTER_OTLP_ENDPOINT", *signal_endpoints))
    )
    if not asked:
        return None
    targets = {
        signal: _target(config, env, signal) if _signal_on(config, env, signal) else None
        for signal in SIGNALS
    }
    if not any(targets.values()):
        return None
    return OtlpSettings(
        metrics=targets["metrics"],
        traces=targets["traces"],
        logs=targets["logs"],
        metric_interval=config.metrics.interval
        or _millis(env, "OTEL_METRIC_EXPORT_INTERVAL")
        or DEFAULT_METRIC_INTERVAL,
        success_ratio=1.0 if config.traces.success_ratio is None else config.traces.success_ratio,
        max_queue_size=config.traces.max_queue_size
        or _int(env, "OTEL_BSP_MAX_QUEUE_SIZE")
        or DEFAULT_MAX_QUEUE,
        span_delay=_millis(env, "OTEL_BSP_SCHEDULE_DELAY") or DEFAULT_SPAN_DELAY,
        log_queue_size=config.logs.max_queue_size
        or _int(env, "OTEL_BLRP_MAX_QUEUE_SIZE")
        or DEFAULT_MAX_QUEUE,
        log_delay=_millis(env, "OTEL_BLRP_SCHEDULE_DELAY") or DEFAULT_LOG_DELAY,
        propagate=config.traces.propagate,
        shutdown_timeout=config.shutdown_timeout,
        service_name=config.service_name,
        resource_attributes=tuple(config.resource_attributes.items()),
    )


def _signal_on(config: OtlpExporter, env: Mapping[str, str], signal: str) -> bool:
    if not getattr(config, signal).enabled:
        return False
    chosen = env.get(f"OTEL_{signal.upper()}_EXPORTER", "otlp").strip().lower()
    return chosen != "none"


def _target(config: OtlpExporter, env: Mapping[str, str], signal: str) -> SignalTarget:
    def var(name: str) -> str | None:
        """The signal's variable, else the general one."""
        value = env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_{name}")
        if value is None or not value.strip():
            value = env.get(f"OTEL_EXPORTER_OTLP_{name}")
        return value.strip() if value is not None and value.strip() else None

    protocol = config.protocol or var("PROTOCOL") or "grpc"
    if protocol not in DEFAULT_ENDPOINTS:
        raise OtlpSettingsError(
            f"OTLP protocol {protocol!r} is not supported; use grpc or http/protobuf"
        )
    endpoint = _endpoint(config, env, signal, protocol)
    headers = parse_headers(var("HEADERS") or "")
    headers.update({k.lower(): v for k, v in config.headers.items()})
    compression = config.compression or (var("COMPRESSION") or "none").lower()
    if compression not in ("gzip", "none"):
        raise OtlpSettingsError(f"OTLP compression {compression!r} is not gzip or none")
    timeout = config.timeout or _timeout(var("TIMEOUT")) or DEFAULT_TIMEOUT
    insecure = config.tls.insecure
    if insecure is None and var("INSECURE") is not None:
        insecure = (var("INSECURE") or "").lower() == "true"
    if insecure is None:
        insecure = endpoint.startswith("http://")
    return SignalTarget(
        signal=signal,
        protocol=protocol,
        endpoint=endpoint,
        headers=tuple(sorted(headers.items())),
        compression=compression,
        timeout=timeout,
        insecure=insecure,
        ca_file=config.tls.ca_file or var("CERTIFICATE"),
        cert_file=config.tls.cert_file or var("CLIENT_CERTIFICATE"),
        key_file=config.tls.key_file or var("CLIENT_KEY"),
    )


def _endpoint(config: OtlpExporter, env: Mapping[str, str], signal: str, protocol: str) -> str:
    """gRPC takes ``host:port``; HTTP a full URL. A base URL (from the config or the general
    variable) gets ``/v1/<signal>`` appended for HTTP; the signal's own variable is used as is.
    """
    specific = (env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT") or "").strip()
    if not config.endpoint and specific:
        return specific
    base = (
        config.endpoint
        or (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "").strip()
        or DEFAULT_ENDPOINTS[protocol]
    )
    if not base.startswith(("http://", "https://")):
        raise OtlpSettingsError(f"OTLP endpoint {redact_url(base)!r} is not an http(s):// URL")
    if protocol == "grpc":
        return base
    return base.rstrip("/") + f"/v1/{signal}"


def _parse_pairs(text: str, name: str) -> dict[str, str]:
    """``k1=v1,k2=v2`` with percent-encoded values, as OTEL_EXPORTER_OTLP_HEADERS and
    OTEL_RESOURCE_ATTRIBUTES are written. Keys of headers are lower-cased by the caller."""
    pairs: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise OtlpSettingsError(f"{name}: {key.strip()!r} is not key=value")
        pairs[unquote(key.strip())] = unquote(value.strip())
    return pairs


def parse_headers(text: str) -> dict[str, str]:
    return {k.lower(): v for k, v in _parse_pairs(text, "OTEL_EXPORTER_OTLP_HEADERS").items()}


def parse_resource_attributes(text: str) -> dict[str, str]:
    return _parse_pairs(text, "OTEL_RESOURCE_ATTRIBUTES")


def _timeout(text: str | None) -> float | None:
    """OTEL_EXPORTER_OTLP_TIMEOUT in milliseconds, as the specification (and every other SDK)
    reads it. A value under 100 was almost certainly meant as seconds (the Python SDK's
    reading): it is taken as seconds, with a warning."""
    if text is None:
        return None
    millis = _number(text, "OTEL_EXPORTER_OTLP_TIMEOUT")
    if millis < 100:
        log.warning(
            "OTEL_EXPORTER_OTLP_TIMEOUT=%s read as %g seconds; the variable is in milliseconds",
            text,
            millis,
        )
        return millis or None
    return millis / 1000


def _millis(env: Mapping[str, str], name: str) -> float | None:
    """A variable in milliseconds, as seconds; None when unset or 0."""
    text = env.get(name)
    if not text:
        return None
    return _number(text, name) / 1000 or None


def _int(env: Mapping[str, str], name: str) -> int | None:
    text = env.get(name)
    if not text:
        return None
    return int(_number(text, name)) or None


def _number(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise OtlpSettingsError(f"{name}={text!r} is not a number") from None
    if value < 0:
        raise OtlpSettingsError(f"{name}={text!r} is negative")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool | None:
    text = (env.get(name) or "").strip().lower()
    return None if not text else text == "true"
