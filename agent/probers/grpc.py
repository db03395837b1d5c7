"""gRPC: ask a server's grpc.health.v1 Health service whether it (or one service) is serving.

The gRPC library is loaded on the first run (agent/probers/grpc_check.py): a config without a
grpc probe does not pay for it.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agent.conditions.facts import Fact, FactType
from agent.fields import HostPort
from agent.probers.base import ProberSpec, lazy
from agent.probers.net import address_endpoint
from agent.probers.tlsconf import TlsClientConfig
from agent.results import Reason

_METADATA_KEY = re.compile(r"^[0-9a-z_.-]+$")


class GrpcProbe(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    address: HostPort
    service: str = Field("", description='service to check; "" is the whole server')
    tls: bool = False
    tls_config: TlsClientConfig = TlsClientConfig()
    authority: str | None = Field(None, description="the :authority sent (default: address)")
    metadata: dict[str, str] = Field(
        default_factory=dict, description="request metadata; values are treated as secrets"
    )

    @field_validator("metadata")
    @classmethod
    def _valid_metadata(cls, value: dict[str, str]) -> dict[str, str]:
        """gRPC wants lowercase keys and refuses reserved ones: say so at load."""
        keys = {key.lower(): v for key, v in value.items()}
        for key in keys:
            if not _METADATA_KEY.match(key) or key.startswith("grpc-"):
                raise ValueError(f"{key!r} is not a usable gRPC metadata key")
        return keys

    @model_validator(mode="after")
    def _tls_supported(self) -> GrpcProbe:
        """The gRPC core does its own TLS: it cannot skip verification or pin versions."""
        cfg = self.tls_config
        if cfg.insecure_skip_verify or cfg.min_version or cfg.max_version:
            raise ValueError(
                "grpc probes support tls_config ca_file, cert_file, key_file and server_name "
                "only (no insecure_skip_verify, min_version, max_version)"
            )
        return self


def _target(config: GrpcProbe) -> str:
    scheme = "grpcs" if config.tls else "grpc"
    return f"{scheme}://{config.address}/{config.service}"


SPEC = ProberSpec(
    kind="grpc",
    model=GrpcProbe,
    probe=lazy("agent.probers.grpc_check"),
    facts=(
        Fact(
            "SERVING_STATUS",
            FactType.STRING,
            Reason.STATUS_MISMATCH,
            "SERVING, NOT_SERVING, UNKNOWN or SERVICE_UNKNOWN",
        ),
        Fact("GRPC_STATUS", FactType.STRING, Reason.STATUS_MISMATCH, "status code name, e.g. OK"),
    ),
    default_conditions=("[SERVING_STATUS] == SERVING",),
    target=_target,
    endpoint=lambda config: address_endpoint(config.address),
)
