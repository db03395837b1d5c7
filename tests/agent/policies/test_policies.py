"""Each per-run policy against real loopback servers: TLS versions and certificates from a
trustme CA, headers present and missing, a leaked card number, an endpoint without auth."""

from __future__ import annotations

import ssl

import pytest

from tests.peers.http_servers import serve
from tests.peers.partner import (
    CARD,
    TOKEN,
    config,
    judge,
    partner_app,
    plan_of,
    status_of,
)
from tests.peers.tls_servers import SERVICE_NAME, TlsPki
from tests.peers.tls_servers import serve as serve_tls

KEY = "p/partner"
TLS12 = ssl.TLSVersion.TLSv1_2


def http_probe(url: str, pki: TlsPki | None = None, scope: str = "external", **extra: str) -> str:
    tls = f", tls: {{ca_file: {pki.ca_file}}}" if pki is not None else ""
    more = "".join(f"\n{' ' * 8}{k}: {v}" for k, v in extra.items())
    return config(
        f"""      partner:
        scope: {scope}{more}
        probes:
          api:
            conditions: ["[STATUS] < 600"]
            http: {{url: "{url}"{tls}}}
"""
    )


def tls_probe(address: str, pki: TlsPki, policies: str = "") -> str:
    return config(
        f"""      partner:
        scope: external
{policies}        probes:
          cert:
            tls:
              address: "{address}"
              server_name: {SERVICE_NAME}
              tls: {{ca_file: {pki.ca_file}}}
"""
    )


@pytest.mark.parametrize(
    ("cap", "minimum", "expected"),
    [
        (
            ssl.TLSVersion.TLSv1_2,
            "TLS1.2",
            ("pass", "cert: negotiated TLS 1.2 (TLS 1.2 or newer required)"),
        ),
        (
            ssl.TLSVersion.TLSv1_2,
            "TLS1.3",
            ("fail", "cert: negotiated TLS 1.2, below the policy's TLS 1.3"),
        ),
        (None, "TLS1.3", ("pass", "cert: negotiated TLS 1.3 (TLS 1.3 or newer required)")),
    ],
    ids=["tls12-ok", "tls12-below-13", "tls13"],
)
async def test_tls_min_version(
    pki: TlsPki, cap: ssl.TLSVersion | None, minimum: str, expected: tuple[str, str]
) -> None:
    policies = f"        compliance: {{tls_min_version: {{min_version: {minimum}}}}}\n"
    async with serve_tls(pki.server_context("valid", max_version=cap)) as server:
        _, _, view = await judge(tls_probe(server.address, pki, policies))
    assert status_of(view, KEY, "tls_min_version") == expected


@pytest.mark.parametrize(
    ("cert", "status", "reason"),
    [
        ("valid", "pass", "cert: the certificate is valid for 90 more days"),
        ("expiring", "fail", "cert: the certificate expires in 10.0 days ("),
        ("expired", "fail", "cert: the certificate expired 1.0 days ago ("),
    ],
)
async def test_cert_min_days_left(pki: TlsPki, cert: str, status: str, reason: str) -> None:
    async with serve_tls(pki.server_context(cert)) as server:
        _, results, view = await judge(tls_probe(server.address, pki))
    got_status, got_reason = status_of(view, KEY, "cert_min_days_left")
    assert (got_status, got_reason[: len(reason)]) == (status, reason)
    if cert == "expiring":
        assert got_reason.endswith("; the policy wants at least 14")
    # an expired certificate fails the probe itself too, yet the policy still judged it
    assert results["p/partner/cert"].success is (cert != "expired")


async def test_an_http_probe_that_cannot_handshake_sees_no_certificate(pki: TlsPki) -> None:
    async with serve(partner_app(), ssl_context=pki.server_context("expired")) as server:
        _, results, view = await judge(http_probe(server.url("/ok"), pki))
    assert results["p/partner/api"].reason == "tls_error"
    assert status_of(view, KEY, "cert_min_days_left") == (
        "not_applicable",
        "api: no certificate seen in this run",
    )


@pytest.mark.parametrize(
    ("secure", "scope", "expected"),
    [
        (True, "external", ("pass", "api: the external endpoint is reached over HTTPS")),
        (False, "external", ("fail", "api: the external endpoint is reached over plain HTTP")),
        (
            False,
            "internal",
            ("not_applicable", "applies to external integrations; this one is internal"),
        ),
    ],
)
async def test_https_required(
    pki: TlsPki, secure: bool, scope: str, expected: tuple[str, str]
) -> None:
    context = pki.server_context("valid") if secure else None
    async with serve(partner_app(), ssl_context=context) as server:
        text = http_probe(server.url("/ok"), pki if secure else None, scope=scope)
        _, _, view = await judge(text)
    assert status_of(view, KEY, "https_required") == expected


