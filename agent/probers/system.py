"""What the host and process kinds share: a small pool for blocking calls, CPU rates, cgroup v2."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from agent.probers.shared import Shared

T = TypeVar("T")
_BASELINES_KEPT = 1024


class SystemCalls:
    """Kept in ``Shared.resources``: a bounded thread pool and CPU baselines between runs.

    psutil reads ``/proc`` and ``statvfs`` synchronously. Most reads take microseconds, but
    listing a busy host's connections, walking every process or asking a dead network mount
    for its usage can take seconds or hang. Those go through ``run``, which never lets more
    than one call per ``key`` be in flight: a hung mount costs one thread, not one per run,
    and the runner's deadline still ends every run on time (the call is shielded, not killed).
    """

    KEY = "capacity.system"

    def __init__(self, workers: int = 4) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="oversight-system")
        self._pending: dict[Hashable, asyncio.Future[Any]] = {}
        self._baselines: dict[Hashable, tuple[float, float]] = {}

    @classmethod
    def of(cls, shared: Shared) -> SystemCalls:
        calls = shared.resources.get(cls.KEY)
        if not isinstance(calls, cls):
            calls = shared.resources[cls.KEY] = cls()
        return calls

    async def run(self, key: Hashable, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the pool; joins the call already running for ``key`` if any."""
        future = self._pending.get(key)
        if future is None or future.done():
            future = asyncio.wrap_future(self._pool.submit(fn, *args))
            self._pending[key] = future
            future.add_done_callback(functools.partial(self._forget, key))
        result: T = await asyncio.shield(future)
        return result

    def _forget(self, key: Hashable, future: asyncio.Future[Any]) -> None:
        if self._pending.get(key) is future:
            del self._pending[key]
        if not future.cancelled():
            future.exception()  # retrieved: a failure nobody awaited any more is not logged

    def cpu_rate(self, key: Hashable, busy_seconds: float, now: float) -> float | None:
        """Busy cores (CPU seconds per second) since the last call for ``key``; None at first."""
        previous = self._baselines.pop(key, None)
        self._baselines[key] = (now, busy_seconds)
        while len(self._baselines) > _BASELINES_KEPT:
            del self._baselines[next(iter(self._baselines))]
        if previous is None or now <= previous[0] or busy_seconds < previous[1]:
            return None
        return (busy_seconds - previous[1]) / (now - previous[0])

    async def busy_cores(
        self, reads: Mapping[Hashable, Callable[[], float | None]], budget: float
    ) -> dict[Hashable, float]:
        """Busy cores per key from CPU-seconds counters. Without a baseline from an earlier run,
        two samples are taken a moment apart (at most 100 ms, a quarter of ``budget``)."""
        now = time.monotonic()
        rates: dict[Hashable, float | None] = {}
        for key, read in reads.items():
            value = read()
            if value is not None:
                rates[key] = self.cpu_rate(key, value, now)
        if any(rate is None for rate in rates.values()):
            await asyncio.sleep(min(0.1, budget / 4))
            now = time.monotonic()
            for key in [k for k, rate in rates.items() if rate is None]:
                value = reads[key]()
                rates[key] = None if value is None else self.cpu_rate(key, value, now)
        return {key: rate for key, rate in rates.items() if rate is not None}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pending.clear()


# -- cgroup v2 -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cgroup:
    """The limits and usage of one cgroup v2 directory; None where a file is absent or ``max``.

    Limits are effective ones: the smallest set on the directory or any ancestor up to the
    mount point, as the kernel enforces them.
    """

    path: Path
    memory_max: float | None
    memory_current: float | None
    cpu_cores: float | None  # cpu.max quota / period
    cpu_usage_seconds: float | None  # cpu.stat usage_usec
    pids_max: float | None
    pids_current: float | None


def cgroup_mount(root: str | None) -> Path | None:
    """Where the cgroup v2 hierarchy is mounted: ``root`` if given, else the usual places."""
    candidates = [Path(root)] if root else [Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")]
    return next((p for p in candidates if (p / "cgroup.controllers").is_file()), None)


def cgroup_of(pid: int, mount: Path) -> Cgroup | None:
    """The cgroup of ``pid`` as seen from our namespace; None when it is not visible."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    relative = next((line[3:] for line in lines if line.startswith("0::")), None)
    if relative is None or relative.startswith("/.."):  # outside our cgroup namespace
        return None
    path = mount / relative.lstrip("/")
    return read_cgroup(path, mount) if path.is_dir() else None


def read_cgroup(path: Path, mount: Path) -> Cgroup:
    chain = [path, *(p for p in path.parents if p.is_relative_to(mount))]
    return Cgroup(
        path=path,
        memory_max=_smallest(chain, "memory.max", _number),
        memory_current=_number(path / "memory.current"),
        cpu_cores=_smallest(chain, "cpu.max", _cores),
        cpu_usage_seconds=cpu_usage_seconds(path),
        pids_max=_smallest(chain, "pids.max", _number),
        pids_current=_number(path / "pids.current"),
    )


def cpu_usage_seconds(path: Path) -> float | None:
    """CPU time the cgroup has used (``cpu.stat`` ``usage_usec``), in seconds."""
    usage = _stat(path / "cpu.stat").get("usage_usec")
    return None if usage is None else usage / 1e6


def _smallest(chain: list[Path], name: str, read: Callable[[Path], float | None]) -> float | None:
    found = [v for p in chain if (v := read(p / name)) is not None]
    return min(found) if found else None


def _text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _number(path: Path) -> float | None:
    text = _text(path)
    if text is None or text == "max":
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _cores(path: Path) -> float | None:
    """``cpu.max``: ``"150000 100000"`` -> 1.5 cores; ``"max 100000"`` -> no limit."""
    parts = (_text(path) or "").split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        return float(parts[0]) / float(parts[1])
    except (ValueError, ZeroDivisionError):
        return None


def _stat(path: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in (_text(path) or "").splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = float(value)
        except ValueError:
            continue
    return out


def file_handles() -> tuple[float, float] | None:
    """The node's open file handles and their maximum (``/proc/sys/fs/file-nr``)."""
    parts = (_text(Path("/proc/sys/fs/file-nr")) or "").split()
    if len(parts) != 3:
        return None
    return float(parts[0]), float(parts[2])
