"""The command kind against real small scripts: Nagios exit codes, perfdata, and a tight leash.

Each script is written to a temporary directory and run the way the agent runs it: as an argv
list, in a process group of its own, with an allow-listed environment and capped output.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from agent import vocabulary as v
from agent.probers.command_output import Perf, parse_output, parse_perfdata
from agent.results import Reason, Severity
from tests.agent.probers.conftest import RunProbe


def script(tmp: Path, body: str, name: str = "check") -> str:
    path = tmp / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def perf(result: object) -> dict[tuple[str, str], float]:
    return {item.labels: item.value for item in result.series}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("code", "success", "reason", "status"),
    [
        (0, True, None, 0),
        (1, True, None, 1),
        (2, False, Reason.CONDITION_FAILED, 2),
        (3, False, Reason.CHECK_UNKNOWN, 3),
        (7, False, Reason.CHECK_UNKNOWN, 3),
    ],
)
async def test_exit_codes_are_nagios_states(
    tmp_path: Path,
    run_probe: RunProbe,
    code: int,
    success: bool,
    reason: Reason | None,
    status: int,
) -> None:
    argv = [
        script(
            tmp_path, f"echo 'DISK STATE {code} - / 12% free | free=12%;20;10;0;100'\nexit {code}\n"
        )
    ]
    result = await run_probe("command", {"argv": argv})
    assert (result.success, result.reason) == (success, reason)
    assert result.value(v.COMMAND_STATUS) == status
    assert perf(result) == {("free", "ratio"): pytest.approx(0.12)}
    said = f"DISK STATE {code} - / 12% free"
    expected = {
        0: said,
        1: said,
        2: f"CRITICAL: {said}",
        3: f"UNKNOWN: {said}",
        7: f"exit code 7 is not a Nagios state (0 to 3): {said}",
    }
    assert result.message == expected[code]
    warnings = [(b.signal, b.severity) for b in result.breaches]
    assert warnings == ([("check", Severity.WARNING)] if code == 1 else [])


async def test_perfdata_becomes_series_in_base_units_and_facts_for_conditions(
    tmp_path: Path, run_probe: RunProbe
) -> None:
    out = (
        "OK - ledger replies | time=250ms;500;1000;0; 'queue depth'=17;;;0;100 size=2KB load=U\n"
        "long text line\n"
        "more text | hits=42c rtt=1500us\n"
    )
    argv = [script(tmp_path, f"cat <<'END'\n{out}END\n")]
    result = await run_probe(
        "command",
        {"argv": argv},
        conditions=["[PERFDATA.time] < 0.3", "[PERFDATA.queue depth] <= 20", "[EXIT_CODE] == 0"],
    )
    assert result.success, result.message
    assert result.message == "OK - ledger replies"
    assert perf(result) == {
        ("time", "seconds"): 0.25,
        ("queue depth", ""): 17.0,
        ("size", "bytes"): 2048.0,
        ("hits", "count"): 42.0,
        ("rtt", "seconds"): pytest.approx(0.0015),
    }
    failing = await run_probe("command", {"argv": argv}, conditions=["[PERFDATA.time] < 0.1"])
    assert failing.message == "[PERFDATA.time] (0.25) < 0.1"


async def test_the_deadline_kills_the_whole_process_group(
    tmp_path: Path, run_probe: RunProbe
) -> None:
    pids = tmp_path / "pids"
    argv = [script(tmp_path, f"sleep 60 &\necho $! > {pids}\nsleep 60\n")]
    started = time.monotonic()
    result = await run_probe("command", {"argv": argv}, timeout=0.5)
    assert time.monotonic() - started < 2.0
    assert result.reason is Reason.TIMEOUT
    assert result.message == "no answer within 0.5s (during check, killed with its process group)"
    child = int(pids.read_text())
    for _ in range(50):  # the kill is delivered; the orphan is reaped by init
        if not _alive(child):
            break
        await asyncio.sleep(0.02)
    assert not _alive(child)


async def test_a_child_left_holding_the_output_does_not_hold_the_run(
    tmp_path: Path, run_probe: RunProbe
) -> None:
    pids = tmp_path / "pids"
    argv = [script(tmp_path, f"echo 'OK - done'\nsleep 60 &\necho $! > {pids}\nexit 0\n")]
    started = time.monotonic()
    result = await run_probe("command", {"argv": argv}, timeout=5)
    assert time.monotonic() - started < 2.0
    assert (result.success, result.message) == (True, "OK - done")
    await asyncio.sleep(0.1)
    assert not _alive(int(pids.read_text()))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split()[2] == "Z")


async def test_output_is_capped(tmp_path: Path, run_probe: RunProbe) -> None:
    argv = [script(tmp_path, "echo 'OK - big'\nhead -c 2000000 /dev/zero | tr '\\0' x\n")]
    result = await run_probe(
        "command", {"argv": argv, "max_output_bytes": "1KiB"}, conditions=["[OUTPUT] exists"]
    )
    assert result.success
    assert result.message == "OK - big"
    capped = await run_probe(
        "command",
        {"argv": argv, "max_output_bytes": "1KiB"},
        conditions=["[OUTPUT] not contains ZZZ", "[OUTPUT] matches ^OK - big\\nx{1015}$"],
    )
    assert capped.success, capped.message


async def test_the_environment_is_allow_listed_and_its_secrets_scrubbed(
    tmp_path: Path, run_probe: RunProbe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_ONLY", "not for plugins")
    body = 'echo "WARNING - token $TOKEN seen, agent-only=[$AGENT_ONLY] lang=[$LANG]"\nexit 1\n'
    argv = [script(tmp_path, body)]
    settings = {"argv": argv, "env": {"TOKEN": "s3cr3t-t0ken"}, "pass_env": ["PATH"]}
    result = await run_probe("command", settings)
    assert result.success
    assert result.message == "WARNING - token <redacted> seen, agent-only=[] lang=[]"


async def test_arguments_reach_the_program_as_they_are_never_through_a_shell(
    tmp_path: Path, run_probe: RunProbe
) -> None:
    marker = tmp_path / "marker"
    argv = [script(tmp_path, 'echo "OK - $1"\n'), f"$(touch {marker}); echo pwned"]
    result = await run_probe("command", {"argv": argv})
    assert result.message == f"OK - $(touch {marker}); echo pwned"
    assert not marker.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["/nonexistent/check_nothing"], "cannot run /nonexistent/check_nothing: No such file"),
        (["{tmp}/not-executable"], "cannot run {tmp}/not-executable: Permission denied"),
    ],
)
async def test_a_command_that_cannot_start_is_unknown(
    tmp_path: Path, run_probe: RunProbe, argv: list[str], message: str
) -> None:
    (tmp_path / "not-executable").write_text("echo hi\n")
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    message = message.format(tmp=tmp_path)
    result = await run_probe("command", {"argv": argv})
    assert result.reason is Reason.CHECK_UNKNOWN
    assert result.message.startswith(message)


async def test_a_command_killed_by_a_signal_is_unknown(tmp_path: Path, run_probe: RunProbe) -> None:
    argv = [script(tmp_path, "echo 'about to go'\nkill -TERM $$\n")]
    result = await run_probe("command", {"argv": argv})
    assert result.reason is Reason.CHECK_UNKNOWN
    assert result.message == "killed by SIGTERM: about to go"


async def test_silence_on_stdout_reads_stderr(tmp_path: Path, run_probe: RunProbe) -> None:
    argv = [script(tmp_path, "echo 'check_x: cannot connect' >&2\nexit 3\n")]
    result = await run_probe("command", {"argv": argv})
    assert result.message == "UNKNOWN: check_x: cannot connect"


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("time=0.5s;1;2;0;10", [Perf("time", 0.5, "seconds", "1", "2", 0.0, 10.0)]),
        ("'a b'=5MB", [Perf("a b", 5 * 1024**2, "bytes")]),
        ("'it''s'=1", [Perf("it's", 1.0, "")]),
        ("x=U y=3 z=abc w=1zz", [Perf("y", 3.0, "")]),
        ("x=1 x=2", [Perf("x", 1.0, "")]),
        ("used=75%;80;90", [Perf("used", 0.75, "ratio", "80", "90")]),
    ],
)
def test_perfdata_items(text: str, items: list[Perf]) -> None:
    assert list(parse_perfdata(text)) == items


def test_the_message_is_the_first_line_before_the_bar() -> None:
    output = parse_output("OK - fine | a=1\nlong\nlonger | b=2s\n")
    assert output.message == "OK - fine"
    assert [p.label for p in output.perfdata] == ["a", "b"]
    assert parse_output("x" * 500).message == "x" * 239 + "…"
