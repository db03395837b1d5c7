"""The http kind against loopback peers: conditions, phases, TLS, redirects, hostile targets."""

from __future__ import annotations

import asyncio
import base64
import random
import re
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from agent import vocabulary as v
from agent.probers import REGISTRY
from agent.probers.http import HttpProbe
from agent.probers.http_facts import Body, json_lookup, parse_path
from agent.results import Reason, Result
from agent.text import MESSAGE_LIMIT
from agent.vocabulary import Detail
from tests.agent.probers.conftest import RunProbe
from tests.peers.http_servers import (
    Certs,
    MiB,
    Running,
    answer_with,
    closed_port,
    never_answer,
    peer_app,
    raw_server,
    self_signed_context,
    serve,
)


@pytest.fixture
async def peer() -> AsyncIterator[Running]:
    async with serve(peer_app()) as running:
        yield running


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return Certs(tmp_path)


@pytest.fixture
async def https_peer(certs: Certs) -> AsyncIterator[Running]:
    async with serve(peer_app(), ssl_context=certs.server_context()) as running:
        yield running


def phases(result: Result) -> dict[str, float]:
    return dict(result.phases)


# --- conditions --------------------------------------------------------------------------

CONDITIONS = [
    # path, conditions (None: the default [STATUS] in 200..299), reason, observed text
    ("/status/200", None, None, ""),
    ("/status/204", None, None, ""),
    ("/status/503", None, Reason.STATUS_MISMATCH, "[STATUS] (503) in 200..299"),
    ("/status/404", ["[STATUS] == 404"], None, ""),
    ("/json", ["[BODY.data.items[0].id] == 7"], None, ""),
    ("/json", ['[BODY.status] == "UP"', "[BODY.data.count] >= 1"], None, ""),
    ("/json", ["[BODY.status] == DOWN"], Reason.BODY_MISMATCH, "[BODY.status] (UP) == DOWN"),
    ("/json", ["[BODY.data.items[3].id] exists"], Reason.BODY_MISMATCH, "(absent)"),
    ("/text", ["[BODY.status] == UP"], Reason.BODY_MISMATCH, "(body is not JSON)"),
    ("/text", ["[BODY] contains hello"], None, ""),
    ("/text", ["[BODY] contains goodbye"], Reason.BODY_MISMATCH, "contains goodbye"),
    ("/text?text=version+2.4.1", ["[BODY] matches \\d+\\.\\d+\\.\\d+"], None, ""),
    ("/headers", ["[HEADER.x-custom] == abc"], None, ""),
    ("/headers", ['[HEADER.X-Multi] == "one, two"'], None, ""),
    ("/headers", ["[HEADER.X-Custom] == xyz"], Reason.HEADER_MISMATCH, "(abc) == xyz"),
    ("/headers", ["[HEADER.X-Missing] exists"], Reason.HEADER_MISMATCH, "(absent)"),
    ("/headers", ["[HEADER.X-Missing] not exists"], None, ""),
    ("/status/200", ["[HTTP_VERSION] == 1.1"], None, ""),
    ("/gzip", ["[BODY.compressed] == true"], None, ""),
]


@pytest.mark.parametrize(("path", "conditions", "reason", "observed"), CONDITIONS)
async def test_conditions(
    run_probe: RunProbe,
    peer: Running,
    path: str,
    conditions: list[str] | None,
    reason: Reason | None,
    observed: str,
) -> None:
    result = await run_probe("http", {"url": peer.url(path)}, conditions=conditions)
    assert result.reason == reason, result.message
    assert result.success is (reason is None)
    assert observed in result.message


# --- values and phases --------------------------------------------------------------------


