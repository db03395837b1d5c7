"""The host kind (node CPU, memory, handles, disks, cgroup v2) and the blocking-call pool."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

import psutil
import pytest
from pydantic import ValidationError

from agent.probers import REGISTRY
from agent.probers.host import HostProbe
from agent.probers.shared import Shared
from agent.probers.system import SystemCalls, read_cgroup
from agent.results import Capacity, Reason, Result, Severity
from agent.runner import execute
from agent.thresholds import SIGNALS, ThresholdRule
from tests.agent.probers.conftest import RunProbe
from tests.peers.cgroup_tree import fake_cgroup

MiB = 1 << 20


def capacity(result: Result) -> dict[str, Capacity]:
    return {c.resource: c for c in result.capacity}


async def test_node_readings(run_probe: RunProbe) -> None:
    result = await run_probe("host", {"cgroup_root": "/nonexistent"})
    assert result.success, result.message
    seen = capacity(result)
    assert {"cpu", "memory"} <= seen.keys()
    memory = seen["memory"]
    assert (memory.unit, memory.limit) == ("bytes", psutil.virtual_memory().total)
    assert 0 < (memory.used or 0) < (memory.limit or 0)
    cpu = seen["cpu"]
    assert (cpu.unit, cpu.limit) == ("cores", psutil.cpu_count())
    assert 0 <= (cpu.used or 0) <= (cpu.limit or 0) * 1.5
    if "open_fds" in seen:  # Linux: /proc/sys/fs/file-nr
        handles = seen["open_fds"]
        assert 0 < (handles.used or 0) < (handles.limit or 0)
    assert not {"memory:cgroup", "cpu:cgroup"} & seen.keys()


async def test_disks(run_probe: RunProbe, tmp_path: Path) -> None:
    result = await run_probe("host", {"resources": [], "disks": [str(tmp_path), "/"]})
    assert result.success, result.message
    seen = capacity(result)
    assert list(seen) == [f"disk:{tmp_path}", "disk:/"]
    usage = psutil.disk_usage(str(tmp_path))
    disk = seen[f"disk:{tmp_path}"]
    assert disk.unit == "bytes"
    assert disk.limit == pytest.approx(usage.used + usage.free, rel=0.01)
    assert disk.used == pytest.approx(usage.used, rel=0.05, abs=64 * MiB)
    assert f"disk:{tmp_path}" in dict(result.phases)


async def test_a_missing_disk_is_a_failed_probe_that_keeps_the_rest(
    run_probe: RunProbe, tmp_path: Path
) -> None:
    missing = tmp_path / "gone"
    result = await run_probe("host", {"resources": ["memory"], "disks": [str(missing)]})
    assert result.reason is Reason.CONNECT_ERROR
    assert result.message == f"cannot read the usage of {missing}: No such file or directory"
    assert list(capacity(result)) == ["memory"]  # measured before the disk failed


async def test_own_cgroup_limits(run_probe: RunProbe, tmp_path: Path) -> None:
    """Our container's limits, from a cgroup v2 tree laid out as this process sees its own."""
    mount, group = fake_cgroup(os.getpid(), tmp_path)
    (group / "memory.max").write_text(f"{256 * MiB}\n")
    (group / "memory.current").write_text(f"{64 * MiB}\n")
    (group / "cpu.max").write_text("50000 100000\n")
    (group / "cpu.stat").write_text("usage_usec 1000000\nuser_usec 800000\n")
    result = await run_probe("host", {"resources": ["cpu", "memory"], "cgroup_root": str(mount)})
    assert result.success, result.message
    seen = capacity(result)
    assert seen["memory:cgroup"] == Capacity("memory:cgroup", 64 * MiB, 256 * MiB, "bytes")
    assert seen["memory:cgroup"].utilisation == 0.25
    assert seen["cpu:cgroup"] == Capacity("cpu:cgroup", 0.0, 0.5, "cores")  # usage did not move


def test_read_cgroup_takes_the_smallest_limit_of_the_ancestors(tmp_path: Path) -> None:
    leaf = tmp_path / "kubepods" / "pod1" / "app"
    leaf.mkdir(parents=True)
    (tmp_path / "kubepods" / "memory.max").write_text("max\n")
    (tmp_path / "kubepods" / "pod1" / "memory.max").write_text(f"{100 * MiB}\n")
    (leaf / "memory.max").write_text(f"{200 * MiB}\n")
    (leaf / "cpu.max").write_text("max 100000\n")
    (leaf / "pids.max").write_text("garbage\n")
    group = read_cgroup(leaf, tmp_path)
    assert group.memory_max == 100 * MiB
    assert (group.cpu_cores, group.pids_max, group.memory_current) == (None, None, None)


async def test_utilisation_thresholds_name_the_resource(shared: Shared) -> None:
    """A breach per resource over the probe's levels; the integration state reads these."""
    spec = REGISTRY["host"]
    result = await execute(
        spec,
        HostProbe(resources=("memory",)),
        probe_id="test/host",
        timeout=5,
        thresholds=(ThresholdRule(SIGNALS["utilisation"], 0.0, 2.0),),
        shared=shared,
    )
    assert result.success
    [breach] = result.breaches
    assert (breach.signal, breach.severity, breach.limit) == (
        "utilisation:memory",
        Severity.WARNING,
        0.0,
    )
    assert breach.value == capacity(result)["memory"].utilisation


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"disks": ["relative/path"]}, "disk path 'relative/path' is not absolute"),
        ({"disks": ["/", "/"]}, "lists each entry once"),
        ({"resources": ["gpu"]}, "Input should be 'cpu', 'memory' or 'open_fds'"),
    ],
)
def test_config_errors(config: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        HostProbe.model_validate(config)


async def test_one_blocked_call_per_key() -> None:
    """A hung call (a dead network mount) holds one thread; later runs join it, and a run that
    gives up (its deadline) neither kills it nor breaks the others waiting on it."""
    calls = SystemCalls(workers=2)
    release = threading.Event()
    started: list[int] = []

    def hang() -> str:
        started.append(threading.get_ident())
        release.wait(10)
        return "done"

    try:
        first = asyncio.create_task(calls.run(("disk", "/mnt/nfs"), hang))
        await asyncio.sleep(0.05)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await calls.run(("disk", "/mnt/nfs"), hang)
        other = await calls.run(("disk", "/"), os.getpid)  # the pool still serves other keys
        assert other == os.getpid()
        release.set()
        assert await first == "done"
        assert len(started) == 1
    finally:
        release.set()
        calls.close()


async def test_calls_raise_what_the_function_raises() -> None:
    calls = SystemCalls()
    try:
        with pytest.raises(FileNotFoundError):
            await calls.run("k", psutil.disk_usage, "/no/such/path")
        assert await calls.run("k", lambda: 42) == 42  # a failed call is not kept
    finally:
        calls.close()


def test_cpu_rate_needs_a_baseline() -> None:
    calls = SystemCalls()
    try:
        assert calls.cpu_rate("k", 10.0, now=100.0) is None
        assert calls.cpu_rate("k", 11.5, now=101.0) == 1.5
        assert calls.cpu_rate("k", 5.0, now=102.0) is None  # counter reset: no rate
    finally:
        calls.close()
