"""The ``oversight`` command as a new user meets it: options every command takes."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.audit import AuditLog
from agent.cli import _parser, main

OVERSIGHT = Path(sys.executable).with_name("oversight")  # where pip put the console script


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple]:
    """(command path, parser) of every command a user can run, actions under a command too."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for sub in subs:
        for name, child in sub.choices.items():
            yield from _leaves(child, (*path, name))


def oversight(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(OVERSIGHT), *args], capture_output=True, text=True, timeout=60,
                          env=env, cwd=cwd, check=False)


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
    result = oversight("audit", "verify", "--log-level", "debug", "--log-format", "json",
                       str(audit.path))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("ok: 1 records, 0..0, in 1 file(s)")
    assert main(["audit", "--log-level", "warning", "verify", str(audit.path)]) == 0
