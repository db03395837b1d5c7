"""Credential: our own client certificate (mTLS) or token — days left, before a payment fails.

The files are read by agent/probers/credential_read.py, loaded on the first run (it needs
cryptography).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.conditions.facts import Fact, FactType
from agent.probers.base import ProberSpec, lazy
from agent.probers.capacity import CAPACITY_FACTS
from agent.results import Reason
from agent.vocabulary import CAPACITY_FAMILIES, CREDENTIAL_EXPIRY


class CredentialProbe(BaseModel):
    """One credential this deployment presents to a partner: a certificate file (PEM, its chain
    may follow; ``key_file`` is checked to belong to it) or a token file holding a JWT (its
    ``exp``, ``nbf`` and ``iat`` are read; the signature is not ours to verify). Files are read
    at every run, so a rotated credential is seen at once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cert_file: str | None = None
    key_file: str | None = None
    token_file: str | None = None
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = Field(
        None, description="the resource is credential:<name>; default client-cert or token"
    )

    @model_validator(mode="after")
    def _one_credential(self) -> CredentialProbe:
        if (self.cert_file is None) == (self.token_file is None):
            raise ValueError("give exactly one of cert_file and token_file")
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file needs cert_file")
        return self

    @property
    def resource(self) -> str:
        default = "client-cert" if self.cert_file is not None else "token"
        return f"credential:{self.name or default}"


def _target(config: CredentialProbe) -> str:
    return config.cert_file or config.token_file or ""


SPEC = ProberSpec(
    kind="credential",
    model=CredentialProbe,
    probe=lazy("agent.probers.credential_read"),
    facts=(
        Fact("EXPIRES_IN", FactType.DURATION, Reason.THRESHOLD, "time left: [EXPIRES_IN] > 30d"),
        Fact("DAYS_LEFT", FactType.NUMBER, Reason.THRESHOLD, "days left: [DAYS_LEFT] > 30"),
        Fact("SUBJECT", FactType.STRING, Reason.TLS_MISMATCH, "certificate subject or JWT sub"),
        Fact("ISSUER", FactType.STRING, Reason.TLS_MISMATCH, "certificate issuer or JWT iss"),
        *CAPACITY_FACTS,
    ),
    families=(CREDENTIAL_EXPIRY, *CAPACITY_FAMILIES),
    default_conditions=("[EXPIRES_IN] > 0s",),
    target=_target,
    signals=("latency", "utilisation", "credential_expiry"),
    network=False,
    availability=False,
)
