"""Fixtures for every test: a running agent on a loopback port and small loopback peers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.app import App
from agent.web import WebOptions, bound_port, serve
from tests.peers.partner import partner, pki, secure_partner

__all__ = ["partner", "pki", "secure_partner"]  # fixtures for every test


@pytest.fixture
async def tcp_server() -> AsyncIterator[str]:
    """A TCP server that accepts, says hello and closes: ``host:port``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()
    await server.wait_closed()


@pytest.fixture
def closed_port() -> str:
    """An address nothing listens on: connecting is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"127.0.0.1:{port}"


class RunningAgent:
    def __init__(self, app: App, base: str, session: aiohttp.ClientSession) -> None:
        self.app, self.base, self.session = app, base, session

    async def get(self, path: str, **kw: object) -> tuple[int, str]:
        async with self.session.get(self.base + path, **kw) as response:  # type: ignore[arg-type]
            return response.status, await response.text()

    async def post(self, path: str) -> tuple[int, str]:
        async with self.session.post(self.base + path) as response:
            return response.status, await response.text()

    async def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """Every sample as {(name, labels): value}."""
        _, text = await self.get("/metrics")
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    async def wait_ready(self, timeout: float = 8.0) -> None:
        for _ in range(int(timeout / 0.1)):
            status, _ = await self.get("/readyz")
            if status == 200:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("agent did not become ready")

    async def wait_result(self, probe_id: str, timeout: float = 8.0) -> None:
        for _ in range(int(timeout / 0.05)):
            if probe_id in self.app.store.latest:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"no result for {probe_id}")


StartAgent = Callable[[str], Awaitable[RunningAgent]]


@pytest.fixture
async def start_agent(tmp_path: Path) -> AsyncIterator[StartAgent]:
    """``await start_agent(yaml_text)`` -> a RunningAgent on 127.0.0.1:<free port>, its
    lifecycle endpoint on."""
    started: list[tuple[App, object, aiohttp.ClientSession]] = []

    async def start(config_text: str) -> RunningAgent:
        path = tmp_path / "oversight.yaml"
        path.write_text(config_text)
        app = App(path, listen="127.0.0.1:0")
        runner = await serve(app, WebOptions(lifecycle=True))
        await app.start()
        session = aiohttp.ClientSession()
        started.append((app, runner, session))
        return RunningAgent(app, f"http://127.0.0.1:{bound_port(runner)}", session)

    yield start
    for app, runner, session in started:
        await session.close()
        await app.stop()
        await runner.cleanup()  # type: ignore[attr-defined]


def sample(metrics: dict, name: str, **labels: str) -> float | None:
    """The value of the one sample of ``name`` whose labels include ``labels``."""
    found = [v for (n, ls), v in metrics.items() if n == name and set(labels.items()) <= ls]
    assert len(found) <= 1, f"{name}{labels} matches {len(found)} samples"
    return found[0] if found else None
