"""The guard: basic auth, TLS and client certificates in front of every endpoint, headers on
every answer, and the web config re-read on reload (a broken one keeps the running one)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path

import aiohttp
import pytest
import trustme

from tests.agent.web.conftest import (
    HOST,
    PASSWORD,
    Certs,
    LocalAgent,
    StartLocal,
    agent_config,
    basic,
    exchange,
    hashed,
)

CONFIG = agent_config("http://127.0.0.1:1/")
ENDPOINTS = [
    "/metrics",
    "/healthz",
    "/readyz",
    "/api/v1/status",
    "/api/v1/compliance",
    "/",
    "/api/v1/history",
    "/api/v1/probes/bill_pay/processor/health",
    "/probe/bill_pay/processor/health",
    "/assets/status.js",
]


def users(**passwords: str) -> str:
    return "basic_auth_users:\n" + "".join(
        f"  {user}: {hashed(password)}\n" for user, password in passwords.items()
    )


def tls(certs: Certs, extra: str = "") -> str:
    return (
        f"tls_server_config:\n  cert_file: {certs.cert_file}\n  key_file: {certs.key_file}\n"
        + extra
    )


async def fetch(
    url: str, *, auth: str | None = None, context: ssl.SSLContext | None = None
) -> tuple[int, dict[str, str]]:
    headers = {"Authorization": auth} if auth else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers=headers, ssl=context if context else False) as response,
    ):
        await response.read()
        return response.status, dict(response.headers)


def base(agent: LocalAgent, scheme: str = "http") -> str:
    return f"{scheme}://{HOST}:{agent.port}"


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_every_endpoint_asks_for_credentials(local_agent: StartLocal, path: str) -> None:
    agent = await local_agent(CONFIG, users(prometheus=PASSWORD))
    url = base(agent) + path
    status, headers = await fetch(url)
    assert (status, headers["WWW-Authenticate"]) == (401, "Basic")
    assert (await fetch(url, auth=basic("prometheus", "wrong")))[0] == 401
    assert (await fetch(url, auth=basic("nobody", PASSWORD)))[0] == 401
    assert (await fetch(url, auth="Basic !!!not-base64"))[0] == 401
    assert (await fetch(url, auth="Bearer " + PASSWORD))[0] == 401
    ready = 503 if path == "/readyz" else 200  # probes are not started here
    assert (await fetch(url, auth=basic("prometheus", PASSWORD)))[0] == ready


async def test_a_checked_password_is_remembered_not_hashed_again(local_agent: StartLocal) -> None:
    agent = await local_agent(CONFIG, users(prometheus=PASSWORD, ops="other"))
    guard = agent.server.guard
    for _ in range(5):
        assert (await fetch(base(agent) + "/metrics", auth=basic("prometheus", PASSWORD)))[0] == 200
    assert guard.bcrypt_runs == 1
    for _ in range(3):
        assert (await fetch(base(agent) + "/metrics", auth=basic("prometheus", "guess")))[0] == 401
    assert guard.bcrypt_runs == 2  # a wrong password is remembered too
    for attempt in range(300):  # a stream of wrong passwords does not push out the right one
        await guard.authorized(basic("prometheus", f"guess-{attempt}"))
    runs = guard.bcrypt_runs
    assert await guard.authorized(basic("prometheus", PASSWORD))
    assert guard.bcrypt_runs == runs


async def test_configured_headers_are_on_every_answer(local_agent: StartLocal) -> None:
    web = users(prometheus=PASSWORD) + (
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
        "    X-Content-Type-Options: nosniff\n"
    )
    agent = await local_agent(CONFIG, web)
    for path, auth, status in [
        ("/metrics", basic("prometheus", PASSWORD), 200),
        ("/metrics", None, 401),
        ("/no-such-page", basic("prometheus", PASSWORD), 404),
    ]:
        got, headers = await fetch(base(agent) + path, auth=auth)
        assert got == status
        assert (headers["X-Frame-Options"], headers["X-Content-Type-Options"]) == (
            "deny",
            "nosniff",
        )


async def test_tls_serves_the_configured_certificate(local_agent: StartLocal, certs: Certs) -> None:
    agent = await local_agent(CONFIG, tls(certs))
    for path in ENDPOINTS:
        status, _ = await fetch(base(agent, "https") + path, context=certs.client_context())
        assert status in (200, 503), path


async def test_plain_http_to_the_tls_port_is_told_so_cleanly(
    local_agent: StartLocal, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    agent = await local_agent(CONFIG, tls(certs))
    for _ in range(3):
        answer = await exchange(agent.port, b"GET /metrics HTTP/1.1\r\nHost: agent\r\n\r\n")
        assert answer == (
            b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Connection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
        )
    assert (await fetch(base(agent, "https") + "/healthz", context=certs.client_context()))[
        0
    ] == 200
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING]
    assert len([r for r in caplog.records if "plain HTTP from" in r.getMessage()]) == 1
    for _ in range(100):  # every one of them was let go
        if not agent.server.listener.open:
            break
        await asyncio.sleep(0.02)
    assert not agent.server.listener.open


async def test_a_failed_handshake_is_one_quiet_line(
    local_agent: StartLocal, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    agent = await local_agent(CONFIG, tls(certs))
    untrusting = ssl.create_default_context()  # does not know the test CA
    for _ in range(3):
        with pytest.raises(aiohttp.ClientError):
            await fetch(base(agent, "https") + "/metrics", context=untrusting)
    garbage = bytes([0x16, 3, 1]) + bytes(range(200))  # a TLS record header, then nonsense
    assert await exchange(agent.port, garbage) == b""
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING]
    assert len([r for r in caplog.records if "failed to start" in r.getMessage()]) == 1


async def test_client_certificates_are_required_when_configured(
    local_agent: StartLocal, certs: Certs
) -> None:
    web = tls(
        certs,
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {certs.ca_file}\n",
    )
    agent = await local_agent(CONFIG, web)
    url = base(agent, "https") + "/metrics"
    with pytest.raises(aiohttp.ClientError):
        await fetch(url, context=certs.client_context(with_cert=False))
    stranger = certs.client_context()
    other_ca = trustme.CA()
    other_ca.issue_cert("intruder@oversight.test").configure_cert(stranger)
    with pytest.raises(aiohttp.ClientError):
        await fetch(url, context=stranger)
    assert (await fetch(url, context=certs.client_context(with_cert=True)))[0] == 200


async def test_agent_web_config_is_read_from_beside_the_config(
    local_agent: StartLocal, tmp_path: Path
) -> None:
    (tmp_path / "guard.yml").write_text(users(prometheus=PASSWORD))
    config = agent_config("http://127.0.0.1:1/", extra="  web_config: guard.yml\n")
    agent = await local_agent(config)
    assert (await fetch(base(agent) + "/metrics"))[0] == 401
    assert (await fetch(base(agent) + "/metrics", auth=basic("prometheus", PASSWORD)))[0] == 200


async def test_a_reload_reads_the_web_config_again(
    local_agent: StartLocal, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    agent = await local_agent(CONFIG, tls(certs) + users(prometheus="old"))
    web = agent.path.with_name("web.yml")
    url = base(agent, "https") + "/metrics"
    context = certs.client_context()
    first = certs.ca.issue_cert(HOST)  # a rotated certificate, picked up by new connections
    first.cert_chain_pems[0].write_to_path(str(certs.cert_file))
    first.private_key_pem.write_to_path(str(certs.key_file))
    web.write_text(tls(certs) + users(prometheus="new"))
    outcome = await agent.app.reload()
    assert (outcome.ok, outcome.errors) == (True, ())
    assert (await fetch(url, auth=basic("prometheus", "old"), context=context))[0] == 401
    assert (await fetch(url, auth=basic("prometheus", "new"), context=context))[0] == 200
    _, writer = await asyncio.open_connection(HOST, agent.port, ssl=context)
    served = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    assert served == ssl.PEM_cert_to_DER_cert(first.cert_chain_pems[0].bytes().decode())

    caplog.set_level(logging.ERROR)
    web.write_text(tls(certs) + "basic_auth_users:\n  prometheus: plain-text\n")
    outcome = await agent.app.reload()
    assert not outcome.ok and not agent.app.reload_successful
    assert outcome.errors == (
        f"{web}:5: basic_auth_users.prometheus: is not a bcrypt hash; make one with: "
        "htpasswd -nBC 10 \"\" | tr -d ':\\n' (the running web config is kept)",
    )
    assert "web config not reloaded, keeping the running one" in caplog.text
    assert (await fetch(url, auth=basic("prometheus", "new"), context=context))[0] == 200
