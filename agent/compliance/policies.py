"""The per-run policies: each reads one finished run (``RunView``) and returns a Finding.

They implement the runner's ``Policy`` protocol and are compiled once per probe with the
settings that apply to its integration; every text they return is safe to store (no body,
no full card number).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.compliance.sensitive import scan
from agent.results import Compliance, Finding
from agent.runner import RunView
from agent.vocabulary import SSL_EARLIEST_CERT_EXPIRY, Detail

PASS, FAIL, NA = Compliance.PASS, Compliance.FAIL, Compliance.NOT_APPLICABLE
_VERSION = re.compile(r"TLS ?v?(\d)\.(\d)", re.IGNORECASE)


def tls_rank(text: str) -> tuple[int, int] | None:
    """``TLS 1.2`` / ``TLSv1.2`` / ``TLS1.2`` -> (1, 2); SSL versions rank below every TLS."""
    match = _VERSION.search(text)
    if match:
        return int(match.group(1)), int(match.group(2))
    return (0, 0) if "SSL" in text.upper() else None


@dataclass(frozen=True, slots=True)
class TlsMinVersionPolicy:
    min_version: str = "TLS1.2"
    name: str = "tls_min_version"

    def evaluate(self, run: RunView) -> Finding:
        seen = run.info.get(Detail.TLS_VERSION)
        if not seen:
            return Finding(self.name, NA, "no TLS session in this run")
        wanted = self.min_version.replace("TLS", "TLS ")
        rank, floor = tls_rank(seen), tls_rank(self.min_version)
        if rank is None or floor is None:
            return Finding(self.name, NA, f"unknown TLS version {seen!r}")
        if rank < floor:
            return Finding(self.name, FAIL, f"negotiated {seen}, below the policy's {wanted}", seen)
        return Finding(self.name, PASS, f"negotiated {seen} ({wanted} or newer required)", seen)


@dataclass(frozen=True, slots=True)
class CertMinDaysLeftPolicy:
    days: float = 14.0
    clock: Callable[[], float] = field(default=time.time, compare=False)
    name: str = "cert_min_days_left"

    def evaluate(self, run: RunView) -> Finding:
        expiry = run.values.get(SSL_EARLIEST_CERT_EXPIRY)
        if expiry is None:
            return Finding(self.name, NA, "no certificate seen in this run")
        left = (expiry - self.clock()) / 86400
        when = time.strftime("%Y-%m-%d", time.gmtime(expiry))
        if left < 0:
            return Finding(
                self.name, FAIL, f"the certificate expired {-left:.1f} days ago ({when})", when
            )
        if left < self.days:
            return Finding(
                self.name,
                FAIL,
                f"the certificate expires in {left:.1f} days ({when}); "
                f"the policy wants at least {self.days:g}",
                when,
            )
        return Finding(self.name, PASS, f"the certificate is valid for {left:.0f} more days", when)


@dataclass(frozen=True, slots=True)
class HttpsRequiredPolicy:
    """Decided by the probe's URL: the same verdict every run, reported with each."""

    https: bool
    scope: str
    name: str = "https_required"

    def evaluate(self, run: RunView) -> Finding:
        if self.https:
            return Finding(self.name, PASS, f"the {self.scope} endpoint is reached over HTTPS")
        return Finding(
            self.name, FAIL, f"the {self.scope} endpoint is reached over plain HTTP", "http://"
        )


@dataclass(frozen=True, slots=True)
class SecurityHeadersPolicy:
    """``Strict-Transport-Security`` is only required over HTTPS (browsers ignore it on
    plain HTTP, RFC 6797 8.1)."""

    headers: tuple[str, ...]
    https: bool
    name: str = "security_headers"

    def evaluate(self, run: RunView) -> Finding:
        received = run.facts.get("HEADER")
        if received is None:
            return Finding(self.name, NA, "no response headers in this run")
        wanted = [h for h in self.headers if self.https or h.lower() != "strict-transport-security"]
        if not wanted:
            return Finding(self.name, NA, "only HTTPS-only headers are required; this is HTTP")
        present = {k.lower() for k in _keys(received)}
        missing = [h for h in wanted if h.lower() not in present]
        if missing:
            return Finding(self.name, FAIL, f"missing {', '.join(missing)}", ", ".join(missing))
        return Finding(self.name, PASS, f"sends {', '.join(wanted)}")


def _keys(headers: Any) -> list[str]:
    return list(headers.keys()) if hasattr(headers, "keys") else []


@dataclass(frozen=True, slots=True)
class NoSensitiveDataPolicy:
    patterns: Mapping[str, re.Pattern[str]] = field(default_factory=dict, compare=False)
    cards: bool = True
    name: str = "no_sensitive_data"

    def evaluate(self, run: RunView) -> Finding:
        body = run.facts.get("BODY")
        if not isinstance(body, str):
            return Finding(self.name, NA, "no response body in this run")
        found = scan(body, self.patterns, cards=self.cards)
        if not found:
            return Finding(self.name, PASS, f"no sensitive data in {len(body)} characters")
        evidence = ", ".join(f"{m.kind} {m.masked}" for m in found[:3])
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        return Finding(
            self.name, FAIL, f"the response carries sensitive data: {evidence}{more}", evidence
        )


@dataclass(frozen=True, slots=True)
class AuthRequiredPolicy:
    """On a probe derived from a protected endpoint's: the same request, no credentials."""

    method: str
    name: str = "auth_required"

    def evaluate(self, run: RunView) -> Finding:
        status = run.facts.get("STATUS")
        if status is None:
            return Finding(self.name, NA, "no answer to the request without credentials")
        if status in (401, 403):
            return Finding(self.name, PASS, f"refused without credentials ({status})")
        if 200 <= status < 300:
            return Finding(
                self.name,
                FAIL,
                f"a {self.method} without credentials was answered {status}: "
                "authentication is not enforced",
                f"status {status}",
            )
        return Finding(
            self.name,
            NA,
            f"answered {status} without credentials: neither a refusal (401/403) nor served",
        )
