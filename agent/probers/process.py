"""Process: the sidecar's neighbour — memory, CPU, file descriptors, threads, connections."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psutil
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agent.conditions.facts import Fact, FactType
from agent.probers.base import ProbeContext, ProbeFailed, ProberSpec
from agent.probers.capacity import CAPACITY_FACTS, record
from agent.probers.system import Cgroup, SystemCalls, cgroup_mount, cgroup_of
from agent.results import Reason
from agent.vocabulary import CAPACITY_FAMILIES, Detail

ProcessResource = Literal["cpu", "memory", "open_fds", "threads", "connections"]
_FINDERS = ("pid_file", "name", "cmdline", "port")
_ALWAYS_SHOWN = ("established", "listen")  # states exported even at zero, for steady series


class ProcessProbe(BaseModel):
    """Which process, found by exactly one of ``pid_file``, ``name``, ``cmdline`` (a regex over
    the command line) or ``port`` (the process listening on it). When several match, the oldest
    is measured (the parent of a pre-forking server); the agent itself never matches by name or
    command line."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pid_file: str | None = None
    name: str | None = Field(None, description="process name, or the basename of argv[0]")
    cmdline: str | None = Field(None, description="regex searched in argv joined by spaces")
    port: int | None = Field(None, ge=1, le=65535, description="a TCP port the process listens on")
    resources: tuple[ProcessResource, ...] = ("cpu", "memory", "open_fds", "threads", "connections")
    cgroup_root: str | None = Field(None, description="cgroup v2 mount; default /sys/fs/cgroup")

    @field_validator("cmdline")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"cmdline is not a valid regex: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_finder(self) -> ProcessProbe:
        given = [name for name in _FINDERS if getattr(self, name) is not None]
        if len(given) != 1:
            found = f"got {' and '.join(given)}" if given else "got none"
            raise ValueError(f"give exactly one of {', '.join(_FINDERS)}; {found}")
        return self


@dataclass(frozen=True, slots=True)
class Sample:
    """One process as read in one go on the pool (``psutil.Process.oneshot``)."""

    pid: int
    name: str
    rss: float
    memory_limit: float
    memory_source: str  # cgroup | node
    cpu_limit: float
    open_fds: float | None
    fd_limit: float | None
    threads: float
    thread_limit: float | None
    connections: Mapping[str, int] | None


async def probe(config: ProcessProbe, ctx: ProbeContext) -> None:
    calls = SystemCalls.of(ctx.shared)
    with ctx.phase("find"):
        process, matches = await calls.run(("process.find", config), find, config)
    ctx.facts["PID"], ctx.facts["MATCHES"] = process.pid, matches
    with ctx.phase("measure"):
        sample = await calls.run(("process.measure", process), measure, process, config)
    ctx.facts["NAME"] = ctx.info[Detail.PROCESS_NAME] = sample.name
    ctx.info[Detail.MEMORY_LIMIT_FROM] = sample.memory_source
    wanted = config.resources
    if "cpu" in wanted:
        key = ("process", process.pid, process.create_time())
        rates = await calls.busy_cores({key: lambda: _cpu_seconds(process)}, ctx.remaining())
        if key not in rates:
            raise _gone(process.pid)
        record(ctx, "cpu", rates[key], sample.cpu_limit, "cores")
    if "memory" in wanted:
        ctx.facts["RSS"] = sample.rss
        record(ctx, "memory", sample.rss, sample.memory_limit, "bytes")
    if "open_fds" in wanted and sample.open_fds is not None:
        ctx.facts["OPEN_FDS"] = int(sample.open_fds)
        record(ctx, "open_fds", sample.open_fds, sample.fd_limit)
    if "threads" in wanted:
        ctx.facts["THREADS"] = int(sample.threads)
        record(ctx, "threads", sample.threads, sample.thread_limit)
    if sample.connections is not None:
        ctx.facts["CONNECTIONS"] = dict(sample.connections)
        for state, count in sorted(sample.connections.items()):
            record(ctx, f"connections:{state}", count, None)


def find(config: ProcessProbe) -> tuple[psutil.Process, int]:
    """The process to measure and how many matched (blocking: walks /proc; runs on the pool)."""
    if config.pid_file is not None:
        return _from_pid_file(config.pid_file), 1
    if config.port is not None:
        candidates = _listening_on(config.port)
        what = f"nothing we can see listens on TCP port {config.port}"
    else:
        candidates = _matching(config)
        what = (
            f"no process is named {config.name!r}"
            if config.name is not None
            else f"no process command line matches {config.cmdline!r}"
        )
    if not candidates:
        raise ProbeFailed(Reason.CONNECT_ERROR, what)
    return min(candidates, key=_started), len(candidates)


def _from_pid_file(path: str) -> psutil.Process:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace").strip()
    except OSError as exc:
        raise ProbeFailed(
            Reason.CONNECT_ERROR, f"cannot read pid file {path}: {exc.strerror or exc}"
        ) from None
    first = text.split()[0] if text else ""
    if not first.isdigit() or int(first) <= 0:
        shown = first[:20] or "nothing"
        raise ProbeFailed(Reason.PROTOCOL_ERROR, f"pid file {path} holds {shown!r}, not a pid")
    pid = int(first)
    try:
        process = psutil.Process(pid)
        running = process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        running = False
    if not running:
        raise ProbeFailed(
            Reason.CONNECT_ERROR, f"pid file {path} names pid {pid}, which is not running"
        )
    return process


