"""Hostile clients cannot starve the agent: a real ``oversight run`` with only 256 file
descriptors, 1,000 idle clients and 200 slow ones holding its port, keeps probing a healthy
integration as ``ok``, answers /healthz, and logs no traceback; a megabyte of request header
is a 400. (/healthz latency under this abuse is a figure of ``python -m bench faults``.)"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.agent.web.conftest import HOST, agent_config, agent_process, exchange, get
from tests.conftest import StartAgent
from tests.dashboards.stack import free_port
from tests.faults.conftest import crashes
from tests.peers.hostile import idle_client, slow_client
from tests.peers.http_servers import static_site


@contextmanager
def static_site_url() -> Iterator[str]:
    with (
        tempfile.TemporaryDirectory() as directory,
        static_site(Path(directory), free_port()) as url,
    ):
        yield url + "/"


IDLE_CLIENTS = 1000
SLOW_CLIENTS = 200
ABUSE_SECONDS = 14.0  # nearly three read-header timeouts
OPEN_FILES = 256


def integration(base: str) -> dict[str, object]:
    _, body = get(base + "/api/v1/status", timeout=10)
    found: dict[str, object] = json.loads(body)["patterns"]["bill_pay"]["integrations"]["processor"]
    return found


async def test_a_thousand_idle_and_two_hundred_slow_clients_do_not_starve_the_agent(
    tmp_path: Path,
) -> None:
    peer_port, port = free_port(), free_port()
    base = f"http://{HOST}:{port}"
    config = tmp_path / "oversight.yaml"
    config.write_text(agent_config(f"http://{HOST}:{peer_port}/", listen=f"{HOST}:{port}"))
    args = ["run", "-c", str(config), "--log-level", "debug"]

    def healthy() -> bool:
        return integration(base)["state"] == "ok"

    with (
        static_site(tmp_path / "site", peer_port),
        agent_process(tmp_path, args, healthy, open_files=OPEN_FILES) as agent,
    ):
        before = agent.open_files()
        until = time.monotonic() + ABUSE_SECONDS
        closed_idle, closed_slow = [0], [0]
        clients = [
            *(slow_client(port, until, closed_slow) for _ in range(SLOW_CLIENTS)),
            *(idle_client(port, until, closed_idle) for _ in range(IDLE_CLIENTS)),
        ]
        abuse = asyncio.gather(*clients)
        await asyncio.sleep(2.0)  # let them fill the port
        latencies, states, most_files = [], set(), 0
        while time.monotonic() < until - 1.0:
            started = time.monotonic()
            status, body = await asyncio.to_thread(get, base + "/healthz", timeout=10)
            latencies.append(time.monotonic() - started)
            assert (status, body) == (200, b"ok\n")
            states.add(str((await asyncio.to_thread(integration, base))["state"]))
            most_files = max(most_files, agent.open_files())
            await asyncio.sleep(0.5)
        await abuse
        runs = integration(base)["probes"]["health"]["runs"]  # type: ignore[index]
        log = agent.text()

    assert states == {"ok"}
    assert runs >= ABUSE_SECONDS - 2  # probing went on, once a second
    assert "Traceback" not in log and "Too many open files" not in log
    assert "processor: ok -> " not in log
    assert closed_idle[0] > 0 and closed_slow[0] > 0  # the agent closed them, not the clients
    # the listener's share of descriptors is a quarter of 256: the rest stayed free
    assert most_files <= before + OPEN_FILES // 4 + 8, (before, most_files)
    print(
        f"\nfds: {before} before, {most_files} at most under abuse; /healthz: "
        f"{len(latencies)} answers, median {sorted(latencies)[len(latencies) // 2]:.3f}s, "
        f"slowest {max(latencies):.3f}s; closed {closed_idle[0]} idle and {closed_slow[0]} "
        f"slow connections; {runs} probe runs"
    )


async def test_a_one_mib_request_header_is_a_400_and_no_traceback(
    start_agent: StartAgent, caplog: pytest.LogCaptureFixture
) -> None:
    """A client sending a megabyte of header gets a 400 and costs the log nothing above
    debug; the agent answers the next client as before."""
    caplog.set_level(logging.DEBUG)
    with static_site_url() as url:
        agent = await start_agent(agent_config(url))
        port = int(agent.base.rsplit(":", 1)[1])
        request = (
            b"GET /metrics HTTP/1.1\r\nHost: agent\r\nX-Big: " + b"b" * (1 << 20) + b"\r\n\r\n"
        )
        answers = await asyncio.gather(*(exchange(port, request) for _ in range(20)))
        assert (await agent.get("/healthz")) == (200, "ok\n")
    assert all(a.split(b"\r\n")[0].endswith(b" 400 Bad Request") for a in answers), answers[0][:80]
    assert crashes(caplog.records) == []
    assert not [r for r in caplog.records if r.name.startswith("aiohttp") and r.levelno > 10]
