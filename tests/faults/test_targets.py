"""Hostile and broken targets, each against a real agent: the run fails with the reason the
case names, by its deadline (or before it), the agent keeps serving, nothing is logged as a
crash, and within 5 s of the result no task, busy thread, socket or child process of the run
is left. Peers come from tests/peers (hostile.py for the worst of them).

Figures (how much later than its timeout a run ends, across a thousand hostile targets) are
the bench's: ``python -m bench faults`` (bench/FAULTS.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.conftest import Case
from tests.peers import hostile
from tests.peers.dns_server import DnsServer
from tests.peers.dns_server import closed_port as closed_udp_port
from tests.peers.grpc_servers import NOT_SERVING, serve_grpc
from tests.peers.http_servers import (
    MiB,
    answer_with,
    closed_port,
    never_answer,
    peer_app,
    raw_server,
    serve,
)
from tests.peers.leaky import big_header_reply, junk_reply, spew
from tests.peers.tls_servers import SERVICE_NAME, TlsPki, silent
from tests.peers.tls_servers import serve as serve_tls

ZONE = {"pay.bank.test.": {"A": ["10.0.0.1"]}}
CARD = "4111111111111111"


@dataclass(frozen=True)
class Env:
    pki: TlsPki
    tmp_path: Path


# A peer: given the test's fixtures, an async context yielding (the probe's kind block as YAML
# at 12 spaces, the ports the agent talks to).
Peer = Callable[[Env], AbstractAsyncContextManager[tuple[str, set[int]]]]
PEERS: dict[str, Peer] = {}
CASES: list[Case] = []


def case(
    id: str, reason: str | None, ends: str, phase: str = "", message: str = ""
) -> Callable[[Callable[[Env], AsyncIterator[tuple[str, set[int]]]]], Peer]:
    def register(peer: Callable[[Env], AsyncIterator[tuple[str, set[int]]]]) -> Peer:
        PEERS[id] = contextlib.asynccontextmanager(peer)
        CASES.append(Case(id, reason, ends, phase, message))
        return PEERS[id]

    return register


def http(url: str, extra: str = "") -> str:
    return f'            http: {{url: "{url}"{extra}}}\n'


def raw(handler):  # type: ignore[no-untyped-def]
    """A raw-server peer answering an http probe with ``handler``."""

    async def peer(_: Env) -> AsyncIterator[tuple[str, set[int]]]:
        async with raw_server(handler) as port:
            yield http(f"http://127.0.0.1:{port}/"), {port}

    return peer


# --- HTTP: the connection ------------------------------------------------------------------


@case("http refused", "connect_refused", "early")
async def _refused(_: Env) -> AsyncIterator[tuple[str, set[int]]]:
    port = closed_port()
    yield http(f"http://127.0.0.1:{port}/"), {port}


@case("http connect never completes (full backlog)", "timeout", "deadline", "connect")
async def _tarpit(_: Env) -> AsyncIterator[tuple[str, set[int]]]:
    with hostile.tarpit() as port:
        yield http(f"http://127.0.0.1:{port}/"), {port}


@case("http name that does not resolve", "dns_error", "early")
async def _no_name(_: Env) -> AsyncIterator[tuple[str, set[int]]]:
    yield http("http://partner.oversight.invalid/"), set()


case("http accepts and never answers", "timeout", "deadline", "processing")(raw(never_answer))
case("http slow-loris headers", "timeout", "deadline")(raw(hostile.slow_headers(0.2)))
case("http reset after the request", "connect_error", "early")(raw(hostile.reset_after_request))
case("http garbage bytes", "protocol_error", "early", message="malformed response")(
    raw(spew(junk_reply(CARD)))
)
case("http 1 MiB response header", "protocol_error", "early")(
    raw(answer_with(big_header_reply(CARD, MiB)))
)
case("http body cut short", "protocol_error", "early")(raw(answer_with(hostile.TRUNCATED)))
case("http status line that is not one", "protocol_error", "early")(
    raw(answer_with(hostile.BAD_STATUS))
)
case("http gzip bomb (256 MiB of zeros)", "too_large", "early")(
    raw(answer_with(hostile.gzip_bomb(256)))
)


# --- HTTP: the body and redirects ----------------------------------------------------------


def routed(path: str, extra: str = ""):  # type: ignore[no-untyped-def]
    async def peer(_: Env) -> AsyncIterator[tuple[str, set[int]]]:
        async with serve(peer_app()) as running:
            port = int(running.base.rsplit(":", 1)[1])
            yield http(running.url(path), extra), {port}

    return peer


case("http slow-loris body", "timeout", "deadline", "transfer")(routed("/trickle"))
case("http endless body", "too_large", "early")(routed("/stream/100000"))
case("http redirect loop", "redirect_limit", "early")(routed("/loop"))


# --- HTTP over TLS -------------------------------------------------------------------------


def tls_peer(cert: str, trust: bool = True):  # type: ignore[no-untyped-def]
    async def peer(env: Env) -> AsyncIterator[tuple[str, set[int]]]:
        context = env.pki.server_context(cert)
        async with serve_tls(context) as listener:
            ca = f", tls: {{ca_file: {env.pki.ca_file}}}" if trust else ""
            yield http(f"https://127.0.0.1:{listener.port}/", ca), {listener.port}

    return peer


@case("https handshake never completes", "timeout", "deadline", "tls")
async def _tls_hang(env: Env) -> AsyncIterator[tuple[str, set[int]]]:
    async with serve_tls(None, silent) as listener:
        ca = f", tls: {{ca_file: {env.pki.ca_file}}}"
        yield http(f"https://127.0.0.1:{listener.port}/", ca), {listener.port}


case("https expired certificate", "tls_error", "early", message="expired")(tls_peer("expired"))
case("https self-signed certificate", "tls_error", "early")(tls_peer("self_signed"))
case("https certificate for another host", "tls_error", "early")(tls_peer("wrong_host"))
case("https certificate from an unknown CA", "tls_error", "early")(tls_peer("untrusted"))


@case("https to a plain HTTP server", "tls_error", "early")
async def _https_to_plain(_: Env) -> AsyncIterator[tuple[str, set[int]]]:
    plain = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    async with raw_server(spew(plain)) as port:
        yield http(f"https://127.0.0.1:{port}/"), {port}


# --- tcp and tls kinds ---------------------------------------------------------------------


@case("tcp connect never completes", "timeout", "deadline", "connect")
async def _tcp_tarpit(_: Env) -> AsyncIterator[tuple[str, set[int]]]:
    with hostile.tarpit() as port:
        yield f'            tcp: {{address: "127.0.0.1:{port}"}}\n', {port}


@case("tcp sends and never hears back", "timeout", "deadline")
async def _tcp_silent(_: Env) -> AsyncIterator[tuple[str, set[int]]]:
    async with serve_tls(None, silent) as listener:
        yield (
            f'            tcp: {{address: "{listener.address}", send: "PING\\n"}}\n',
            {listener.port},
        )


@case("tls handshake never completes", "timeout", "deadline", "tls")
async def _tls_kind_hang(env: Env) -> AsyncIterator[tuple[str, set[int]]]:
    async with serve_tls(None, silent) as listener:
        block = (
            f'            tls: {{address: "{listener.address}", server_name: {SERVICE_NAME},'
            f" tls: {{ca_file: {env.pki.ca_file}}}}}\n"
        )
        yield block, {listener.port}


@case("tls expired certificate", "tls_error", "early")
async def _tls_kind_expired(env: Env) -> AsyncIterator[tuple[str, set[int]]]:
    async with serve_tls(env.pki.server_context("expired")) as listener:
        block = (
            f'            tls: {{address: "{listener.address}", server_name: {SERVICE_NAME},'
            f" tls: {{ca_file: {env.pki.ca_file}}}}}\n"
        )
        yield block, {listener.port}


# --- dns -----------------------------------------------------------------------------------


def dns(mode: str, name: str = "pay.bank.test", transport: str = "udp"):  # type: ignore[no-untyped-def]
    async def peer(_: Env) -> AsyncIterator[tuple[str, set[int]]]:
        async with DnsServer(ZONE, mode=mode) as server:  # type: ignore[arg-type]
            block = (
                f"            dns: {{query_name: {name}, server: "
                f'"{server.address}", transport: {transport}}}\n'
            )
            yield block, {server.port}

    return peer


case("dns black hole (udp)", "timeout", "deadline")(dns("silent"))
case("dns black hole (tcp)", "timeout", "deadline")(dns("silent", transport="tcp"))
case("dns NXDOMAIN", "answer_mismatch", "early", message="NXDOMAIN")(
    dns("answer", "nowhere.bank.test")
)
case("dns SERVFAIL", "answer_mismatch", "early", message="SERVFAIL")(dns("servfail"))
case("dns answer that is not DNS", "protocol_error", "early")(dns("malformed"))


@case("dns server port closed", "connect_refused", "early")
async def _dns_closed(_: Env) -> AsyncIterator[tuple[str, set[int]]]:
    port = closed_udp_port()
    block = f'            dns: {{query_name: pay.bank.test, server: "127.0.0.1:{port}"}}\n'
    yield block, {port}


# --- grpc ----------------------------------------------------------------------------------


@case("grpc server that never answers", "timeout", "deadline")
async def _grpc_hang(_: Env) -> AsyncIterator[tuple[str, set[int]]]:
    async with hostile.hanging_grpc() as port:
        yield f'            grpc: {{address: "127.0.0.1:{port}"}}\n', {port}


@case("grpc to a server that speaks no HTTP/2", "timeout", "deadline")
async def _grpc_black_hole(_: Env) -> AsyncIterator[tuple[str, set[int]]]:
    async with raw_server(never_answer) as port:
        yield f'            grpc: {{address: "127.0.0.1:{port}"}}\n', {port}


@case("grpc NOT_SERVING", "status_mismatch", "early", message="NOT_SERVING")
async def _grpc_not_serving(_: Env) -> AsyncIterator[tuple[str, set[int]]]:
    async with serve_grpc({"": NOT_SERVING}) as peer:
        yield f'            grpc: {{address: "{peer.address}"}}\n', {peer.port}


# --- scrape --------------------------------------------------------------------------------


@case("scrape target that streams forever", "too_large", "early")
async def _scrape_forever(_: Env) -> AsyncIterator[tuple[str, set[int]]]:
    async with serve(hostile.metrics_forever()) as running:
        port = int(running.base.rsplit(":", 1)[1])
        block = (
            f'            scrape: {{url: "{running.url("/metrics")}", '
            "value: 'sum(pool_in_use)', max_body_bytes: 1MiB}\n"
        )
        yield block, {port}


@case("scrape target that never answers", "timeout", "deadline")
async def _scrape_silent(_: Env) -> AsyncIterator[tuple[str, set[int]]]:
    async with raw_server(never_answer) as port:
        block = f"            scrape: {{url: \"http://127.0.0.1:{port}/metrics\", value: 'up'}}\n"
        yield block, {port}


# --- command -------------------------------------------------------------------------------


def command(name: str):  # type: ignore[no-untyped-def]
    async def peer(env: Env) -> AsyncIterator[tuple[str, set[int]]]:
        path = hostile.commands(env.tmp_path / "plugins")[name]
        yield f"            command: {{argv: [{path}]}}\n", set()

    return peer


case("command that never ends", "timeout", "deadline")(command("hangs"))
case("command that ignores SIGTERM, its child holding the pipe", "timeout", "deadline")(
    command("stubborn")
)
# output beyond max_output_bytes is read and dropped (a Nagios plugin's output is capped, not
# a failure): one that never stops writing runs into its deadline, killed with its group
case("command whose output never ends", "timeout", "deadline")(command("floods"))
case("command killed by a signal", "check_unknown", "early", message="killed by SIGKILL")(
    command("killed")
)
case("command with an exit code out of range", "check_unknown", "early")(command("weird"))


@case("command that is not there", "check_unknown", "early")
async def _command_missing(env: Env) -> AsyncIterator[tuple[str, set[int]]]:
    yield f"            command: {{argv: [{env.tmp_path / 'no-such-plugin'}]}}\n", set()


# --- flow, process, credential -------------------------------------------------------------


@case("flow whose second step never answers", "timeout", "deadline")
async def _flow_hang(_: Env) -> AsyncIterator[tuple[str, set[int]]]:
    async with serve(peer_app()) as running, raw_server(never_answer) as silent_port:
        port = int(running.base.rsplit(":", 1)[1])
        block = f"""\
            flow:
              steps:
                - name: first
                  url: "{running.url("/json")}"
                - name: second
                  url: "http://127.0.0.1:{silent_port}/pay"
"""
        yield block, {port, silent_port}


@case("process whose pid file points nowhere", "connect_error", "early")
async def _process_gone(env: Env) -> AsyncIterator[tuple[str, set[int]]]:
    pid_file = env.tmp_path / "gone.pid"
    pid_file.write_text("999999999\n")
    yield f"            process: {{pid_file: {pid_file}}}\n", set()


@case("credential file that is not there", "connect_error", "early", message="cannot read")
async def _credential_missing(env: Env) -> AsyncIterator[tuple[str, set[int]]]:
    yield f"            credential: {{cert_file: {env.tmp_path / 'missing.pem'}}}\n", set()


# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_hostile_target(
    case: Case, hostile_agent: Callable[..., object], pki: TlsPki, tmp_path: Path
) -> None:
    async with PEERS[case.id](Env(pki, tmp_path)) as (block, ports):
        await hostile_agent(block, case, ports)  # type: ignore[misc]


def test_the_suite_covers_forty_behaviours() -> None:
    """With the configs, the process and the listener cases: at least 40 in all."""
    assert len(CASES) >= 40
