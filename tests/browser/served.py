"""An agent and the services it watches, on an event loop of their own in a thread, so that a
browser test (Selenium is synchronous) drives the page while the agent keeps answering."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from agent.app import App
from agent.demo import DemoServices, start_services
from agent.demo.config import to_yaml
from agent.web import WebOptions, WebServer, bound_port, serve

T = TypeVar("T")


class LoopThread:
    """An event loop running in a daemon thread; ``run`` waits for a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


# The strictest policy a web config may set: no inline script or style, nothing from elsewhere.
# The pages must work under it.
WEB_CONFIG = """\
http_server_config:
  headers:
    Content-Security-Policy: "default-src 'self'"
    X-Content-Type-Options: nosniff
"""


class ServedAgent:
    """An App over a config file, listening on a loopback port it keeps when its listener is
    stopped and started again (the page's agent going away and coming back), every answer
    carrying a strict ``Content-Security-Policy``."""

    def __init__(self, loop: LoopThread, config: Path) -> None:
        self.loop = loop
        web_config = config.with_name("web.yml")
        web_config.write_text(WEB_CONFIG)
        self.options = WebOptions(config_file=web_config)
        self.app, self.server = loop.run(self._start(config))
        self.port = bound_port(self.server)
        self.app.listen_override = f"127.0.0.1:{self.port}"

    async def _start(self, config: Path) -> tuple[App, WebServer]:
        app = App(config, listen="127.0.0.1:0")
        server = await serve(app, self.options)
        await app.start()
        return app, server

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop_listening(self) -> None:
        """The agent stops answering (its probes go on)."""
        self.loop.run(self.server.cleanup())

    def listen_again(self) -> None:
        async def again() -> WebServer:
            return await serve(self.app, self.options)

        self.server = self.loop.run(again())

    def read(self, look: Callable[[App], T]) -> T:
        """``look(app)`` on the agent's own loop, so it sees one consistent moment."""

        async def call() -> T:
            return look(self.app)

        return self.loop.run(call())

    def wait(self, check: Callable[[App], bool], timeout: float = 30.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not self.read(check):
            if time.monotonic() > deadline:
                raise AssertionError(f"not in {timeout:g}s: {what}")
            time.sleep(0.1)

    def close(self) -> None:
        async def stop() -> None:
            await self.app.stop()
            await self.server.cleanup()

        self.loop.run(stop())


class Demo:
    """The demo's services and an agent watching them."""

    def __init__(self, loop: LoopThread, services: DemoServices, agent: ServedAgent) -> None:
        self.loop, self.services, self.agent = loop, services, agent

    def fault(self, key: str, **changes: Any) -> None:
        """``demo.fault("client/kyc_vendor", status=503)``; no changes heals it."""
        service = self.services[key]
        self.loop.run(
            service.update(**changes) if changes else service.set_fault(type(service.fault)())
        )


@contextmanager
def demo(workdir: Path, **faults: dict[str, Any]) -> Iterator[Demo]:
    """The demo (its services, their contracts, card number and tokens, the agent's config) with
    ``faults`` set before the agent starts, keyed ``pattern__name``; the agent reacts to a
    fault at the next run (one failure to go down, one success to recover)."""
    loop = LoopThread()
    services = loop.run(start_services(workdir))
    agent = None
    try:
        for key, fault in faults.items():
            loop.run(services[key.replace("__", "/")].update(**fault))
        config = services.config()
        config["agent"]["state"] = {"failures_to_down": 1, "successes_to_recover": 1}
        path = workdir / "oversight.yaml"
        path.write_text(to_yaml(config))
        agent = ServedAgent(loop, path)
        yield Demo(loop, services, agent)
    finally:
        if agent is not None:
            agent.close()
        loop.run(services.stop())
        loop.close()
