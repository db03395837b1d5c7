"""command: the checks teams already have, run as Nagios plugins (exit 0/1/2/3 and perfdata).

The command runs from an argv list (never through a shell) in a session of its own, so the
deadline kills its whole process group, children included. Its environment is allow-listed:
``pass_env`` names what it inherits from the agent, ``env`` adds values, and those are the
way to hand it a secret (``env: {TOKEN: ${SECRET}}``); a value from the environment on the
command line, where every user of the host can read it, is a config error. Output is capped.

Exit 0 is ok; 1 (warning) is a success with a breach, so the integration is degraded; 2
(critical) fails the run; 3 (unknown), any other code, a signal or a command that cannot be
started fail it with ``check_unknown``. The first line of output is the run's message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
from collections.abc import Iterator
from typing import Annotated

from pydantic import BaseModel, ByteSize, Field

from agent import vocabulary as v
from agent.conditions.facts import Fact, FactType
from agent.probers.base import KeyPath, Known, ProbeContext, ProbeFailed, ProberSpec
from agent.probers.command_output import parse_output
from agent.probers.http_request import CONFIG
from agent.results import Breach, Labelled, Reason, Severity

EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
STATES = ("ok", "warning", "critical", "unknown")
_GRACE = 0.5  # seconds to drain the pipes after the command exits (a child may hold them)
_POLL = 0.05  # seconds between looks at whether it exited while its pipes stay open


class CommandProbe(BaseModel):
    """A Nagios-compatible check: ``argv`` run with an allow-listed environment."""

    model_config = CONFIG

    argv: tuple[str, ...] = Field(min_length=1, description="program and arguments, no shell")
    env: dict[EnvName, str] = Field(default_factory=dict, description="secrets go here")
    pass_env: tuple[EnvName, ...] = Field(
        ("PATH", "LANG", "LC_ALL", "TZ"), description="variables inherited from the agent"
    )
    cwd: str | None = None
    max_output_bytes: Annotated[ByteSize, Field(gt=0, le=16 << 20)] = ByteSize(64 << 10)
    max_perfdata: int = Field(20, ge=0, le=200, description="perfdata labels exported at most")


def _perf_lookup(perfdata: dict[str, float], label: str) -> float:
    if label not in perfdata:
        raise LookupError(f"no perfdata {label!r}")
    return perfdata[label]


EXIT_CODE = Fact(
    "EXIT_CODE", FactType.INT, Reason.CONDITION_FAILED, "the command's exit code (0 to 3)"
)
OUTPUT = Fact("OUTPUT", FactType.STRING, Reason.BODY_MISMATCH, "everything it wrote (capped)")
PERFDATA = Fact(
    "PERFDATA",
    FactType.NUMBER,
    Reason.CONDITION_FAILED,
    "[PERFDATA.label]: a perfdata value, in base units",
    lookup=_perf_lookup,
    keyed_type=FactType.NUMBER,
)


async def probe(config: CommandProbe, ctx: ProbeContext) -> None:
    env = {name: os.environ[name] for name in config.pass_env if name in os.environ}
    env |= config.env
    ctx.secrets.update(config.env.values())
    limit = int(config.max_output_bytes)
    ctx.doing = f"{os.path.basename(config.argv[0])}, killed with its process group"
    try:
        process = await asyncio.create_subprocess_exec(
            *config.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=config.cwd,
            start_new_session=True,  # its own process group: the deadline kills them all
        )
    except OSError as exc:
        raise ProbeFailed(
            Reason.CHECK_UNKNOWN, f"cannot run {config.argv[0]}: {exc.strerror or exc}"
        ) from None
    out, err = bytearray(), bytearray()
    try:
        assert process.stdout is not None and process.stderr is not None
        readers = (
            asyncio.ensure_future(_read(process.stdout, limit, out)),
            asyncio.ensure_future(_read(process.stderr, limit, err)),
        )
        try:
            code = await _exit_code(process)
            await asyncio.wait(readers, timeout=_GRACE)
        finally:
            _kill_group(process)  # what it left running in its group goes too
            for reader in readers:
                reader.cancel()
    finally:
        if process.returncode is None:
            _kill_group(process)
        with contextlib.suppress(ProcessLookupError):
            await process.wait()  # reaped, and its pipes closed: nothing outlives the run
    _judge(config, ctx, code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def _judge(config: CommandProbe, ctx: ProbeContext, code: int, out: str, err: str) -> None:
    output = parse_output(out)
    message = output.message or (err.strip().splitlines() or ["(no output)"])[0][:240]
    state = code if 0 <= code <= 3 else 3
    ctx.values[v.COMMAND_STATUS] = state
    ctx.facts["EXIT_CODE"] = code
    ctx.facts["OUTPUT"] = out
    ctx.facts["PERFDATA"] = {p.label: p.value for p in output.perfdata}
    for perf in output.perfdata[: config.max_perfdata]:
        ctx.series.append(Labelled(v.COMMAND_PERFDATA, (perf.label, perf.unit), perf.value))
    ctx.message = message
    if code < 0:
        raise ProbeFailed(
            Reason.CHECK_UNKNOWN, f"killed by {signal.Signals(-code).name}: {message}"
        )
    if code == 1:
        ctx.breaches.append(Breach("check", Severity.WARNING, 1.0, 1.0))
    elif code == 2:
        raise ProbeFailed(Reason.CONDITION_FAILED, f"CRITICAL: {message}")
    elif code == 3:
        raise ProbeFailed(Reason.CHECK_UNKNOWN, f"UNKNOWN: {message}")
    elif code > 3:
        raise ProbeFailed(
            Reason.CHECK_UNKNOWN, f"exit code {code} is not a Nagios state (0 to 3): {message}"
        )


async def _read(stream: asyncio.StreamReader, limit: int, into: bytearray) -> None:
    """Up to ``limit`` bytes into ``into`` (kept if the read is cancelled); the rest is read
    and dropped, so the command never blocks on a full pipe."""
    while chunk := await stream.read(65536):
        if len(into) < limit:
            into += chunk[: limit - len(into)]


async def _exit_code(process: asyncio.subprocess.Process) -> int:
    """The exit code, as soon as the process exits. ``wait()`` alone also waits for its
    pipes to close, which a child it left running may hold open for as long as it likes."""
    waiter = asyncio.ensure_future(process.wait())
    try:
        while process.returncode is None and not waiter.done():
            await asyncio.wait({waiter}, timeout=_POLL)
    finally:
        waiter.cancel()
    code = process.returncode
    assert code is not None
    return code


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def problems(config: CommandProbe, known: Known) -> Iterator[tuple[KeyPath, str]]:
    """A secret from the environment on the command line, where ``ps`` shows it to all."""
    secrets = [s for s in known.secrets if len(s) >= 4]
    for index, arg in enumerate(config.argv):
        if any(secret in arg for secret in secrets):
            yield (
                ("argv", index),
                "a value from the environment is on the command line, where every user of the "
                "host can read it; pass it in env (env: {NAME: ${VAR}}) and read it there",
            )


def _target(config: CommandProbe) -> str:
    text = shlex.join(config.argv)
    return text if len(text) <= 120 else text[:119] + "…"


SPEC = ProberSpec(
    kind="command",
    model=CommandProbe,
    probe=probe,
    facts=(EXIT_CODE, OUTPUT, PERFDATA),
    families=(v.COMMAND_STATUS, v.COMMAND_PERFDATA),
    target=_target,
    network=False,
    attributes=lambda config: {"process.executable.name": os.path.basename(config.argv[0])},
    problems=problems,
)
