"""Clients and caches that live as long as the agent, not as long as a run."""

from __future__ import annotations

import ssl
from collections.abc import Hashable
from typing import Any, Protocol

from agent.logs import Repeats
from agent.results import ProbeFailed, Reason


class TlsSettings(Hashable, Protocol):
    """Frozen client TLS settings that can build their SSLContext (``TlsClientConfig``)."""

    def context(self) -> ssl.SSLContext: ...


class Shared:
    """Owned by the App; handed to every run through its context; closed on stop.

    Building an SSLContext reads certificate files, so contexts are built once per distinct
    TLS config and kept (configs are frozen, hence usable as keys). A reload that changes a
    probe's TLS files gives a new config, hence a new context. ``repeats`` remembers which of
    our own bugs were already logged loudly, so one that recurs every run is said once.
    """

    def __init__(self) -> None:
        self._ssl: dict[TlsSettings, ssl.SSLContext] = {}
        self.resources: dict[str, Any] = {}
        self.repeats = Repeats()

    def ssl_context(self, config: TlsSettings) -> ssl.SSLContext:
        context = self._ssl.get(config)
        if context is None:
            try:
                context = self._ssl[config] = config.context()
            except (OSError, ssl.SSLError) as exc:  # the files changed since the config loaded
                raise ProbeFailed(
                    Reason.TLS_ERROR, f"cannot load the client TLS files: {exc}"
                ) from exc
        return context

    async def close(self) -> None:
        for resource in self.resources.values():
            closer = getattr(resource, "close", None)
            if closer is not None:
                result = closer()
                if hasattr(result, "__await__"):
                    await result
        self.resources.clear()
        self._ssl.clear()
