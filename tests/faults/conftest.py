"""The fault suite's harness: one probe of a real agent against one hostile peer, and the checks
every case makes: the reason, the deadline kept, nothing crashed, nothing left behind.

"Left behind" is what a run could leave once its result is in: a task still running prober
code, a thread still busy in the agent's code, a socket still connected to the peer, a child
process. Each must be gone within ``LINGER`` seconds of the result.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType

import psutil
import pytest

from agent.results import Result
from tests.conftest import RunningAgent, StartAgent

LINGER = 5.0  # seconds anything of a run may outlive its result
SLACK = 1.0  # seconds a run may take beyond its timeout
PROBE = "hostile/target/case"

CONFIG = """\
agent: {{interval: 30s, timeout: 1s}}
{top}patterns:
  hostile:
    integrations:
      target:
        scope: external
        probes:
          case:
            timeout: {timeout}
{probe}
"""

AGENT_CODE = ("/agent/probers/", "/agent/runner.py", "/agent/scheduler.py")


def probe_config(block: str, timeout: str = "1s", top: str = "") -> str:
    """A config of one probe, ``block`` being its kind (and conditions) as YAML at 12 spaces."""
    return CONFIG.format(probe=block.rstrip("\n"), timeout=timeout, top=top)


def _codes(task: asyncio.Task[object]) -> Iterable[CodeType]:
    """The code of every coroutine the task is awaiting, outermost first."""
    coro: object = task.get_coro()
    while coro is not None:
        code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
        if code is not None:
            yield code
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)


def run_tasks() -> list[str]:
    """Tasks of this loop running a probe run's code."""
    return [
        task.get_name()
        for task in asyncio.all_tasks()
        if not task.done() and any(c.co_filename.endswith(AGENT_CODE) for c in _codes(task))
    ]


def busy_threads() -> list[str]:
    """Threads other than this one whose stack is in the agent's probing code."""
    frames = sys._current_frames()
    busy = []
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        if thread is threading.current_thread() or frame is None:
            continue
        while frame is not None:
            if frame.f_code.co_filename.endswith(AGENT_CODE) or "/agent/probers/" in (
                frame.f_code.co_filename
            ):
                busy.append(thread.name)
                break
            frame = frame.f_back
    return busy


@dataclass
class Leftovers:
    """What was running before the case, to tell what the case left."""

    ports: set[int]
    children: set[int] = field(default_factory=set)
    sockets: set[object] = field(default_factory=set)  # the peers' own, and the test's

    def __post_init__(self) -> None:
        me = psutil.Process()
        self.children = {c.pid for c in me.children(recursive=True)}
        self.sockets = {c.laddr for c in me.net_connections(kind="inet")}

    def now(self) -> dict[str, list[str]]:
        me = psutil.Process()
        sockets = [
            f"{c.laddr} -> {c.raddr} ({c.status})"
            for c in me.net_connections(kind="inet")
            if c.raddr and c.raddr.port in self.ports and c.laddr not in self.sockets
        ]
        children = [
            f"{c.pid} {c.name()}"
            for c in me.children(recursive=True)
            if c.pid not in self.children and c.is_running()
        ]
        found = {
            "tasks": run_tasks(),
            "threads": busy_threads(),
            "sockets": sockets,
            "children": children,
        }
        return {k: v for k, v in found.items() if v}

    async def gone(self, within: float = LINGER) -> float:
        """Seconds until nothing is left; fails with what is left after ``within``."""
        began = time.monotonic()
        while found := self.now():
            if time.monotonic() - began > within:
                raise AssertionError(f"left behind {within:g}s after the run: {found}")
            await asyncio.sleep(0.05)
        return time.monotonic() - began


@dataclass(frozen=True)
class Case:
    """One hostile behaviour: its id, how to start the peer (an async context manager
    factory taking the test's fixtures), and what the run must say."""

    id: str
    reason: str | None  # None: the run succeeds
    ends: str  # "deadline" (it ran into its timeout) or "early" (it failed before it)
    phase: str = ""  # the phase named in a timeout's message ("during connect")
    message: str = ""  # text the message holds


def crashes(records: Iterable[logging.LogRecord]) -> list[str]:
    """Log records that say something crashed: errors, tracebacks, asyncio's complaints."""
    return [
        f"{r.name}: {r.getMessage()[:300]}"
        for r in records
        if r.levelno >= logging.ERROR
        or r.exc_info
        or (r.name == "asyncio" and r.levelno >= logging.WARNING)
    ]


async def first_result(agent: RunningAgent, timeout: float) -> Result:
    """The first result of the case's probe (the first round starts within 2 s)."""
    await agent.wait_result(PROBE, timeout=timeout + 4.0)
    return agent.app.store.latest[PROBE]


Check = Callable[[Result], None]


@pytest.fixture
def hostile_agent(
    start_agent: StartAgent, caplog: pytest.LogCaptureFixture
) -> Callable[..., object]:
    """``await hostile_agent(block, case, ports, timeout=1.0)``: run the probe once on a real
    agent, check the case's outcome and that nothing crashed or stayed; returns the Result."""
    caplog.set_level(logging.DEBUG)

    async def run(
        block: str,
        case: Case,
        ports: Iterable[int] = (),
        timeout: float = 1.0,
        top: str = "",
    ) -> Result:
        leftovers = Leftovers(set(ports))
        agent = await start_agent(probe_config(block, f"{timeout * 1000:.0f}ms", top))
        result = await first_result(agent, timeout)
        assert (result.reason.value if result.reason else None) == case.reason, result.message
        if case.ends == "deadline":
            assert timeout - 0.01 <= result.duration <= timeout + SLACK, result.duration
            assert f"no answer within {timeout:g}s" in result.message, result.message
        else:
            assert result.duration < timeout, (result.duration, result.message)
        if case.phase:
            assert f"(during {case.phase})" in result.message, result.message
        assert case.message in result.message, result.message
        assert (await agent.get("/healthz"))[0] == 200
        await leftovers.gone()
        status, _ = await agent.get("/api/v1/status")
        assert status == 200
        assert crashes(caplog.records) == []
        return result

    return run


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)