def _listening_on(port: int) -> list[psutil.Process]:
    listeners = [
        c.pid
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
    ]
    if listeners and all(pid is None for pid in listeners):
        raise ProbeFailed(
            Reason.CONNECT_ERROR,
            f"TCP port {port} is listened on by a process the agent may not inspect "
            "(run as the same user or grant CAP_SYS_PTRACE)",
        )
    return _alive({pid for pid in listeners if pid is not None})


def _matching(config: ProcessProbe) -> list[psutil.Process]:
    pattern = re.compile(config.cmdline) if config.cmdline is not None else None
    own = os.getpid()
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.pid == own:
            continue
        argv = process.info["cmdline"] or []
        if pattern is not None:
            if argv and pattern.search(" ".join(argv)):
                found.append(process)
        elif config.name in (process.info["name"], os.path.basename(argv[0]) if argv else None):
            found.append(process)
    return found


def _alive(pids: set[int]) -> list[psutil.Process]:
    out = []
    for pid in pids:
        try:
            out.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    return out


def _started(process: psutil.Process) -> float:
    try:
        return process.create_time()
    except psutil.Error:
        return float("inf")


def measure(process: psutil.Process, config: ProcessProbe) -> Sample:
    """Read everything the probe wants in one pass (blocking; runs on the pool)."""
    wanted = config.resources
    mount = cgroup_mount(config.cgroup_root)
    group: Cgroup | None = cgroup_of(process.pid, mount) if mount is not None else None
    try:
        with process.oneshot():
            name = process.name()
            rss = float(process.memory_info().rss)
            threads = float(process.num_threads())
            open_fds = fd_limit = None
            if "open_fds" in wanted:
                open_fds = float(process.num_fds())
                fd_limit = _soft_limit(process.rlimit(psutil.RLIMIT_NOFILE)[0])
            cpus = len(process.cpu_affinity() or ()) or psutil.cpu_count() or 1
        connections = _connections(process) if "connections" in wanted else None
    except psutil.NoSuchProcess:
        raise _gone(process.pid) from None
    except psutil.AccessDenied as exc:
        raise ProbeFailed(
            Reason.CONNECT_ERROR,
            f"permission denied reading pid {process.pid} ({exc.msg or 'access denied'}); "
            "run as the same user or grant CAP_SYS_PTRACE",
        ) from None
    node_memory = float(psutil.virtual_memory().total)
    cgroup_memory = group.memory_max if group is not None else None
    return Sample(
        pid=process.pid,
        name=name,
        rss=rss,
        memory_limit=min(cgroup_memory or node_memory, node_memory),
        memory_source="cgroup" if cgroup_memory and cgroup_memory < node_memory else "node",
        cpu_limit=(group.cpu_cores if group is not None else None) or float(cpus),
        open_fds=open_fds,
        fd_limit=fd_limit,
        threads=threads,
        thread_limit=group.pids_max if group is not None else None,
        connections=connections,
    )


def _connections(process: psutil.Process) -> dict[str, int]:
    states = Counter(
        c.status.lower() for c in process.net_connections(kind="inet") if c.status != "NONE"
    )
    return {state: 0 for state in _ALWAYS_SHOWN} | dict(states)


def _soft_limit(value: int) -> float | None:
    return None if value == psutil.RLIM_INFINITY or value <= 0 else float(value)


def _cpu_seconds(process: psutil.Process) -> float | None:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return None
    return times.user + times.system


def _gone(pid: int) -> ProbeFailed:
    return ProbeFailed(Reason.CONNECT_ERROR, f"process {pid} exited while it was measured")


def _connection_count(table: Mapping[str, int], state: str) -> int:
    """``[CONNECTIONS.ESTABLISHED]``: any TCP state, case-insensitively; an absent one is 0."""
    key = state.lower()
    if key in table:
        return table[key]
    if not hasattr(psutil, f"CONN_{key.upper()}"):
        raise LookupError(f"{state} is not a TCP state (e.g. ESTABLISHED, TIME_WAIT, CLOSE_WAIT)")
    return 0


def _target(config: ProcessProbe) -> str:
    finder = next(name for name in _FINDERS if getattr(config, name) is not None)
    value: Any = getattr(config, finder)
    return f"{finder.replace('_', ' ')} {value}"


FACTS = (
    Fact("PID", FactType.INT, Reason.CONDITION_FAILED, "the pid measured"),
    Fact("NAME", FactType.STRING, Reason.CONDITION_FAILED, "the process name"),
    Fact("MATCHES", FactType.INT, Reason.CONDITION_FAILED, "how many processes matched"),
    Fact("RSS", FactType.NUMBER, Reason.THRESHOLD, "resident memory, bytes"),
    Fact("OPEN_FDS", FactType.INT, Reason.THRESHOLD, "open file descriptors"),
    Fact("THREADS", FactType.INT, Reason.THRESHOLD, "threads"),
    Fact(
        "CONNECTIONS",
        FactType.INT,
        Reason.THRESHOLD,
        "TCP connections by state: [CONNECTIONS.CLOSE_WAIT] < 100",
        lookup=_connection_count,
        keyed_type=FactType.INT,
    ),
    *CAPACITY_FACTS,
)

SPEC = ProberSpec(
    kind="process",
    model=ProcessProbe,
    probe=probe,
    facts=FACTS,
    families=CAPACITY_FAMILIES,
    target=_target,
    signals=("latency", "utilisation"),
    network=False,
    availability=False,
)
