"""The agent's HTTP listener: its routes, behind the web config's guard, served so that no
client can starve it or the probes."""

from __future__ import annotations

import errno
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from agent.config import ConfigError
from agent.web.config import WebConfig, load_web_config
from agent.web.guard import Guard
from agent.web.lifecycle import reload_routes
from agent.web.limits import Limits, raise_open_files_limit
from agent.web.routes import agent_routes, split_listen
from agent.web.server import Listener, bind, deferred_accept, mark_busy

if TYPE_CHECKING:
    from agent.app import App

__all__ = [
    "ListenError",
    "WebOptions",
    "WebServer",
    "bound_port",
    "check_listen",
    "make_web_app",
    "serve",
    "split_listen",
]

log = logging.getLogger("oversight.web")


@dataclass(frozen=True)
class WebOptions:
    """How the listener is run, from the command line."""

    lifecycle: bool = False  # --web.enable-lifecycle: POST /-/reload works
    config_file: Path | None = None  # --web.config.file; else the config's agent.web_config
    limits: Limits | None = None  # default: derived from RLIMIT_NOFILE, raised first


def make_web_app(
    app: App, *, lifecycle: bool = False, guard: Guard | None = None
) -> web.Application:
    """Every route over one App, behind ``guard`` (none by default)."""
    guard = guard or Guard(WebConfig())
    web_app = web.Application(middlewares=[mark_busy, guard.middleware()])
    web_app.on_response_prepare.append(guard.add_headers)
    web_app.add_routes([*agent_routes(app), *reload_routes(lifecycle, app.reload)])
    return web_app


def web_config_path(app: App, flag: Path | None) -> Path | None:
    """The flag's file, else ``agent.web_config`` read from beside the config file."""
    if flag is not None:
        return flag
    named = app.plan.agent.web_config
    if named is None:
        return None
    return Path(app.plan.source).parent / named


class WebServer:
    """A running listener: its port, and its web config, re-read on every reload."""

    def __init__(
        self,
        app: App,
        options: WebOptions,
        runner: web.AppRunner,
        listener: Listener,
        guard: Guard,
    ) -> None:
        self.app, self.options, self.runner = app, options, runner
        self.listener, self.guard = listener, guard
        self.closed = False

    @property
    def port(self) -> int:
        for sock in self.listener.sockets:
            return int(sock.getsockname()[1])
        raise RuntimeError("listener is not bound")

    def reload_web_config(self) -> list[str]:
        """Re-read the web config (the App calls this on every reload); a broken one keeps
        the running one and is reported as the reload's problems."""
        path = web_config_path(self.app, self.options.config_file)
        try:
            new = load_web_config(path) if path is not None else WebConfig()
        except ConfigError as error:
            for problem in error.problems:
                log.error("web config not reloaded, keeping the running one: %s", problem)
            return [f"{problem} (the running web config is kept)" for problem in error.problems]
        old, self.guard.config = self.guard.config, new
        if old.summary != new.summary:
            log.warning("web config now guards new connections with %s", new.summary)
        return []

    async def cleanup(self) -> None:
        """Stop listening and close every connection; a second call does nothing."""
        if self.closed:
            return
        self.closed = True
        if self.reload_web_config in self.app.reload_hooks:
            self.app.reload_hooks.remove(self.reload_web_config)
        await self.listener.close()
        await self.runner.cleanup()


class ListenError(Exception):
    """The listen address cannot be served (taken, not ours, malformed): said in one line.

    ``in_use`` tells a port another process holds, the one case where moving elsewhere helps.
    """

    def __init__(self, message: str, *, in_use: bool = False) -> None:
        super().__init__(message)
        self.in_use = in_use


def _listen_error(listen: str, exc: OSError) -> ListenError:
    if isinstance(exc, socket.gaierror):  # an unknown host name: its errno is not an OS one
        reason = exc.strerror or str(exc)
    elif exc.errno:  # the OS message alone, without Python's wrapping sentence
        reason = os.strerror(exc.errno)
    else:
        reason = str(exc)
    reason = reason[:1].lower() + reason[1:]
    return ListenError(f"cannot listen on {listen}: {reason}", in_use=exc.errno == errno.EADDRINUSE)


def _address(listen: str) -> tuple[str | None, int]:
    try:
        return split_listen(listen)
    except ValueError as exc:
        raise ListenError(f"listen address {exc}") from None


def check_listen(listen: str) -> None:
    """Raise :class:`ListenError` now if ``listen`` cannot be bound, binding it the way
    :func:`serve` will and letting it go (for the demo, before it starts its services)."""
    host, port = _address(listen)
    try:
        sockets = bind(host, port, 1)
    except OSError as exc:
        raise _listen_error(listen, exc) from None
    for sock in sockets:
        sock.close()


async def serve(app: App, options: WebOptions | None = None) -> WebServer:
    """Start the listener on ``app.listen``; a broken web config raises ConfigError here, an
    address that cannot be bound :class:`ListenError` (having cleaned up). The caller cleans
    up the returned server."""
    options = options or WebOptions()
    limits = options.limits or Limits.for_descriptors(raise_open_files_limit())
    path = web_config_path(app, options.config_file)
    guard = Guard(load_web_config(path) if path is not None else WebConfig())
    runner = web.AppRunner(
        make_web_app(app, lifecycle=options.lifecycle, guard=guard),
        access_log=None,
        handle_signals=False,
    )
    host, port = _address(app.listen)
    await runner.setup()
    listener = Listener(runner.server, limits, lambda: guard.config.tls)  # type: ignore[arg-type]
    try:
        listener.start(
            bind(host, port, limits.backlog, limits.read_header_timeout), deferred_accept()
        )
    except OSError as exc:
        await runner.cleanup()
        raise _listen_error(app.listen, exc) from None
    server = WebServer(app, options, runner, listener, guard)
    app.reload_hooks.append(server.reload_web_config)
    log.info(
        "listening on %s with %s; at most %d connections",
        app.listen,
        guard.config.summary,
        limits.max_connections,
    )
    return server


def bound_port(server: WebServer) -> int:
    """The port actually bound (for ``:0`` in tests and the demo)."""
    return server.port