async def test_http_values_and_phases(run_probe: RunProbe, peer: Running) -> None:
    url = peer.url("/json").replace("127.0.0.1", "localhost")
    result = await run_probe("http", {"url": url, "ip_protocol": "ip4"})
    assert result.success, result.message
    timings = phases(result)
    assert {"resolve", "connect", "processing", "transfer"} <= timings.keys()
    assert "tls" not in timings
    assert all(value >= 0 for value in timings.values())
    assert timings["resolve"] > 0  # localhost was looked up, not taken as an address
    body_length = len(peer.state.last("/json").body) or result.value(v.HTTP_CONTENT_LENGTH)
    assert result.value(v.HTTP_STATUS_CODE) == 200
    assert result.value(v.HTTP_VERSION) == 1.1
    assert result.value(v.HTTP_REDIRECTS) == 0
    assert result.value(v.HTTP_CONTENT_LENGTH) == body_length
    assert result.value(v.HTTP_UNCOMPRESSED_BODY_LENGTH) == body_length
    assert peer.state.last().headers["User-Agent"].startswith("Oversight/")


async def test_compressed_body_counts_both_lengths(run_probe: RunProbe, peer: Running) -> None:
    result = await run_probe("http", {"url": peer.url("/gzip")})
    assert result.success, result.message
    compressed = result.value(v.HTTP_CONTENT_LENGTH)
    uncompressed = result.value(v.HTTP_UNCOMPRESSED_BODY_LENGTH)
    assert compressed is not None and uncompressed is not None
    assert 0 < compressed < uncompressed


async def test_method_and_body_reach_the_server(run_probe: RunProbe, peer: Running) -> None:
    settings = {
        "url": peer.url("/echo"),
        "method": "post",
        "body": '{"amount": 10}',
        "headers": {"Content-Type": "application/json", "X-Request-Id": "r-1"},
    }
    result = await run_probe("http", settings, conditions=["[BODY.method] == POST"])
    assert result.success, result.message
    seen = peer.state.last("/echo")
    assert (seen.method, seen.body) == ("POST", b'{"amount": 10}')
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["X-Request-Id"] == "r-1"


async def test_head_reads_no_body(run_probe: RunProbe, peer: Running) -> None:
    result = await run_probe("http", {"url": peer.url("/status/200"), "method": "HEAD"})
    assert result.success, result.message
    assert result.value(v.HTTP_UNCOMPRESSED_BODY_LENGTH) == 0


async def test_concurrent_runs_keep_their_own_timings(
    run_probe: RunProbe, https_peer: Running, peer: Running, certs: Certs
) -> None:
    """One shared client serves every run; each run's phases and TLS facts are its own."""
    tls = {"ca_file": certs.ca_file}
    runs = [
        run_probe("http", {"url": https_peer.url(f"/status/{200 + i}"), "tls": tls})
        if i % 2
        else run_probe("http", {"url": peer.url(f"/status/{200 + i}")})
        for i in range(12)
    ]
    results = await asyncio.gather(*runs)
    for i, result in enumerate(results):
        assert result.value(v.HTTP_STATUS_CODE) == 200 + i
        assert ("tls" in phases(result)) is bool(i % 2)
        assert (result.info_value(Detail.TLS_VERSION) is not None) is bool(i % 2)


# --- TLS -------------------------------------------------------------------------------------


async def test_https_records_tls(run_probe: RunProbe, https_peer: Running, certs: Certs) -> None:
    settings = {"url": https_peer.url("/json"), "tls": {"ca_file": certs.ca_file}}
    conditions = ["[STATUS] == 200", '[TLS_VERSION] == "TLS 1.3"', "[CERT_EXPIRY] > 30d"]
    result = await run_probe("http", settings, conditions=conditions)
    assert result.success, result.message
    timings = phases(result)
    assert {"resolve", "connect", "tls", "processing", "transfer"} <= timings.keys()
    assert all(value >= 0 for value in timings.values())
    assert timings["tls"] > 0
    assert result.info_value(Detail.TLS_VERSION) == "TLS 1.3"
    assert result.info_value(Detail.TLS_CIPHER)
    expiry = result.value(v.SSL_EARLIEST_CERT_EXPIRY)
    assert expiry is not None and expiry > result.started + 30 * 86400


