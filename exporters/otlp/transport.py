"""The SDK's OTLP exporter classes, chosen and configured from resolved settings.

The protocol picks the class here (the SDK's exporters never read OTEL_EXPORTER_OTLP_PROTOCOL),
and every option is passed explicitly so no exporter falls back to reading the environment on
its own terms (the Python SDK takes OTEL_EXPORTER_OTLP_TIMEOUT as seconds).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter

from exporters.otlp.settings import OtlpSettingsError, SignalTarget

E = TypeVar("E")


class _ErrorsLetGo:
    """The SDK exporter's ``export_operation``, with the error let go once it is counted.

    A failed export keeps its error where the exporting frame refers to it (on the
    operation's result, or in a local); the error's traceback holds the frames it passed
    through, and those the exporting frame with the whole batch: a reference cycle that
    only the garbage collector frees. While a collector is away that is one batch (4 MB for
    1,000 integrations' metrics) per failed export, and when ``gc.freeze()`` runs during an
    export (the agent freezes its plan after a reload) the cycle can never be freed.
    Dropping the tracebacks of the error and of those it came from breaks the cycle: the
    batch goes with its last reference, the moment the export returns.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    @contextmanager
    def export_operation(self, num_items: int) -> Iterator[Any]:
        with self._inner.export_operation(num_items) as result:
            yield result
        pending, seen = [result.error], set()
        while pending:
            error = pending.pop()
            if error is not None and id(error) not in seen:
                seen.add(id(error))
                error.__traceback__ = None
                pending += (error.__cause__, error.__context__)
        result.error = None


def _let_errors_go(exporter: E) -> E:
    inner = getattr(exporter, "_metrics", None)
    if hasattr(inner, "export_operation"):
        exporter._metrics = _ErrorsLetGo(inner)  # type: ignore[attr-defined]
    return exporter


def span_exporter(target: SignalTarget) -> SpanExporter:
    if target.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpans,
        )

        return _let_errors_go(GrpcSpans(**_grpc_options(target)))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpans,
    )

    return _let_errors_go(HttpSpans(**_http_options(target)))


def metric_exporter(target: SignalTarget) -> MetricExporter:
    if target.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetrics,
        )

        return _let_errors_go(GrpcMetrics(**_grpc_options(target)))
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpMetrics,
    )

    return _let_errors_go(HttpMetrics(**_http_options(target)))


def log_exporter(target: SignalTarget) -> LogRecordExporter:
    if target.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
            OTLPLogExporter as GrpcLogs,
        )

        return _let_errors_go(GrpcLogs(**_grpc_options(target)))
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs

    return _let_errors_go(HttpLogs(**_http_options(target)))


def _grpc_options(target: SignalTarget) -> dict[str, Any]:
    import grpc

    credentials = None
    if not target.insecure:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_read(target.ca_file, "CA file"),
            private_key=_read(target.key_file, "client key"),
            certificate_chain=_read(target.cert_file, "client certificate"),
        )
    return {
        "endpoint": target.endpoint,
        "insecure": target.insecure,
        "credentials": credentials,
        "headers": target.headers,
        "timeout": target.timeout,
        "compression": grpc.Compression.Gzip
        if target.compression == "gzip"
        else grpc.Compression.NoCompression,
    }


def _http_options(target: SignalTarget) -> dict[str, Any]:
    from opentelemetry.exporter.otlp.proto.http import Compression

    for path, what in (
        (target.ca_file, "CA file"),
        (target.cert_file, "client certificate"),
        (target.key_file, "client key"),
    ):
        _read(path, what)  # a missing file is a clear error now, not a failed export later
    return {
        "endpoint": target.endpoint,
        "session": _ca_session(target.ca_file) if target.ca_file else None,
        "certificate_file": target.ca_file,
        "client_certificate_file": target.cert_file,
        "client_key_file": target.key_file,
        "headers": dict(target.headers),
        "timeout": target.timeout,
        "compression": Compression.Gzip
        if target.compression == "gzip"
        else Compression.NoCompression,
    }


def _ca_session(ca_file: str) -> Any:
    """A requests session that keeps to ``ca_file``. A plain one lets REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE (set in many images) replace the CA the config names, and the collector's
    certificate then fails to verify."""
    import requests

    class PinnedCa(requests.Session):
        def merge_environment_settings(self, *args: Any, **kwargs: Any) -> Any:
            settings = super().merge_environment_settings(*args, **kwargs)
            settings["verify"] = ca_file
            return settings

    session = PinnedCa()
    session.verify = ca_file
    return session


def _read(path: str | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise OtlpSettingsError(f"OTLP {what} {path}: {exc.strerror or exc}") from None
