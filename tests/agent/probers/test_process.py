"""The process kind against a real neighbour process with known memory, descriptors and threads."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from pydantic import ValidationError

from agent.probers.process import ProcessProbe
from agent.results import Capacity, Reason, Result
from agent.vocabulary import Detail
from tests.agent.probers.conftest import RunProbe
from tests.peers.cgroup_tree import fake_cgroup

MiB = 1 << 20
NAME = "ovs-neighbour"  # the neighbour runs under this name (a symlink to python)
EXTRA_FILES, EXTRA_THREADS = 40, 4
PYTHON = os.path.realpath(sys.executable)

# Holds 64 MiB (touched, so resident), 40 extra open files, 4 extra threads, one listening
# socket and one loopback connection to itself (two established ends); writes its pid file
# last, prints its port, then waits for stdin to close.
NEIGHBOUR = textwrap.dedent(
    f"""
    import os, socket, sys, threading, time
    block = bytearray(64 << 20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    files = [open(os.devnull) for _ in range({EXTRA_FILES})]
    for _ in range({EXTRA_THREADS}):
        threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(f"{{os.getpid()}}\\n")
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    print(server.getsockname()[1], flush=True)
    sys.stdin.read()
    """
)


@dataclass
class Neighbour:
    process: asyncio.subprocess.Process
    pid_file: Path
    port: int
    marker: str

    @property
    def pid(self) -> int:
        return self.process.pid

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


@pytest.fixture
async def neighbour(tmp_path: Path) -> AsyncIterator[Neighbour]:
    executable = tmp_path / NAME
    executable.symlink_to(PYTHON)
    marker = f"neighbour-{uuid.uuid4().hex[:12]}"
    pid_file = tmp_path / "app.pid"
    process = await asyncio.create_subprocess_exec(
        str(executable),
        "-c",
        NEIGHBOUR,
        str(pid_file),
        marker,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 20)
    running = Neighbour(process, pid_file, int(line), marker)
    yield running
    await running.stop()


def capacity(result: Result) -> dict[str, Capacity]:
    found = {c.resource: c for c in result.capacity}
    assert len(found) == len(result.capacity), "a resource is reported twice"
    return found


def finders(n: Neighbour) -> dict[str, dict[str, Any]]:
    return {
        "pid_file": {"pid_file": str(n.pid_file)},
        "name": {"name": NAME},
        "cmdline": {"cmdline": f" {n.marker}$"},
        "port": {"port": n.port},
    }


@pytest.mark.parametrize("finder", ["pid_file", "name", "cmdline", "port"])
async def test_measures_the_neighbour_found_each_way(
    run_probe: RunProbe, neighbour: Neighbour, finder: str
) -> None:
    result = await run_probe("process", finders(neighbour)[finder])
    assert result.success, result.message
    seen = capacity(result)
    memory = seen["memory"]
    assert memory.unit == "bytes"
    assert 64 * MiB <= (memory.used or 0) < 200 * MiB
    assert 0 < (memory.limit or 0) <= psutil.virtual_memory().total  # the cgroup's, or the node's
    fds = seen["open_fds"]
    assert (fds.used or 0) >= EXTRA_FILES + 3 + 3  # stdio and three sockets
    assert fds.limit == psutil.Process(neighbour.pid).rlimit(psutil.RLIMIT_NOFILE)[0]
    assert seen["threads"].used == 1 + EXTRA_THREADS
    assert seen["connections:listen"].used == 1
    assert seen["connections:established"].used == 2
    assert seen["connections:established"].limit is None
    cpu = seen["cpu"]
    assert cpu.unit == "cores"
    assert (cpu.limit or 0) >= 1
    assert 0 <= (cpu.used or 0) <= (cpu.limit or 0) * 1.5
    assert {"find", "measure"} <= dict(result.phases).keys()


async def test_facts_for_conditions(run_probe: RunProbe, neighbour: Neighbour) -> None:
    conditions = [
        f"[PID] == {neighbour.pid}",
        f"[NAME] == {NAME}",
        "[MATCHES] == 1",
        f"[RSS] > {64 * MiB}",
        f"[OPEN_FDS] >= {EXTRA_FILES}",
        f"[THREADS] == {1 + EXTRA_THREADS}",
        "[CONNECTIONS.ESTABLISHED] == 2",
        "[CONNECTIONS.close_wait] == 0",
        "[UTILISATION.memory] < 1",
        "[USED.threads] == 5",
    ]
    result = await run_probe("process", {"name": NAME}, conditions=conditions)
    assert result.success, result.message
    failing = await run_probe(
        "process",
        {"pid_file": str(neighbour.pid_file)},
        conditions=["[THREADS] < 3", "[CONNECTIONS.BOGUS] == 0", "[UTILISATION.disk:/] < 1"],
    )
    assert failing.reason is Reason.THRESHOLD
    assert failing.message == (
        f"[THREADS] ({1 + EXTRA_THREADS}) < 3; [CONNECTIONS.BOGUS] (absent) == 0; "
        "[UTILISATION.disk:/] (absent) < 1"
    )


async def test_resources_can_be_chosen(run_probe: RunProbe, neighbour: Neighbour) -> None:
    result = await run_probe("process", {"port": neighbour.port, "resources": ["memory"]})
    assert result.success, result.message
    assert list(capacity(result)) == ["memory"]


async def test_memory_limit_from_the_cgroup(
    run_probe: RunProbe, neighbour: Neighbour, tmp_path: Path
) -> None:
    """A cgroup v2 tree laid out like the real one: limits set on an ancestor apply."""
    mount, group = fake_cgroup(neighbour.pid, tmp_path)
    (mount / "memory.max").write_text(f"{512 * MiB}\n")
    if group != mount:
        (group / "memory.max").write_text("max\n")  # unlimited here: the parent's limit holds
    (mount / "cpu.max").write_text("150000 100000\n")
    (mount / "pids.max").write_text("64\n")
    result = await run_probe(
        "process", {"pid_file": str(neighbour.pid_file), "cgroup_root": str(mount)}
    )
    assert result.success, result.message
    seen = capacity(result)
    assert seen["memory"].limit == 512 * MiB
    assert seen["memory"].utilisation == pytest.approx((seen["memory"].used or 0) / (512 * MiB))
    assert seen["cpu"].limit == 1.5
    assert seen["threads"].limit == 64
    assert result.info_value(Detail.MEMORY_LIMIT_FROM) == "cgroup"


async def test_a_process_that_exits_is_a_failed_probe(
    run_probe: RunProbe, neighbour: Neighbour
) -> None:
    config = {"pid_file": str(neighbour.pid_file)}
    assert (await run_probe("process", config)).success
    await neighbour.stop()
    result = await run_probe("process", config)
    assert result.reason is Reason.CONNECT_ERROR
    assert result.message == (
        f"pid file {neighbour.pid_file} names pid {neighbour.pid}, which is not running"
    )
    gone = await run_probe("process", {"port": neighbour.port})
    assert gone.reason is Reason.CONNECT_ERROR
    assert gone.message == f"nothing we can see listens on TCP port {neighbour.port}"


async def test_pid_files_that_point_nowhere(run_probe: RunProbe, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pid"
    result = await run_probe("process", {"pid_file": str(missing)})
    assert result.reason is Reason.CONNECT_ERROR
    assert result.message == f"cannot read pid file {missing}: No such file or directory"
    garbage = tmp_path / "garbage.pid"
    garbage.write_text("not-a-pid\n")
    result = await run_probe("process", {"pid_file": str(garbage)})
    assert result.reason is Reason.PROTOCOL_ERROR
    assert result.message == f"pid file {garbage} holds 'not-a-pid', not a pid"
    empty = tmp_path / "empty.pid"
    empty.write_text("")
    result = await run_probe("process", {"pid_file": str(empty)})
    assert result.message == f"pid file {empty} holds 'nothing', not a pid"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"name": "no-such-process-xyz"}, "no process is named 'no-such-process-xyz'"),
        ({"cmdline": "no such command line [0-9]{40}"}, "no process command line matches"),
    ],
)
async def test_nothing_matches(run_probe: RunProbe, config: dict[str, str], message: str) -> None:
    result = await run_probe("process", config)
    assert result.reason is Reason.CONNECT_ERROR
    assert result.message.startswith(message)


def test_the_agent_itself_never_matches_by_command_line() -> None:
    """A process looking for its own unique command line finds nothing: itself is skipped."""
    marker = f"agent-{uuid.uuid4().hex}"
    script = (
        "import sys\n"
        "from agent.probers.process import ProcessProbe, find\n"
        "from agent.probers.base import ProbeFailed\n"
        "try:\n"
        f"    find(ProcessProbe(cmdline={marker!r}))\n"
        "except ProbeFailed as failed:\n"
        "    print(failed.message)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, marker], capture_output=True, text=True, timeout=30
    )
    assert done.stdout.strip() == f"no process command line matches {marker!r}", done.stderr


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({}, "give exactly one of pid_file, name, cmdline, port; got none"),
        ({"name": "a", "port": 80}, "give exactly one of pid_file, name, cmdline, port; got name"),
        ({"cmdline": "("}, "cmdline is not a valid regex"),
        ({"port": 0}, "greater than or equal to 1"),
        ({"name": "a", "resources": ["disk"]}, "Input should be"),
    ],
)
def test_config_errors(config: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error.replace("(", r"\(")):
        ProcessProbe.model_validate(config)
