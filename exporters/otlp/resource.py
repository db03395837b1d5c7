"""The OTel resource: who is exporting (service, instance, host, Kubernetes pod), from where."""

from __future__ import annotations

import socket
from collections.abc import Mapping

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.version import __version__ as sdk_version

from agent import __version__
from exporters.otlp.settings import OtlpSettings, parse_resource_attributes

DEFAULT_SERVICE_NAME = "oversight-agent"

# Resource attribute <- the downward-API variables a pod spec usually sets (first one wins).
K8S_VARIABLES = (
    ("k8s.pod.name", ("POD_NAME", "K8S_POD_NAME")),
    ("k8s.pod.uid", ("POD_UID", "K8S_POD_UID")),
    ("k8s.namespace.name", ("POD_NAMESPACE", "K8S_NAMESPACE_NAME", "K8S_NAMESPACE")),
    ("k8s.node.name", ("NODE_NAME", "K8S_NODE_NAME")),
    ("k8s.container.name", ("CONTAINER_NAME", "K8S_CONTAINER_NAME")),
)


def build_resource(settings: OtlpSettings, env: Mapping[str, str], instance: str) -> Resource:
    """Detected attributes, overridden by OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME,
    then the config (``resource_attributes``, then ``service_name``): code over environment,
    as the SDKs do. ``instance`` is the agent's name (the ``agent`` label on /metrics), so a
    series and a span from one agent name the same instance.
    """
    attributes: dict[str, str] = {
        "service.name": DEFAULT_SERVICE_NAME,
        "service.version": __version__,
        "service.instance.id": instance,
        "host.name": socket.gethostname(),
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": sdk_version,
    }
    for key, names in K8S_VARIABLES:
        value = next((env[n] for n in names if env.get(n)), None)
        if value:
            attributes[key] = value
    attributes.update(parse_resource_attributes(env.get("OTEL_RESOURCE_ATTRIBUTES", "")))
    if env.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = env["OTEL_SERVICE_NAME"]
    attributes.update(dict(settings.resource_attributes))
    if settings.service_name:
        attributes["service.name"] = settings.service_name
    return Resource(attributes)
