"""How long a client may take and how many may connect, from the process's file descriptors."""

from __future__ import annotations

import resource
from dataclasses import dataclass

# A sidecar's listener serves Prometheus and a few people; past this it only serves abuse.
MOST_CONNECTIONS = 1024
FEWEST_CONNECTIONS = 16
LISTENER_SHARE = 4  # the listener may use 1/4 of the descriptors; the rest are the probes'


@dataclass(frozen=True, slots=True)
class Limits:
    """What the listener allows a client; every wait a client can cause has an end.

    ``read_header_timeout`` runs from the accept (or from the first byte of a kept-alive
    connection's next request) until a request's headers are in, the TLS handshake
    included, as Go's ``http.Server.ReadHeaderTimeout``. ``idle_timeout`` closes a kept-alive
    connection that sends nothing; ``write_timeout`` ends a request still being handled or
    written after that long (a client that stops reading its answer). At
    ``max_connections`` no more are accepted: the kernel's backlog holds the next ones while
    the oldest connection that has been waiting for headers or idling at least
    ``eviction_grace`` is closed to make room. The grace can be short because a connection
    is only handed over once its first bytes are in (``server.bind``).
    """

    max_connections: int = 64
    read_header_timeout: float = 5.0
    idle_timeout: float = 90.0  # longer than a 60 s scrape interval, so scrapes reuse it
    write_timeout: float = 60.0
    eviction_grace: float = 0.25  # headers come in the first packets; see server.bind
    backlog: int = 4096  # as Go, up to net.core.somaxconn: the kernel holds waiting clients

    @classmethod
    def for_descriptors(cls, open_files: int) -> Limits:
        """A share of ``open_files`` for the listener, the rest kept for probes."""
        share = open_files // LISTENER_SHARE
        return cls(max_connections=max(FEWEST_CONNECTIONS, min(MOST_CONNECTIONS, share)))


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit, as Go programs do at start; the new
    soft limit. A hard limit of "unlimited" is met with the kernel's ceiling instead."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else _kernel_ceiling()
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return int(soft if soft != resource.RLIM_INFINITY else wanted)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError):
        return int(soft)
    return int(wanted)


def _kernel_ceiling() -> int:
    try:
        with open("/proc/sys/fs/nr_open") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return 1 << 20