async def test_tls12_only_server(run_probe: RunProbe, certs: Certs) -> None:
    context = certs.server_context(max_version=ssl.TLSVersion.TLSv1_2)
    async with serve(peer_app(), ssl_context=context) as server:
        settings = {"url": server.url("/status/200"), "tls": {"ca_file": certs.ca_file}}
        result = await run_probe("http", settings, conditions=['[TLS_VERSION] == "TLS 1.2"'])
        assert result.success, result.message
        assert result.info_value(Detail.TLS_VERSION) == "TLS 1.2"
        strict = {**settings, "tls": {"ca_file": certs.ca_file, "min_version": "TLS1.3"}}
        refused = await run_probe("http", strict)
    assert refused.reason == Reason.TLS_ERROR, refused.message
    assert "TLS handshake failed" in refused.message


@pytest.mark.parametrize(
    ("server", "trust", "message"),
    [
        ("expired", "ca", "certificate has expired"),
        ("wrong_host", "ca", "mismatch, certificate is not valid for '127.0.0.1'"),
        ("self_signed", "ca", "self-signed certificate"),
        ("valid", "system", "unable to get local issuer certificate"),
    ],
)
async def test_certificate_errors(
    run_probe: RunProbe, certs: Certs, server: str, trust: str, message: str
) -> None:
    contexts = {
        "expired": lambda: certs.server_context(expired=True),
        "wrong_host": lambda: certs.server_context("bank.example"),
        "self_signed": self_signed_context,
        "valid": certs.server_context,
    }
    tls = {"ca_file": certs.ca_file} if trust == "ca" else {}
    async with serve(peer_app(), ssl_context=contexts[server]()) as running:
        result = await run_probe("http", {"url": running.url("/status/200"), "tls": tls})
        insecure = {"url": running.url("/status/200"), "tls": {"insecure_skip_verify": True}}
        skipped = await run_probe("http", insecure)
    assert result.reason == Reason.TLS_ERROR
    assert result.message.startswith("certificate verify failed: ")
    assert message in result.message
    assert skipped.success, skipped.message


# --- redirects -------------------------------------------------------------------------------


async def test_redirects_followed_and_counted(run_probe: RunProbe, peer: Running) -> None:
    conditions = ["[STATUS] == 200", "[BODY] == arrived"]
    result = await run_probe("http", {"url": peer.url("/redirect/3")}, conditions=conditions)
    assert result.success, result.message
    assert result.value(v.HTTP_REDIRECTS) == 3
    paths = [r.path for r in peer.state.requests]
    assert paths == ["/redirect/3", "/redirect/2", "/redirect/1", "/redirect/0"]


@pytest.mark.parametrize(
    ("path", "settings", "reason", "message"),
    [
        ("/loop", {}, Reason.REDIRECT_LIMIT, "redirect loop back to http://127.0.0.1:"),
        ("/redirect/5", {"max_redirects": 2}, Reason.REDIRECT_LIMIT, "more than 2 redirects"),
        ("/redirect/1", {"max_redirects": 0}, Reason.REDIRECT_LIMIT, "more than 0 redirects"),
        ("/redirect/1", {"follow_redirects": False}, Reason.STATUS_MISMATCH, "[STATUS] (302)"),
        ("/redirect-to?url=ftp://x/", {}, Reason.PROTOCOL_ERROR, "non-HTTP URL ftp://x/"),
    ],
)
async def test_redirect_failures(
    run_probe: RunProbe,
    peer: Running,
    path: str,
    settings: dict[str, object],
    reason: Reason,
    message: str,
) -> None:
    result = await run_probe("http", {"url": peer.url(path), **settings})
    assert result.reason == reason
    assert message in result.message


async def test_see_other_turns_post_into_get(run_probe: RunProbe, peer: Running) -> None:
    url = peer.url("/redirect-to?status=303&url=/echo")
    conditions = ["[BODY.method] == GET", '[BODY.body] == ""']
    settings = {"url": url, "method": "POST", "body": "form"}
    result = await run_probe("http", settings, conditions=conditions)
    assert result.success, result.message


