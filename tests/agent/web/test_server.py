"""The listener against real sockets: silent, slow and idle clients are closed in time, the
connection cap makes room by closing the oldest waiting client, and a malformed request is a
400 with no traceback."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import subprocess
import sys

import pytest

from agent.web.limits import Limits
from agent.web.server import Connection, Listener, Phase
from tests.agent.web.conftest import HOST, StartLocal, agent_config, exchange

CONFIG = agent_config("http://127.0.0.1:1/")
QUICK = Limits(max_connections=8, read_header_timeout=0.5, idle_timeout=0.5, write_timeout=5)


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Whether the agent closed the connection within ``seconds`` (reading what it sent)."""
    try:
        async with asyncio.timeout(seconds):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


async def test_a_client_that_says_nothing_is_closed(local_agent: StartLocal) -> None:
    agent = await local_agent(CONFIG, limits=QUICK)
    reader, writer = await asyncio.open_connection(HOST, agent.port)
    assert await closed_within(reader, 15)
    writer.close()
    reasons = agent.server.listener.closed_by_reason
    assert reasons.get("silent", 0) + reasons.get("headers_timeout", 0) == 1
    assert not agent.server.listener.open


async def test_a_client_trickling_its_headers_is_closed_while_it_trickles(
    local_agent: StartLocal,
) -> None:
    agent = await local_agent(CONFIG, limits=QUICK)
    reader, writer = await asyncio.open_connection(HOST, agent.port)
    writer.write(b"GET /healthz HTTP/1.1\r\n")

    async def trickle() -> int:
        sent = 0
        with_error = (ConnectionError, OSError)
        try:
            for _ in range(200):
                await asyncio.sleep(0.05)
                writer.write(b"X")
                await writer.drain()
                sent += 1
        except with_error:
            pass
        return sent

    sending = asyncio.create_task(trickle())
    assert await closed_within(reader, 10)
    assert await sending < 200  # closed long before the trickle ended
    assert agent.server.listener.closed_by_reason == {"headers_timeout": 1}