@pytest.mark.parametrize(
    ("secure", "path", "override", "expected"),
    [
        (True, "/ok", "", ("pass", "api: sends Strict-Transport-Security, X-Content-Type-Options")),
        (
            True,
            "/bare",
            "",
            ("fail", "api: missing Strict-Transport-Security, X-Content-Type-Options"),
        ),
        # HSTS means nothing over plain HTTP (browsers ignore it): only the other is asked for
        (False, "/bare", "", ("fail", "api: missing X-Content-Type-Options")),
        (False, "/ok", "", ("pass", "api: sends X-Content-Type-Options")),
        (
            True,
            "/ok",
            "{security_headers: {headers: [X-Frame-Options, X-Content-Type-Options]}}",
            ("fail", "api: missing X-Frame-Options"),
        ),
    ],
    ids=["https-all", "https-none", "http-none", "http-all", "configured-list"],
)
async def test_security_headers(
    pki: TlsPki, secure: bool, path: str, override: str, expected: tuple[str, str]
) -> None:
    context = pki.server_context("valid") if secure else None
    extra = {"compliance": override} if override else {}
    async with serve(partner_app(), ssl_context=context) as server:
        text = http_probe(server.url(path), pki if secure else None, **extra)
        _, _, view = await judge(text)
    assert status_of(view, KEY, "security_headers") == expected


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("", "api: the response carries sensitive data: card number **** **** **** 1111"),
        (
            "{no_sensitive_data: {patterns: {national id: '\\d{3}-\\d{2}-\\d{4}'}}}",
            "api: the response carries sensitive data: card number **** **** **** 1111, "
            "national id ***-**-6789",
        ),
    ],
    ids=["cards", "cards-and-pattern"],
)
async def test_a_leaked_card_number_is_found_and_only_its_mask_is_kept(
    secure_partner: object, pki: TlsPki, override: str, expected: str
) -> None:
    extra = {"compliance": override} if override else {}
    _, results, view = await judge(http_probe(secure_partner.url("/leak"), pki, **extra))  # type: ignore[attr-defined]
    assert status_of(view, KEY, "no_sensitive_data") == ("fail", expected)
    finding = next(f for f in results["p/partner/api"].findings if f.policy == "no_sensitive_data")
    digits = CARD.replace(" ", "")
    for text in (finding.reason, finding.evidence, *(c.reason for c in view.checks)):
        assert digits not in text.replace(" ", "") and "123-45-6789" not in text


async def test_clean_bodies_pass(secure_partner: object, pki: TlsPki) -> None:
    _, _, view = await judge(http_probe(secure_partner.url("/ok"), pki))  # type: ignore[attr-defined]
    assert status_of(view, KEY, "no_sensitive_data") == (
        "pass",
        "api: no sensitive data in 37 characters",
    )


def auth_config(url: str, pki: TlsPki) -> str:
    return config(
        f"""      partner:
        scope: external
        compliance: {{auth_required: {{probes: [account]}}}}
        probes:
          account:
            http:
              url: "{url}"
              bearer_token: {TOKEN}
              tls: {{ca_file: {pki.ca_file}}}
"""
    )


@pytest.mark.parametrize(
    ("path", "expected", "reason"),
    [
        ("/locked", ("pass", "account.auth_check: refused without credentials (401)"), None),
        (
            "/open",
            (
                "fail",
                "account.auth_check: a GET without credentials was answered 200: "
                "authentication is not enforced",
            ),
            "status_mismatch",
        ),
    ],
)
async def test_auth_required_sends_the_same_request_without_credentials(
    secure_partner: object, pki: TlsPki, path: str, expected: tuple[str, str], reason: str | None
) -> None:
    plan, results, view = await judge(auth_config(secure_partner.url(path), pki))  # type: ignore[attr-defined]
    assert status_of(view, KEY, "auth_required") == expected
    check = results["p/partner/account.auth_check"]
    assert (check.reason.value if check.reason else None) == reason
    assert results["p/partner/account"].success  # the real probe, with its token, is fine
    # The auth check is scheduled and exported, but it is not one of the integration's probes:
    # a partner that forgets auth is a compliance failure, not an outage.
    assert plan.integrations[KEY].probes == ("p/partner/account",)
    derived = plan.probes["p/partner/account.auth_check"]
    assert derived.derived_from == "p/partner/account"
    assert derived.settings.bearer_token is None and not derived.settings.follow_redirects
    assert derived.target.endswith("(no credentials)")


def test_every_kind_of_credential_is_left_out_of_the_auth_check() -> None:
    text = config(
        """      partner:
        scope: external
        compliance: {auth_required: {probes: [basic, header, userinfo, query], interval: 5m}}
        probes:
          basic:
            http: {url: "https://h.test/a", basic_auth: {username: u, password: pw}}
          header:
            http:
              url: "https://h.test/b"
              headers: {X-Api-Key: k, X-Partner-Key: k2, Accept: application/json}
              secret_headers: [X-Partner-Key]
          userinfo:
            http: {url: "https://user:pw@h.test/c?x=1"}
          query:
            http: {url: "https://h.test/d?api_key=k3&page=2&access_token=t&q=a%20b"}
"""
    )
    plan = plan_of(text)
    basic = plan.probes["p/partner/basic.auth_check"].settings
    header = plan.probes["p/partner/header.auth_check"].settings
    userinfo = plan.probes["p/partner/userinfo.auth_check"].settings
    assert basic.basic_auth is None
    assert header.headers == {"Accept": "application/json"}
    assert userinfo.url == "https://h.test/c?x=1"
    query = plan.probes["p/partner/query.auth_check"].settings
    assert query.url == "https://h.test/d?page=2&q=a+b"
    assert plan.probes["p/partner/basic.auth_check"].interval == 300.0