async def test_credentials_stay_with_their_origin(run_probe: RunProbe, peer: Running) -> None:
    async with serve(peer_app()) as other:
        elsewhere = other.url("/status/200").replace("127.0.0.1", "localhost")
        settings = {
            "url": peer.url(f"/redirect-to?url={elsewhere}"),
            "bearer_token": "t0ken-for-peer-only",
            "headers": {"X-Api-Key": "k3y-for-peer-only", "X-Trace": "kept"},
        }
        result = await run_probe("http", settings)
        assert result.success, result.message
        arrived = other.state.last().headers
    assert peer.state.last().headers["Authorization"] == "Bearer t0ken-for-peer-only"
    assert "Authorization" not in arrived and "X-Api-Key" not in arrived
    assert arrived["X-Trace"] == "kept"


# --- hostile and broken targets --------------------------------------------------------------


async def test_huge_body_is_refused_without_buffering(run_probe: RunProbe, peer: Running) -> None:
    result = await run_probe("http", {"url": peer.url("/stream/200")}, timeout=30)
    assert result.reason == Reason.TOO_LARGE
    assert result.message == "the body is larger than max_body_bytes (1048576 bytes)"
    assert peer.state.streamed_bytes < 64 * MiB  # the 200 MiB were never all sent, nor read
    declared = await run_probe(
        "http", {"url": peer.url("/stream/200?declared=1"), "max_body_bytes": "2MiB"}, timeout=30
    )
    assert declared.reason == Reason.TOO_LARGE
    assert declared.message.endswith(f"(2097152 bytes): Content-Length is {200 * MiB}")
    assert declared.value(v.HTTP_CONTENT_LENGTH) == 200 * MiB


@pytest.mark.parametrize(("target", "phase"), [("silent", "processing"), ("trickle", "transfer")])
async def test_slow_targets_time_out(
    run_probe: RunProbe, peer: Running, target: str, phase: str
) -> None:
    timeout = 1.5
    async with raw_server(never_answer) as port:
        url = f"http://127.0.0.1:{port}/" if target == "silent" else peer.url("/trickle")
        result = await run_probe("http", {"url": url}, timeout=timeout)
    assert result.reason == Reason.TIMEOUT
    assert result.message == f"no answer within {timeout:g}s (during {phase})"
    assert result.duration < timeout + 1
    assert phases(result)[phase] > 0


@pytest.mark.parametrize(
    ("raw", "reason", "message"),
    [
        (b"garbage\r\n\r\n", Reason.PROTOCOL_ERROR, "malformed response"),
        (b"", Reason.CONNECT_ERROR, "the server closed the connection unanswered"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            Reason.PROTOCOL_ERROR,
            "malformed body",
        ),
    ],
)
async def test_broken_responses(
    run_probe: RunProbe, raw: bytes, reason: Reason, message: str
) -> None:
    async with raw_server(answer_with(raw)) as port:
        result = await run_probe("http", {"url": f"http://127.0.0.1:{port}/"})
    assert result.reason == reason, result.message
    assert message in result.message


async def test_four_kib_of_junk_gives_a_message_of_a_few_hundred_characters(
    run_probe: RunProbe,
) -> None:
    """aiohttp quotes the whole status line it could not parse: 4 KiB of binary became a
    message of some 12,000 characters in every output."""
    junk = b"\x00\x02" + random.Random(12).randbytes(4094)
    async with raw_server(answer_with(junk)) as port:
        result = await run_probe("http", {"url": f"http://127.0.0.1:{port}/"})
    assert result.reason == Reason.PROTOCOL_ERROR
    assert result.message.startswith("malformed response: Bad status line:\\n  Expected HTTP/")
    assert re.search(r"… \(1[01],\d{3} characters\)$", result.message), result.message
    assert len(result.message) <= MESSAGE_LIMIT and result.message.isprintable()


