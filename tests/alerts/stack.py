"""A real Prometheus and Alertmanager on loopback, fed the shipped rules and routing made fast.

Each binary gets a free port, its own data directory and a log file; a webhook inside the test
collects what Alertmanager sends. Everything stops when the test ends.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from tests.alerts.rewrite import fast_alertmanager, shorten_for
from tests.alerts.tools import ALERTMANAGER_CONFIG, RULES, binary

HOST = "127.0.0.1"


def free_port() -> int:
    """A port nothing listens on right now (the binaries take a port, not port 0)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Binary:
    """One started binary: its base URL, process and log."""

    name: str
    url: str
    process: asyncio.subprocess.Process
    log: Path

    def logs(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return f"--- {self.name} log (last {lines} lines) ---\n" + "\n".join(text[-lines:])

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def start_binary(
    session: aiohttp.ClientSession,
    name: str,
    args: Sequence[str],
    port: int,
    log: Path,
    timeout: float = 20.0,
) -> Binary:
    """Start ``args`` and wait until GET /-/ready answers 200 (or the process dies)."""
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(*args, stdout=out, stderr=subprocess.STDOUT)
    started = Binary(name, f"http://{HOST}:{port}", process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise AssertionError(f"{name} exited with {process.returncode}\n{started.logs()}")
        try:
            async with session.get(started.url + "/-/ready") as response:
                if response.status == 200:
                    return started
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    await started.stop()
    raise AssertionError(f"{name} not ready within {timeout}s\n{started.logs()}")


@dataclass(frozen=True)
class Notification:
    receiver: str  # the webhook path: the Alertmanager receiver's name
    alert: dict[str, Any]  # one alert of the payload: status, labels, annotations, ...


@dataclass
class Webhook:
    """An aiohttp server that records every alert Alertmanager posts, by receiver."""

    url: str = ""
    received: list[Notification] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{receiver}", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        self.url = f"http://{HOST}:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        payload = await request.json()
        for alert in payload["alerts"]:
            self.received.append(Notification(request.match_info["receiver"], alert))
        return web.Response(text="ok")

    def matching(self, predicate: Callable[[Notification], bool]) -> list[Notification]:
        return [n for n in self.received if predicate(n)]

    async def wait_for(
        self, predicate: Callable[[Notification], bool], timeout: float, what: str
    ) -> Notification:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := self.matching(predicate):
                return found[0]
            await asyncio.sleep(0.2)
        raise AssertionError(f"no notification {what} within {timeout}s")


@dataclass
class AlertStack:
    """Prometheus scraping the agents and evaluating the shipped rules, Alertmanager routing."""

    session: aiohttp.ClientSession
    webhook: Webhook
    prometheus: Binary
    alertmanager: Binary

    async def query(self, promql: str) -> list[dict[str, Any]]:
        async with self.session.get(
            self.prometheus.url + "/api/v1/query", params={"query": promql}
        ) as response:
            body = await response.json()
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    async def alertmanager_alerts(self, **labels: str) -> list[dict[str, Any]]:
        """Alerts Alertmanager holds, with ``status.state`` and ``status.inhibitedBy``."""
        params = [("filter", f'{key}="{value}"') for key, value in labels.items()]
        async with self.session.get(
            self.alertmanager.url + "/api/v2/alerts", params=params
        ) as response:
            return list(await response.json())

    async def firing(self) -> list[dict[str, str]]:
        return [r["metric"] for r in await self.query('ALERTS{alertstate="firing"}')]

    async def diagnose(self) -> str:
        """Everything worth reading when a scenario fails."""
        parts = [self.prometheus.logs(), self.alertmanager.logs()]
        try:
            parts.append(f"--- firing in Prometheus ---\n{await self.firing()}")
            held = [(a["labels"], a["status"]) for a in await self.alertmanager_alerts()]
            parts.append(f"--- held by Alertmanager ---\n{held}")
        except (aiohttp.ClientError, AssertionError) as exc:
            parts.append(f"(could not query: {exc!r})")
        received = [(n.receiver, n.alert["labels"]) for n in self.webhook.received]
        parts.append(f"--- notifications ---\n{received}")
        return "\n".join(parts)

    @asynccontextmanager
    async def explained(self) -> AsyncIterator[None]:
        """Re-raise a failure as an assertion with the logs and the state of every part."""
        try:
            yield
        except Exception as exc:
            raise AssertionError(f"{exc!r}\n{await self.diagnose()}") from exc

    async def stop(self) -> None:
        await self.prometheus.stop()
        await self.alertmanager.stop()
        await self.webhook.stop()


async def start_stack(
    session: aiohttp.ClientSession,
    workdir: Path,
    targets: Sequence[str],
    *,
    for_: str,
) -> AlertStack:
    """Alertmanager (webhooks to a local server), then Prometheus scraping ``targets`` every
    second as job "oversight" with every shipped rule file, each ``for`` set to ``for_``."""
    prometheus_bin = binary("prometheus")
    alertmanager_bin = binary("prometheus-alertmanager", "alertmanager")
    webhook = Webhook()
    await webhook.start()

    am_dir = workdir / "alertmanager"
    am_dir.mkdir(parents=True)
    (am_dir / "alertmanager.yml").write_text(
        fast_alertmanager(ALERTMANAGER_CONFIG.read_text(), webhook.url)
    )
    am_port = free_port()
    alertmanager = await start_binary(
        session,
        "alertmanager",
        [
            alertmanager_bin,
            f"--config.file={am_dir / 'alertmanager.yml'}",
            f"--storage.path={am_dir / 'data'}",
            f"--web.listen-address={HOST}:{am_port}",
            "--cluster.listen-address=",
        ],
        am_port,
        am_dir / "log.txt",
    )

    prom_dir = workdir / "prometheus"
    (prom_dir / "rules").mkdir(parents=True)
    for path in RULES:
        (prom_dir / "rules" / path.name).write_text(shorten_for(path.read_text(), for_))
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(prom_dir / "rules" / "*.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"{HOST}:{am_port}"]}]}]},
        "scrape_configs": [
            {"job_name": "oversight", "static_configs": [{"targets": list(targets)}]}
        ],
    }
    (prom_dir / "prometheus.yml").write_text(yaml.safe_dump(config))
    prom_port = free_port()
    try:
        prometheus = await start_binary(
            session,
            "prometheus",
            [
                prometheus_bin,
                f"--config.file={prom_dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={prom_dir / 'data'}",
                f"--web.listen-address={HOST}:{prom_port}",
            ],
            prom_port,
            prom_dir / "log.txt",
        )
    except BaseException:
        await alertmanager.stop()
        await webhook.stop()
        raise
    return AlertStack(session, webhook, prometheus, alertmanager)
