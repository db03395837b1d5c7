"""The ``oversight`` command as a new user meets it: options every command takes, one clear line
when the port is taken, and demo instructions that work as printed."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.audit import AuditLog
from agent.cli import _parser, _self_command, main

OVERSIGHT = Path(sys.executable).with_name("oversight")  # where pip put the console script
CONFIG = """\
patterns:
  p:
    owner: team-payments
    integrations:
      i:
        scope: internal
        probes:
          t: {tcp: {address: "127.0.0.1:1"}}
"""


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple]:
    """(command path, parser) of every command a user can run, actions under a command too."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for sub in subs:
        for name, child in sub.choices.items():
            yield from _leaves(child, (*path, name))


@pytest.fixture
def held_port() -> Iterator[str]:
    """``127.0.0.1:port`` with a listening socket on it, as another agent would hold it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def oversight(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(OVERSIGHT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
        check=False,
    )


def test_every_command_has_the_logging_options() -> None:
    leaves = dict(_leaves(_parser()))
    assert ("audit", "verify") in leaves and ("run",) in leaves and ("version",) in leaves
    for path, parser in leaves.items():
        options = {o for action in parser._actions for o in action.option_strings}
        assert {"--log-level", "--log-format"} <= options, path


@pytest.mark.parametrize(
    "argv",
    [
        ["audit", "verify", "--log-level", "debug", "--log-format", "json", "F"],
        ["audit", "--log-level", "debug", "--log-format", "json", "verify", "F"],
        ["report", "--log-level", "debug", "--log-format", "json"],
        ["check", "-c", "F", "--log-level", "debug", "--log-format", "json"],
    ],
    ids=" ".join,
)
def test_logging_options_are_kept_wherever_given(argv: list[str]) -> None:
    """A subcommand's default must not overwrite what was given to its parent command."""
    args = _parser().parse_args(argv)
    assert (args.log_level, args.log_format) == ("debug", "json")


async def test_audit_verify_takes_the_logging_options(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    audit.open()
    audit.emit("state_change", "account/ledger", old="ok", new="down")
    assert await audit.flush()
    result = oversight(
        "audit", "verify", "--log-level", "debug", "--log-format", "json", str(audit.path)
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("ok: 1 records, 0..0, in 1 file(s)")
    assert main(["audit", "--log-level", "warning", "verify", str(audit.path)]) == 0


@pytest.mark.parametrize("command", ["run", "demo"])
def test_a_busy_port_is_one_line_and_exit_1(command: str, held_port: str, tmp_path: Path) -> None:
    config = tmp_path / "oversight.yaml"
    config.write_text(CONFIG)
    args = ["-c", str(config)] if command == "run" else ["--duration", "5"]
    result = oversight(command, *args, "--listen", held_port)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: cannot listen on {held_port}: address already in use "
        "(another agent or demo running? use --listen)\n"
    )
    assert result.stdout == ""


def test_a_malformed_listen_address_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "oversight.yaml"
    config.write_text(CONFIG)
    result = oversight("run", "-c", str(config), "--listen", "localhost")
    assert (result.returncode, result.stderr) == (
        1,
        "error: listen address 'localhost' is not host:port\n",
    )


def test_report_names_the_url_and_says_refused(closed_port: str) -> None:
    result = oversight("report", "--from", f"http://{closed_port}")
    assert (result.returncode, result.stdout) == (1, "")
    assert (
        result.stderr == f"error: cannot reach the agent at http://{closed_port}: "
        "connection refused\n"
    )
    bare = oversight("report", "--from", closed_port)  # host:port alone means http://
    assert bare.stderr == result.stderr


def test_the_command_to_print_is_the_one_the_shell_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{OVERSIGHT.parent}{os.pathsep}/usr/bin:/bin")
    assert _self_command() == "oversight"
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert _self_command() == shlex.quote(str(OVERSIGHT.absolute()))


def _banner(process: subprocess.Popen[str], deadline: float) -> dict[str, str]:
    """The demo's banner lines, by their first word (``report``, ``verify``, ...)."""
    assert process.stderr is not None
    lines: dict[str, str] = {}
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            raise AssertionError(f"the demo ended before its banner (exit {process.wait()})")
        if line.startswith("  ") and line.split():
            lines[line.split()[0]] = line.strip()
        if line.startswith("Faults start"):
            return lines
    raise AssertionError("no banner within the deadline")


def test_the_demo_banner_commands_work_as_printed(tmp_path: Path) -> None:
    """Run as ``bash scripts/demo`` does, with .venv/bin not on PATH: the banner's report and
    verify commands, pasted into a shell, work."""
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    listen = free_port()
    process = subprocess.Popen(
        [str(OVERSIGHT), "demo", "--listen", listen, "--duration", "120"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        banner = _banner(process, time.monotonic() + 60)
        report = banner["report"].removeprefix("report").strip()
        verify = banner["verify"].removeprefix("verify it").strip()
        full = shlex.quote(str(OVERSIGHT.absolute()))
        assert report == f"{full} report --from http://{listen} --format html -o compliance.html"
        assert verify.startswith(f"{full} audit verify ")
        made = subprocess.run(
            ["sh", "-c", report],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert made.returncode == 0, made.stderr
        assert (tmp_path / "compliance.html").read_text().startswith("<!doctype html>")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
    checked = subprocess.run(
        ["sh", "-c", verify], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("ok: ")


SHARDED = "".join(
    f"""\
      i{n}:
        scope: internal
        probes:
          t: {{tcp: {{address: "127.0.0.1:1"}}}}
"""
    for n in range(12)
)


def test_check_says_what_a_shard_would_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole config is checked whatever the shard; the shard's share is said after it."""
    path = tmp_path / "oversight.yaml"
    path.write_text("patterns:\n  p:\n    integrations:\n" + SHARDED)
    monkeypatch.delenv("OVERSIGHT_SHARD", raising=False)
    monkeypatch.delenv("OVERSIGHT_SHARDS", raising=False)
    held = []
    for index in range(3):
        assert main(["check", "-c", str(path), "--shard", f"{index}/3"]) == 0
        out = capsys.readouterr().out
        assert "ok: 1 patterns, 12 integrations" in out and "12 probes (tcp 12)" in out
        held.append(int(out.split(f"shard {index}/3 runs ")[1].split()[0]))
    assert sum(held) == 12
    monkeypatch.setenv("OVERSIGHT_SHARDS", "3")
    monkeypatch.setenv("POD_NAME", "oversight-prober-4")
    assert main(["check", "-c", str(path)]) == 0
    assert f"shard 1/3 runs {held[1]} probes" in capsys.readouterr().out
    monkeypatch.setenv("POD_NAME", "oversight-prober")
    assert main(["check", "-c", str(path)]) == 1
    assert capsys.readouterr().err.startswith(
        "environment: OVERSIGHT_SHARDS is set but this pod's ordinal is unknown"
    )


def test_a_bad_shard_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["run", "-c", "x.yaml", "--shard", "2/2"])
    assert caught.value.code == 2
    assert "argument --shard: shard index 2 is not one of 0..1" in capsys.readouterr().err