async def test_a_one_mib_header_gives_a_message_of_a_few_hundred_characters(
    run_probe: RunProbe,
) -> None:
    raw = b"HTTP/1.1 200 OK\r\nX-Big: " + b"\x01b" * (MiB // 2) + b"\r\nContent-Length: 0\r\n\r\n"
    async with raw_server(answer_with(raw)) as port:
        result = await run_probe("http", {"url": f"http://127.0.0.1:{port}/"}, timeout=10)
    assert result.reason == Reason.PROTOCOL_ERROR
    assert result.message.startswith("malformed response: Got more than 8190 bytes ")
    assert len(result.message) <= MESSAGE_LIMIT and result.message.isprintable()


async def test_refused(run_probe: RunProbe) -> None:
    result = await run_probe("http", {"url": f"http://127.0.0.1:{closed_port()}/"})
    assert (result.reason, result.message) == (Reason.CONNECT_REFUSED, "connection refused")


async def test_unknown_name(run_probe: RunProbe) -> None:
    # The C library refuses this name itself, so no query leaves the machine.
    result = await run_probe("http", {"url": "http://-x-./"})
    assert result.reason == Reason.DNS_ERROR
    assert result.message.startswith("cannot resolve -x-.: ")


async def test_address_family_mismatch(run_probe: RunProbe, peer: Running) -> None:
    result = await run_probe("http", {"url": peer.url("/"), "ip_protocol": "ip6"})
    assert result.reason == Reason.DNS_ERROR
    assert result.message == "127.0.0.1 is not an ip6 address"


# --- credentials, secrets and trace context --------------------------------------------------


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_basic_auth_from_file_follows_rotation(
    run_probe: RunProbe, peer: Running, tmp_path: Path
) -> None:
    secret = tmp_path / "password"
    secret.write_text("first-pass\n")
    settings = {
        "url": peer.url("/status/200"),
        "basic_auth": {"username": "agent", "password_file": str(secret)},
    }
    assert (await run_probe("http", settings)).success
    assert peer.state.last().headers["Authorization"] == basic("agent", "first-pass")
    secret.write_text("second-pass")
    assert (await run_probe("http", settings)).success
    assert peer.state.last().headers["Authorization"] == basic("agent", "second-pass")


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"basic_auth": {"username": "u", "password": "p@ss"}}, basic("u", "p@ss")),
        ({"bearer_token": "abc.def"}, "Bearer abc.def"),
        ({"bearer_token_file": "{token_file}"}, "Bearer from-a-file"),
        ({"url_userinfo": "carol:s3cret"}, basic("carol", "s3cret")),
    ],
)
async def test_credentials_reach_the_server(
    run_probe: RunProbe, peer: Running, tmp_path: Path, settings: dict[str, object], expected: str
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\n")
    url = peer.url("/status/200")
    config: dict[str, object] = {"url": url}
    for key, value in settings.items():
        if key == "url_userinfo":
            config["url"] = url.replace("://", f"://{value}@")
        else:
            config[key] = str(token_file) if value == "{token_file}" else value
    result = await run_probe("http", config)
    assert result.success, result.message
    assert peer.state.last().headers["Authorization"] == expected


async def test_missing_token_file(run_probe: RunProbe, peer: Running, tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    result = await run_probe("http", {"url": peer.url("/"), "bearer_token_file": str(missing)})
    assert result.reason == Reason.INTERNAL_ERROR
    assert result.message.startswith(f"cannot read bearer_token_file {missing}: ")


SECRETS = ("hunter22", "q-token-value", "header-secret-value", "extra-secret-value")


@pytest.mark.parametrize("where", ["status", "refused", "tls"])
async def test_secrets_never_in_results(
    run_probe: RunProbe, peer: Running, certs: Certs, where: str
) -> None:
    base = {
        "status": peer.url("/status/500"),
        "refused": f"http://127.0.0.1:{closed_port()}/status/500",
        "tls": peer.url("/status/500").replace("http://", "https://"),
    }[where]
    url = base.replace("://", "://ops:hunter22@") + "?token=q-token-value&page=2"
    settings = {
        "url": url,
        "headers": {"X-Api-Key": "header-secret-value", "X-Internal": "extra-secret-value"},
        "secret_headers": ["X-Internal"],
        "tls": {"ca_file": certs.ca_file},
    }
    target = REGISTRY["http"].target(HttpProbe.model_validate(settings))
    result = await run_probe("http", settings)
    assert not result.success
    texts = [result.message, target, *(v for _, v in result.info)]
    texts += [c.observed for c in result.conditions]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, (secret, text)
    assert target == base.replace("/status/500", "/status/500?token=<redacted>&page=2")


@pytest.mark.parametrize("trace_context", [True, False])
async def test_trace_context(run_probe: RunProbe, peer: Running, trace_context: bool) -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    settings = {"url": peer.url("/status/200"), "trace_context": trace_context}
    result = await run_probe("http", settings, trace_headers={"traceparent": traceparent})
    assert result.success, result.message
    assert peer.state.last().headers.get("traceparent") == (traceparent if trace_context else None)


# --- config -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"url": "ftp://bank.example/"}, "'ftp://bank.example/' is not an http:// or https:// URL"),
        ({"url": "http:///path"}, "is not an http:// or https:// URL"),
        ({"url": "http://a/", "method": "GET /"}, "String should match pattern"),
        ({"url": "http://a/", "headers": {"X-A": "1\r\nX-B: 2"}}, "header X-A has a line break"),
        ({"url": "http://a/", "max_body_bytes": 0}, "greater than 0"),
        ({"url": "http://a/", "basic_auth": {"username": "u"}}, "exactly one of password and"),
        (
            {"url": "http://u:pw@a/", "bearer_token": "secret-token"},
            "give one credential, not user:password in url and bearer_token",
        ),
        (
            {"url": "http://a/", "headers": {"authorization": "x"}, "bearer_token_file": "/f"},
            "give one credential, not bearer_token_file and an Authorization header",
        ),
    ],
)
def test_invalid_config(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        HttpProbe.model_validate(settings)
    assert message in str(caught.value)
    assert "secret-token" not in str(caught.value) and ":pw@" not in str(caught.value)


def test_config_defaults_and_sizes() -> None:
    config = HttpProbe.model_validate({"url": "https://a/", "max_body_bytes": "512KiB"})
    assert (config.method, config.max_redirects, config.max_body_bytes) == ("GET", 10, 512 * 1024)
    assert HttpProbe.model_validate({"url": "http://a/"}).max_body_bytes == MiB


# --- JSON paths -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("status", ("status",)),
        ("data.items[0].id", ("data", "items", 0, "id")),
        ("[1]", (1,)),
        ('["a.b"].c', ("a.b", "c")),
        ("list[-1]", ("list", -1)),
    ],
)
def test_parse_path(path: str, steps: tuple[str | int, ...]) -> None:
    assert parse_path(path) == steps


@pytest.mark.parametrize(
    ("body", "path", "expected"),
    [
        ('{"data": {"items": [{"id": 7}]}}', "data.items[0].id", 7),
        ('{"a.b": {"c": null}}', '["a.b"].c', None),
        ("[1, 2, 3]", "[-1]", 3),
        ('{"data": {"items": []}}', "data.items[0]", LookupError("data.items has no [0]")),
        ('{"data": 1}', "data.x", LookupError("data is not an object")),
        ('{"data": {}}', "data[0]", LookupError("data is not an array")),
        ('{"data": {}}', "data.missing", LookupError("data has no 'missing'")),
        ("<html>", "status", ValueError("body is not JSON")),
        ("{}", "a..b", LookupError("bad JSON path 'a..b' at '..b'")),
    ],
)
def test_json_lookup(body: str, path: str, expected: object) -> None:
    if isinstance(expected, Exception):
        with pytest.raises(type(expected)) as caught:
            json_lookup(Body(body), path)
        assert str(caught.value) == str(expected)
    else:
        assert json_lookup(Body(body), path) == expected
