"""Host: the sidecar's node — CPU, memory, open file handles, disks, and its own cgroup's limits."""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Literal

import psutil
from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.probers.base import ProbeContext, ProbeFailed, ProberSpec
from agent.probers.capacity import CAPACITY_FACTS, record
from agent.probers.system import (
    Cgroup,
    SystemCalls,
    cgroup_mount,
    cgroup_of,
    cpu_usage_seconds,
    file_handles,
)
from agent.results import Reason
from agent.vocabulary import CAPACITY_FAMILIES

HostResource = Literal["cpu", "memory", "open_fds"]


class HostProbe(BaseModel):
    """What to read about the node. Each is cheap; only disk usage may block (network mounts),
    so it runs off the event loop. To give resources different thresholds, split them over
    two probes (``resources: [cpu]`` and ``resources: [memory]``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resources: tuple[HostResource, ...] = Field(
        ("cpu", "memory", "open_fds"), description="node-wide readings to take"
    )
    disks: tuple[str, ...] = Field((), description="paths whose filesystems' usage to read")
    cgroup_root: str | None = Field(
        None, description="cgroup v2 mount; default /sys/fs/cgroup, else /sys/fs/cgroup/unified"
    )

    @field_validator("resources", "disks")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("lists each entry once")
        return value

    @field_validator("disks")
    @classmethod
    def _absolute(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for path in value:
            if not Path(path).is_absolute():
                raise ValueError(f"disk path {path!r} is not absolute")
        return value


async def probe(config: HostProbe, ctx: ProbeContext) -> None:
    calls = SystemCalls.of(ctx.shared)
    mount = cgroup_mount(config.cgroup_root)
    own = cgroup_of(os.getpid(), mount) if mount is not None else None
    if "cpu" in config.resources:
        with ctx.phase("cpu"):
            await _cpu(ctx, calls, own)
    if "memory" in config.resources:
        memory = psutil.virtual_memory()
        record(ctx, "memory", memory.total - memory.available, memory.total, "bytes")
        if own is not None and own.memory_max is not None:
            record(ctx, "memory:cgroup", own.memory_current, own.memory_max, "bytes")
    if "open_fds" in config.resources and (handles := file_handles()) is not None:
        record(ctx, "open_fds", *handles)
    for path in config.disks:
        with ctx.phase(f"disk:{path}"):
            try:
                usage = await calls.run(("disk", path), psutil.disk_usage, path)
            except OSError as exc:
                raise ProbeFailed(
                    Reason.CONNECT_ERROR, f"cannot read the usage of {path}: {exc.strerror or exc}"
                ) from None
        # used + free is what unprivileged writers can fill; root's reserve is not headroom.
        record(ctx, f"disk:{path}", usage.used, usage.used + usage.free, "bytes")


async def _cpu(ctx: ProbeContext, calls: SystemCalls, own: Cgroup | None) -> None:
    """Busy cores of the node since the last run (and of our cgroup, when it has a quota)."""
    reads: dict[Hashable, Callable[[], float | None]] = {"node": _node_busy_seconds}
    if own is not None and own.cpu_cores is not None:
        path = own.path
        reads[("cgroup", path)] = lambda: cpu_usage_seconds(path)
    rates = await calls.busy_cores(reads, ctx.remaining())
    limit = float(psutil.cpu_count() or 1)
    if "node" in rates:
        record(ctx, "cpu", rates["node"], limit, "cores")
    if own is not None and ("cgroup", own.path) in rates:
        record(ctx, "cpu:cgroup", rates[("cgroup", own.path)], own.cpu_cores, "cores")


def _node_busy_seconds() -> float:
    times = psutil.cpu_times()
    busy = ("user", "nice", "system", "irq", "softirq", "steal")  # guest is inside user
    return sum(getattr(times, name, 0.0) for name in busy)


def _target(config: HostProbe) -> str:
    return "host" + "".join(f" {path}" for path in config.disks)


SPEC = ProberSpec(
    kind="host",
    model=HostProbe,
    probe=probe,
    facts=CAPACITY_FACTS,
    families=CAPACITY_FAMILIES,
    target=_target,
    signals=("latency", "utilisation"),
    network=False,
    availability=False,
)
