"""The demo's integrations as data: three patterns, their owners, dependencies and endpoints."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.demo.payments import Action

Scope = Literal["external", "internal"]
Criticality = Literal["critical", "high", "medium", "low"]

RUNBOOK_BASE = "https://runbooks.example.com"
DOMAIN = "demo.test"


@dataclass(frozen=True, slots=True)
class Route:
    """A business endpoint a simulated service answers with a fixed JSON document.

    With ``probe`` the agent calls it as a probe of that name: with a bearer token when
    ``protected`` (the service refuses a request without it unless ``enforces_auth`` is
    False), and checked against the contract named ``contract`` (agent.demo.contracts).
    ``action`` answers with the bill payment chain's logic instead (agent.demo.payments).
    """

    method: str
    path: str
    body: Mapping[str, Any]
    status: int = 200
    probe: str | None = None
    protected: bool = False
    enforces_auth: bool = True
    contract: str | None = None
    action: Action | None = None

    @property
    def example_path(self) -> str:
        """The path with its placeholders filled: ``/v1/accounts/{account_id}`` -> ``.../1001``."""
        return re.sub(r"\{[^}]*\}", "1001", self.path)


@dataclass(frozen=True, slots=True)
class IntegrationSpec:
    """One simulated system. ``line_protocol`` adds a raw line-protocol listener (``PING`` ->
    ``PONG``) so the demo has something for a ``tcp`` probe to talk to. ``pool`` gives it a
    database connection pool of that size, shown at ``/metrics`` (for a ``scrape`` probe);
    ``rate_limit`` is the requests a minute a partner allows, told in ``X-RateLimit-*``;
    ``sidecar`` says the agent runs beside it (its node and process are watched);
    ``credential`` is what we present to a partner: an mTLS client certificate or a token."""

    pattern: str
    name: str
    scope: Scope
    criticality: Criticality
    owner: str
    description: str
    depends_on: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()
    line_protocol: bool = False
    missing_headers: tuple[str, ...] = ()  # security headers it forgets to send
    pool: int | None = None
    rate_limit: int | None = None
    sidecar: bool = False
    credential: Literal["client_cert", "token"] | None = None

    @property
    def key(self) -> str:
        return f"{self.pattern}/{self.name}"

    @property
    def hostname(self) -> str:
        """The name on its certificate; DNS forbids ``_``, so ``core_ledger`` -> ``core-ledger``."""
        return f"{self.name.replace('_', '-')}.{DOMAIN}"

    @property
    def runbook(self) -> str:
        return f"{RUNBOOK_BASE}/{self.pattern}/{self.name}"

    @property
    def tls(self) -> bool:
        """External partners are reached over HTTPS; internal services over plain HTTP."""
        return self.scope == "external"


@dataclass(frozen=True, slots=True)
class PatternSpec:
    name: str
    owner: str
    description: str
    integrations: tuple[IntegrationSpec, ...] = field(default_factory=tuple)


def _i(
    pattern: str,
    name: str,
    scope: Scope,
    criticality: Criticality,
    owner: str,
    description: str,
    *routes: Route,
    depends_on: tuple[str, ...] = (),
    line_protocol: bool = False,
    missing_headers: tuple[str, ...] = (),
    pool: int | None = None,
    rate_limit: int | None = None,
    sidecar: bool = False,
    credential: Literal["client_cert", "token"] | None = None,
) -> IntegrationSpec:
    return IntegrationSpec(
        pattern,
        name,
        scope,
        criticality,
        owner,
        description,
        depends_on,
        routes,
        line_protocol,
        missing_headers,
        pool,
        rate_limit,
        sidecar,
        credential,
    )


PATTERNS: tuple[PatternSpec, ...] = (
    PatternSpec(
        "bill_pay",
        "team-payments",
        "Bill payments from validation to settlement",
        (
            _i(
                "bill_pay",
                "payment_processor",
                "external",
                "critical",
                "team-payments-partners",
                "Card and ACH payment processor (partner)",
                Route(
                    "POST",
                    "/v1/payments",
                    {"id": "pay_7f3a", "status": "accepted"},
                    201,
                    probe="payments",
                    protected=True,
                    enforces_auth=False,  # a security event: it answers without credentials
                    contract="payments_openapi",
                    action="take_payment",  # refuses an account token it cannot verify
                ),
                Route("GET", "/v1/payments/{payment_id}", {}, action="payment_status"),
                rate_limit=120,  # the agent's probes use about 50 a minute
                credential="client_cert",
            ),
            _i(
                "bill_pay",
                "biller_network",
                "external",
                "high",
                "team-payments-partners",
                "Biller directory and remittance network (partner)",
                Route(
                    "GET",
                    "/v1/billers",
                    {
                        "billers": [
                            # a leak: a (test) card number in a directory listing
                            {"id": "ELEC-001", "name": "City Power", "card": "4111111111111111"}
                        ]
                    },
                    probe="billers",
                ),
            ),
            _i(
                "bill_pay",
                "payment_workflow",
                "internal",
                "critical",
                "team-payments",
                "Orchestrates validate account -> verify client -> submit payment",
                Route("POST", "/v1/bill-payments", {"id": "bp_1029", "state": "submitted"}, 201),
                depends_on=("account/account_service", "client/client_service"),
                pool=40,
            ),
        ),
    ),
    PatternSpec(
        "account",
        "team-core-banking",
        "Accounts and the core ledger",
        (
            _i(
                "account",
                "core_ledger",
                "external",
                "critical",
                "team-core-banking",
                "Core-banking ledger provider",
                Route(
                    "GET",
                    "/v1/accounts/{account_id}/balance",
                    # the contract says a number: the partner silently changed it to a string
                    {"currency": "USD", "available": "1520.00"},
                    probe="balance",
                    protected=True,
                    contract="balance_schema",
                ),
                line_protocol=True,
            ),
            _i(
                "account",
                "account_service",
                "internal",
                "critical",
                "team-accounts",
                "Account lookup and bill-pay request validation",
                Route("GET", "/v1/accounts/{account_id}", {"status": "open", "type": "checking"}),
                Route("POST", "/v1/validations", {"valid": True}, action="issue_token"),
                depends_on=("account/core_ledger",),
                missing_headers=("X-Content-Type-Options",),
                sidecar=True,
            ),
        ),
    ),
    PatternSpec(
        "client",
        "team-client-platform",
        "Client identity, KYC and CRM",
        (
            _i(
                "client",
                "kyc_vendor",
                "external",
                "high",
                "team-client-partners",
                "Identity verification (KYC) vendor",
                Route(
                    "POST",
                    "/v1/verifications",
                    {"id": "kyc_55d1", "result": "clear"},
                    probe="verify",
                    protected=True,
                ),
                missing_headers=("Strict-Transport-Security",),
                rate_limit=150,
                credential="token",
            ),
            _i(
                "client",
                "client_service",
                "internal",
                "high",
                "team-client-platform",
                "Client profiles and verification status (CRM facade)",
                Route(
                    "GET", "/v1/clients/{client_id}", {"status": "verified", "segment": "retail"}
                ),
                depends_on=("client/kyc_vendor",),
            ),
        ),
    ),
)


def integrations() -> tuple[IntegrationSpec, ...]:
    """Every integration of every pattern, in declaration order."""
    return tuple(i for p in PATTERNS for i in p.integrations)
