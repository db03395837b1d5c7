"""The demo's capacity: a connection pool that can leak, partners' rate limits, our credentials."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import math
import secrets
import time
from pathlib import Path

import trustme

POOL_BUSY = 0.2  # share of a pool in use while nothing leaks
RATE_WINDOW = 60.0  # seconds; a partner's quota refills at the end of each window

# Files the demo writes beside its CA, and the agent config reads.
CLIENT_CERT = "agent-client.pem"  # our mTLS client certificate for the payment processor
CLIENT_KEY = "agent-client.key"
TOKEN = "kyc-token.jwt"  # our API token for the KYC vendor
CLIENT_CERT_DAYS = (45, 45)  # issued 45 days ago, expires in 45: half its life gone
TOKEN_HOURS = (48, 120)  # issued 2 days ago, expires in 5


class Pool:
    """A database connection pool: a fifth busy, until a leak takes ``rate`` connections a
    second that never come back (capped at its size). Healing empties what leaked."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._rate = 0.0
        self._since = 0.0

    def leak(self, rate: float) -> None:
        if rate and not self._rate:
            self._since = time.monotonic()
        self._rate = rate

    def in_use(self) -> int:
        busy = self.size * POOL_BUSY
        if self._rate:
            busy += self._rate * (time.monotonic() - self._since)
        return min(self.size, math.floor(busy))

    def exposition(self) -> str:
        """The pool as a Prometheus exporter would show it (text format 0.0.4)."""
        in_use = self.in_use()
        return (
            "# HELP demo_db_pool_connections Connections of the database pool by state.\n"
            "# TYPE demo_db_pool_connections gauge\n"
            f'demo_db_pool_connections{{pool="primary",state="in_use"}} {in_use}\n'
            f'demo_db_pool_connections{{pool="primary",state="idle"}} {self.size - in_use}\n'
            "# HELP demo_db_pool_max_connections Size of the database pool.\n"
            "# TYPE demo_db_pool_max_connections gauge\n"
            f'demo_db_pool_max_connections{{pool="primary"}} {self.size}\n'
        )


class RateLimit:
    """A partner's quota of ``limit`` requests per window, told in ``X-RateLimit-*`` headers;
    past it, 429 with ``Retry-After``."""

    def __init__(self, limit: int, window: float = RATE_WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._start = time.monotonic()
        self._calls = 0

    def take(self) -> tuple[bool, dict[str, str]]:
        """Count one request: (allowed, headers to send with the answer)."""
        now = time.monotonic()
        if now - self._start >= self.window:
            self._start += (now - self._start) // self.window * self.window
            self._calls = 0
        self._calls += 1
        reset = max(1, math.ceil(self._start + self.window - now))
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.limit - self._calls, 0)),
            "X-RateLimit-Reset": str(reset),
        }
        allowed = self._calls <= self.limit
        if not allowed:
            headers["Retry-After"] = str(reset)
        return allowed, headers


def write_credentials(ca: trustme.CA, workdir: Path) -> None:
    """Our client certificate (and key) and a JWT, with the ages above, beside the CA."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ago, left = CLIENT_CERT_DAYS
    leaf = ca.issue_cert(
        "oversight-agent@demo.test",
        common_name="oversight-agent",
        not_before=now - dt.timedelta(days=ago),
        not_after=now + dt.timedelta(days=left),
    )
    leaf.cert_chain_pems[0].write_to_path(str(workdir / CLIENT_CERT))
    leaf.private_key_pem.write_to_path(str(workdir / CLIENT_KEY))
    issued, expires = TOKEN_HOURS
    claims = {
        "iss": "https://idp.demo.test",
        "sub": "oversight-agent",
        "aud": "kyc-vendor",
        "iat": int(now.timestamp()) - issued * 3600,
        "exp": int(now.timestamp()) + expires * 3600,
    }
    (workdir / TOKEN).write_text(_jwt(claims, secrets.token_bytes(32)) + "\n")


def _jwt(claims: dict[str, object], key: bytes) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims).encode())
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"
