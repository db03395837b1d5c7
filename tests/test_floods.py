"""Nothing floods: what a hostile target sends stays a few hundred characters in every output,
and targets that fail every run cost the log a line per change at info, not a line per run.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import random
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from agent.app import App
from agent.text import MESSAGE_LIMIT
from agent.web import bound_port, serve
from tests.peers.http_servers import MiB, answer_with, closed_port, never_answer, raw_server
from tests.peers.leaky import spew
from tests.peers.otlp_receiver import GrpcReceiver, Sink, until
from tests.test_leaks import agent_logs

JUNK = b"\x00\n" + random.Random(5).randbytes(4094)  # 4 KiB that is no protocol at all
BIG_HEADER = b"HTTP/1.1 200 OK\r\nX-Big: " + b"b" * MiB + b"\r\nContent-Length: 0\r\n\r\n"


@asynccontextmanager
async def hostile_peers() -> AsyncIterator[dict[str, str]]:
    """Addresses that refuse, never answer, spew junk, or send a 1 MiB header."""
    async with AsyncExitStack() as stack:
        silent = await stack.enter_async_context(raw_server(never_answer))
        junk = await stack.enter_async_context(raw_server(spew(JUNK)))
        big = await stack.enter_async_context(raw_server(answer_with(BIG_HEADER)))
        yield {
            "refused": f"127.0.0.1:{closed_port()}",
            "silent": f"127.0.0.1:{silent}",
            "junk": f"127.0.0.1:{junk}",
            "big": f"127.0.0.1:{big}",
        }


# --- junk cannot flood an output ------------------------------------------------------------

JUNK_CONFIG = """\
agent: {{interval: 500ms, timeout: 400ms}}
patterns:
  hostile:
    integrations:
      junk:
        scope: external
        probes:
          http: {{http: {{url: "http://{junk}/"}}}}
      big:
        scope: external
        probes:
          http: {{http: {{url: "http://{big}/"}}}}
"""


async def test_junk_and_a_huge_header_stay_a_few_hundred_characters_everywhere(
    tmp_path: Path,
) -> None:
    """4 KiB of binary once gave a message of some 12,000 characters in the status API, the
    page, the log and the span; now each is one escaped line that says how long it was."""
    sink = Sink()
    receiver = GrpcReceiver(sink)
    receiver.start()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    try:
        async with hostile_peers() as peers:
            path = tmp_path / "oversight.yaml"
            path.write_text(JUNK_CONFIG.format(**peers))
            app = App(path, listen="127.0.0.1:0", environ=env)
            with agent_logs(app) as (text_log, json_log):
                web = await serve(app)
                await app.start()
                try:
                    await until(lambda: len(app.store.latest) == 2, timeout=10, what="both runs")
                    async with aiohttp.ClientSession() as session:
                        base = f"http://127.0.0.1:{bound_port(web)}"
                        async with session.get(base + "/api/v1/status") as response:
                            status = await response.json()
                        async with session.get(base + "/") as response:
                            page = await response.text()
                finally:
                    await app.stop()
                    await web.cleanup()
    finally:
        receiver.stop()

    integrations = status["patterns"]["hostile"]["integrations"]
    messages = {name: i["probes"]["http"]["latest"]["message"] for name, i in integrations.items()}
    assert messages["junk"].startswith("malformed response: Bad status line:\\n")
    assert messages["junk"].endswith(" characters)")
    assert messages["big"].startswith("malformed response: Got more than 8190 bytes when reading")
    for message in messages.values():
        assert len(message) <= MESSAGE_LIMIT and message.isprintable(), message
        assert html.escape(message) in page
    for integration in integrations.values():  # "http: protocol_error: <message>"
        assert len(integration["reason"]) < MESSAGE_LIMIT + 50

    errors = [s for s in sink.spans() if s.status_message]
    assert {s.attributes["oversight.integration"] for s in errors} == {"junk", "big"}
    assert all(s.status_message in messages.values() for s in errors)

    text_lines = text_log.getvalue().splitlines()
    json_lines = [json.loads(line)["message"] for line in json_log.getvalue().splitlines()]
    for lines in (text_lines, json_lines):
        assert any(messages["junk"] in line for line in lines)
        assert any(messages["big"] in line for line in lines)
        assert max(len(line) for line in lines) < 3 * MESSAGE_LIMIT


# --- targets that fail every run do not flood the log ---------------------------------------

HOSTILE_CONFIG = """\
agent: {{interval: 250ms, timeout: 200ms}}
patterns:
  hostile:
    integrations:
      refused:
        scope: external
        probes:
          http: {{http: {{url: "http://{refused}/"}}}}
          tcp: {{tcp: {{address: "{refused}"}}}}
          grpc: {{grpc: {{address: "{refused}"}}}}
      silent:
        scope: external
        probes:
          http: {{http: {{url: "http://{silent}/"}}}}
          tls: {{tls: {{address: "{silent}"}}}}
          grpc: {{grpc: {{address: "{silent}"}}}}
      junk:
        scope: external
        probes:
          http: {{http: {{url: "http://{junk}/"}}}}
          tls: {{tls: {{address: "{junk}"}}}}
          grpc: {{grpc: {{address: "{junk}"}}}}
          tcp:
            tcp: {{address: "{junk}", send: "PING\\n"}}
            conditions: ["[BODY] contains PONG"]