async def test_a_kept_alive_connection_that_idles_is_closed(local_agent: StartLocal) -> None:
    agent = await local_agent(CONFIG, limits=QUICK)
    reader, writer = await asyncio.open_connection(HOST, agent.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: agent\r\n\r\n")
    head = await reader.readuntil(b"ok\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert await closed_within(reader, 10)
    assert agent.server.listener.closed_by_reason == {"idle_timeout": 1}


async def test_a_full_listener_closes_the_oldest_waiting_client_for_a_new_one(
    local_agent: StartLocal,
) -> None:
    limits = Limits(max_connections=4, read_header_timeout=30, eviction_grace=0.1)
    agent = await local_agent(CONFIG, limits=limits)
    listener = agent.server.listener
    waiting = []
    for _ in range(4):  # each sends a first line, so it is accepted, then waits
        reader, writer = await asyncio.open_connection(HOST, agent.port)
        writer.write(b"GET / HTTP/1.1\r\n")
        waiting.append((reader, writer))
        await asyncio.sleep(0.05)
    for _ in range(100):
        if len(listener.open) == 4:
            break
        await asyncio.sleep(0.02)
    assert len(listener.open) == 4, listener.closed_by_reason

    answer = await exchange(
        agent.port, b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"ok\n")
    assert listener.closed_by_reason == {"evicted": 1}
    assert await closed_within(waiting[0][0], 5)  # the oldest went
    for _, writer in waiting:
        writer.close()


@pytest.mark.parametrize(
    ("phase", "age", "closed"),
    [
        (Phase.HANDSHAKE, 0.4, False),
        (Phase.HANDSHAKE, 0.5, True),
        (Phase.HEADERS, 0.5, True),
        (Phase.BUSY, 4.9, False),  # a request being answered is not cut at the header deadline
        (Phase.BUSY, 5.0, True),
        (Phase.IDLE, 0.4, False),
        (Phase.IDLE, 0.5, True),
    ],
)
def test_each_phase_has_its_deadline(phase: Phase, age: float, closed: bool) -> None:
    listener = Listener(None, QUICK, lambda: None)  # type: ignore[arg-type]
    ours, theirs = socket.socketpair()
    conn = Connection(ours, "peer", phase, now=100.0)
    listener.open.add(conn)
    listener.sweep(100.0 + age)
    assert conn.closing is closed
    expected = {f"{phase.value}_timeout": 1} if closed else {}
    assert listener.closed_by_reason == expected
    ours.close()
    theirs.close()


def test_eviction_takes_the_oldest_waiting_connection_never_a_busy_one() -> None:
    listener = Listener(None, Limits(eviction_grace=1.0), lambda: None)  # type: ignore[arg-type]
    pairs = [socket.socketpair() for _ in range(4)]
    busy = Connection(pairs[0][0], "busy", Phase.BUSY, now=0.0)
    young = Connection(pairs[1][0], "young", Phase.HEADERS, now=9.5)
    idle = Connection(pairs[2][0], "idle", Phase.IDLE, now=5.0)
    older = Connection(pairs[3][0], "older", Phase.HEADERS, now=3.0)
    listener.open.update({busy, young, idle, older})
    listener._evict_one(10.0)
    assert [c.peer for c in listener.open if c.closing] == ["older"]
    listener._evict_one(10.0)  # one on its way out already: wait for it
    assert [c.peer for c in listener.open if c.closing] == ["older"]
    listener.release(older)
    listener._evict_one(10.0)
    assert {c.peer for c in listener.open if c.closing} == {"idle"}
    for ours, theirs in pairs:
        ours.close()
        theirs.close()


BAD_REQUESTS = {
    "a header line over 8 KiB": b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n",
    "a request line over 8 KiB": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n",
    "a 1 MiB header": b"GET / HTTP/1.1\r\nX-Huge: " + b"h" * (1 << 20) + b"\r\n\r\n",
    "random bytes": bytes(range(256)) * 8,
    "no HTTP at all": b"hello there\r\n\r\n",
    "a bad header": b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
}


@pytest.mark.parametrize("payload", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
async def test_a_malformed_request_is_a_400_and_no_traceback(
    local_agent: StartLocal, caplog: pytest.LogCaptureFixture, payload: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    agent = await local_agent(CONFIG)
    answers = [await exchange(agent.port, payload) for _ in range(5)]
    for answer in answers:
        assert re.match(rb"HTTP/1\.[01] 400 Bad Request\r\n", answer), answer[:200]
        assert b"Traceback" not in answer
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING]
    lines = [r.getMessage() for r in caplog.records if r.name == "oversight.web"]
    bad = [line for line in lines if line.startswith("bad request")]
    assert len(bad) == 1, lines  # five bad requests, one line: the rest are counted into the next
    assert agent.server.listener.bad_requests.total == 5


def test_limits_take_a_quarter_of_the_descriptors_within_bounds() -> None:
    assert Limits.for_descriptors(256).max_connections == 64
    assert Limits.for_descriptors(1024).max_connections == 256
    assert Limits.for_descriptors(40).max_connections == 16
    assert Limits.for_descriptors(1 << 20).max_connections == 1024


def test_the_soft_descriptor_limit_is_raised_to_the_hard_one() -> None:
    code = (
        "import resource; from agent.web.limits import raise_open_files_limit; "
        "print(raise_open_files_limit(), resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )

    def lower() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 512))

    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        preexec_fn=lower,
        check=True,
        cwd=os.getcwd(),
    )
    assert out.stdout.split() == ["512", "512"]


async def test_a_closed_listener_lets_go_of_everything(local_agent: StartLocal) -> None:
    agent = await local_agent(CONFIG, limits=QUICK)
    reader, writer = await asyncio.open_connection(HOST, agent.port)
    writer.write(b"GET / HTTP/1.1\r\n")
    for _ in range(250):
        if agent.server.listener.open:
            break
        await asyncio.sleep(0.02)
    port = agent.port
    await agent.server.cleanup()
    assert await closed_within(reader, 5)
    assert not agent.server.listener.open
    with pytest.raises(OSError):
        await asyncio.open_connection(HOST, port)
    writer.close()
