"""The listener's tests: an agent in this process or as a real ``oversight run``, certificates
made with trustme, bcrypt hashes, and a client that speaks raw bytes."""

from __future__ import annotations

import asyncio
import base64
import os
import resource
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest
import trustme

from agent.app import App
from agent.web import WebOptions, WebServer, serve
from agent.web.limits import Limits

HOST = "127.0.0.1"
PASSWORD = "scrape-secret"  # the user "prometheus" has it in every web config here


def agent_config(target: str, listen: str = f"{HOST}:0", extra: str = "") -> str:
    """One critical integration probed every second over HTTP at ``target``."""
    return f"""\
agent:
  listen: "{listen}"
{extra}patterns:
  bill_pay:
    owner: payments
    integrations:
      processor:
        scope: internal
        criticality: critical
        probes:
          health:
            interval: 1s
            timeout: 900ms
            http: {{url: "{target}"}}
"""


def hashed(password: str) -> str:
    """A bcrypt hash at the lowest cost, so tests stay fast; the format is the same."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass(frozen=True)
class Certs:
    """A CA, the agent's certificate for 127.0.0.1 and a client certificate, as files."""

    directory: Path
    ca: trustme.CA

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def cert_file(self) -> Path:
        return self.directory / "agent.crt"

    @property
    def key_file(self) -> Path:
        return self.directory / "agent.key"

    @property
    def client_cert_file(self) -> Path:
        return self.directory / "client.crt"

    @property
    def client_key_file(self) -> Path:
        return self.directory / "client.key"

    def client_context(self, with_cert: bool = False) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if with_cert:
            context.load_cert_chain(self.client_cert_file, self.client_key_file)
        return context


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    directory = tmp_path / "tls"
    directory.mkdir()
    ca = trustme.CA(organization_name="Oversight Listener Test CA")
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    server = ca.issue_cert(HOST, "localhost")
    server.cert_chain_pems[0].write_to_path(str(directory / "agent.crt"))
    server.private_key_pem.write_to_path(str(directory / "agent.key"))
    client = ca.issue_cert("prometheus@oversight.test")
    client.cert_chain_pems[0].write_to_path(str(directory / "client.crt"))
    client.private_key_pem.write_to_path(str(directory / "client.key"))
    return Certs(directory, ca)


@dataclass
class LocalAgent:
    app: App
    server: WebServer
    path: Path  # the config file

    @property
    def port(self) -> int:
        return self.server.port


StartLocal = Callable[..., Awaitable[LocalAgent]]


@pytest.fixture
async def local_agent(tmp_path: Path) -> AsyncIterator[StartLocal]:
    """``await local_agent(config_text, web_config=None, lifecycle=False, limits=None)``: an
    App and its listener in this process (probes not started: the listener is what is tested)."""
    running: list[LocalAgent] = []

    async def start(
        config_text: str,
        web_config: str | None = None,
        lifecycle: bool = False,
        limits: Limits | None = None,
    ) -> LocalAgent:
        path = tmp_path / "oversight.yaml"
        path.write_text(config_text)
        web_file = None
        if web_config is not None:
            web_file = tmp_path / "web.yml"
            web_file.write_text(web_config)
        app = App(path)
        server = await serve(app, WebOptions(lifecycle, web_file, limits or Limits()))
        agent = LocalAgent(app, server, path)
        running.append(agent)
        return agent

    yield start
    for agent in running:
        await agent.server.cleanup()


async def exchange(
    port: int, data: bytes, *, context: ssl.SSLContext | None = None, timeout: float = 10.0
) -> bytes:
    """Send ``data`` raw, then read until the agent closes; what it answered (a reset after a
    complete answer counts as the end)."""
    reader, writer = await asyncio.open_connection(HOST, port, ssl=context)
    received = b""
    try:
        writer.write(data)
        async with asyncio.timeout(timeout):
            while chunk := await reader.read(65536):
                received += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        writer.close()
    return received


def oversight() -> list[str]:
    """The installed ``oversight`` command beside this Python, else the module."""
    script = Path(sys.executable).with_name("oversight")
    return [str(script)] if script.exists() else [sys.executable, "-m", "agent.cli"]


def get(
    url: str,
    *,
    context: ssl.SSLContext | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    """(status, body) of a GET on a fresh connection; an HTTP error status is an answer too."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@dataclass
class AgentProcess:
    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))


@contextmanager
def agent_process(
    workdir: Path,
    args: list[str],
    ready: Callable[[], bool],
    *,
    open_files: int | None = None,
    limit: float = 30.0,
) -> Iterator[AgentProcess]:
    """``oversight <args>`` in its own process, with soft and hard RLIMIT_NOFILE at
    ``open_files`` if given, until ``ready()`` holds; stopped with SIGTERM at the end."""

    def lower_limit() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    log = workdir / "agent.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*oversight(), *args], stdout=out, stderr=subprocess.STDOUT, preexec_fn=lower_limit
        )
    running = AgentProcess(process, log)
    try:
        deadline = time.monotonic() + limit
        while not _ready(ready):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the agent did not start:\n{running.text()[-3000:]}")
            time.sleep(0.2)
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _ready(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except OSError:
        return False