"""
PROBES = 10
INTEGRATIONS = 3


def failed_probe(line: str) -> str | None:
    """The probe a ``<probe> failed: ...`` debug line is about."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if record["level"] == "debug" and " failed: " in record["message"]:
        return str(record["message"].split(" failed: ")[0])
    return None


async def run_agent(config: Path, failures: int, timeout: float = 60) -> list[str]:
    """``oversight run`` at debug with JSON logs until each of PROBES has failed ``failures``
    times, stopped with SIGTERM: every line it wrote to stderr, whoever wrote it (Python's
    logging or a library's own C code)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agent.cli",
        "run",
        "-c",
        str(config),
        "--listen",
        "127.0.0.1:0",
        "--log-level",
        "debug",
        "--log-format",
        "json",
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "POD_NAME": "flood-test"},
    )
    assert process.stderr is not None
    lines: list[str] = []
    counts: Counter[str] = Counter()
    try:
        async with asyncio.timeout(timeout):
            while len(counts) < PROBES or min(counts.values()) < failures:
                line = (await process.stderr.readline()).decode(errors="replace")
                assert line, "the agent stopped:\n" + "\n".join(lines[-20:])
                lines.append(line.rstrip("\n"))
                if probe := failed_probe(line):
                    counts[probe] += 1
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, "\n".join(lines[-20:])
    return lines + rest.decode(errors="replace").splitlines()


async def test_targets_failing_every_run_write_a_line_per_change_not_per_run(
    tmp_path: Path,
) -> None:
    async with hostile_peers() as peers:
        path = tmp_path / "oversight.yaml"
        path.write_text(HOSTILE_CONFIG.format(**peers))
        lines = await run_agent(path, failures=8)

    records, foreign = [], []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            foreign.append(line)
    assert [line for line in foreign if not line.startswith("oversight ")] == []
    failed = Counter(probe for line in lines if (probe := failed_probe(line)))
    assert len(failed) == PROBES and min(failed.values()) >= 8  # again and again, at debug
    assert [r for r in records if r.get("exception") or r["level"] in ("error", "critical")] == []
    loud = [r["message"] for r in records if r["level"] != "debug"]
    # "started", one transition per integration, and at most a first skipped run per probe
    # on a loaded machine: a bound set by the config, not by how many runs failed.
    assert len(loud) <= 1 + INTEGRATIONS + PROBES, json.dumps(loud, indent=1)
    assert all(len(line) < 3 * MESSAGE_LIMIT for line in lines)


@pytest.fixture(autouse=True)
def _no_otel_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The agents here export only where the test says."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
