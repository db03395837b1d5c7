"""The agent's own faults, on a real ``oversight run``: broken and rapid reloads, a target slower
than its interval, a collector that is closed or black-holed, an audit trail that cannot be
written, and SIGTERM with a hundred runs in flight. Each keeps probing on schedule, says what
is wrong where an operator looks (a metric, /readyz, the log once), and stops in time."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.agent.web.conftest import AgentProcess, agent_process, get, oversight
from tests.dashboards.stack import free_port
from tests.peers.http_servers import closed_port, never_answer, raw_server, static_site
from tests.peers.otlp_receiver import until

HOST = "127.0.0.1"
PROBE = "hostile/target/case"
STOP_WITHIN = 10.0  # seconds from SIGTERM to exit
RELOADED = "oversight_config_last_reload_successful"


def config(url: str, port: int, *, every: str = "200ms", timeout: str = "150ms", extra: str = "",
           probes: int = 1) -> str:  # fmt: skip
    """``probes`` http probes of ``url`` every ``every``; the first is ``case``."""
    names = ["case", *(f"p{n}" for n in range(1, probes))]
    blocks = "".join(f'          {name}: {{http: {{url: "{url}"}}}}\n' for name in names)
    return (
        f'agent: {{listen: "{HOST}:{port}", interval: {every}, timeout: {timeout}}}\n'
        f"{extra}patterns:\n  hostile:\n    integrations:\n      target:\n"
        f"        scope: external\n        probes:\n{blocks}"
    )


def metrics(port: int) -> dict[str, float]:
    """Every sample of the agent's /metrics as ``name{labels}`` (labels sorted) -> value."""
    _, body = get(f"http://{HOST}:{port}/metrics", timeout=10)
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()) if k != "agent")
            found[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return found


def runs(port: int) -> float:
    name = 'oversight_probe_runs_total{integration="target",pattern="hostile",probe="case",'
    return metrics(port)[name + 'scope="external"}']


def ready(port: int) -> Callable[[], bool]:
    return lambda: get(f"http://{HOST}:{port}/readyz")[0] == 200


def stop(agent: AgentProcess) -> float:
    """SIGTERM; the seconds until it exited (0: its exit code)."""
    began = time.monotonic()
    agent.process.send_signal(signal.SIGTERM)
    code = agent.process.wait(STOP_WITHIN + 5)
    took = time.monotonic() - began
    assert code == 0, agent.text()[-2000:]
    return took


def no_crash(agent: AgentProcess) -> None:
    """Errors are said in a line (a reload that failed is one); nothing raised."""
    log = agent.text()
    assert "Traceback" not in log and "exception" not in log.lower(), log[-3000:]


async def test_sighup_with_a_broken_file_loses_no_run(tmp_path: Path) -> None:
    port = free_port()
    with static_site(tmp_path / "site", free_port()) as site:
        path = tmp_path / "oversight.yaml"
        good = config(site + "/", port)
        path.write_text(good)
        with agent_process(tmp_path, ["run", "-c", str(path)], ready(port)) as agent:
            before, began = runs(port), time.monotonic()
            path.write_text(good.replace("http:", "htp:"))
            agent.process.send_signal(signal.SIGHUP)
            seen = await _within(1.0, lambda: metrics(port)[RELOADED] == 0)
            await asyncio.sleep(2.0)
            done, elapsed = runs(port) - before, time.monotonic() - began
            m = metrics(port)
            took = stop(agent)
        no_crash(agent)
    assert seen <= 1.0
    assert done >= int(elapsed / 0.2) - 2, (done, elapsed)  # every run on its schedule
    assert m['oversight_scheduler_skipped_runs_total{reason="missed"}'] == 0
    assert m['oversight_scheduler_skipped_runs_total{reason="overlap"}'] == 0
    assert "reload failed, keeping the running config" in agent.text()
    assert took < STOP_WITHIN


async def test_twenty_reloads_in_one_second(tmp_path: Path) -> None:
    """Valid and broken files in turn, a SIGHUP every 50 ms: each reload runs whole, the
    agent ends on the last file's verdict, and the schedule is kept."""
    port = free_port()
    with static_site(tmp_path / "site", free_port()) as site:
        path = tmp_path / "oversight.yaml"
        good = config(site + "/", port)
        broken = good.replace("interval: 200ms", "interval: soon")
        path.write_text(good)
        with agent_process(tmp_path, ["run", "-c", str(path)], ready(port)) as agent:
            before, began = runs(port), time.monotonic()
            for n in range(20):
                path.write_text(broken if n % 2 == 0 else good.replace("200ms", f"{200 + n}ms"))
                agent.process.send_signal(signal.SIGHUP)
                await asyncio.sleep(0.05)
            await _within(2.0, lambda: metrics(port)[RELOADED] == 1)
            await asyncio.sleep(1.5)
            done, elapsed = runs(port) - before, time.monotonic() - began
            assert get(f"http://{HOST}:{port}/healthz")[0] == 200
            m = metrics(port)
            took = stop(agent)
        no_crash(agent)
    assert done >= int(elapsed / 0.22) - 3, (done, elapsed)
    assert m['oversight_scheduler_skipped_runs_total{reason="missed"}'] == 0
    assert took < STOP_WITHIN


def test_a_timeout_as_long_as_the_interval_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "oversight.yaml"
    text = config("http://127.0.0.1:9/", 9).replace("case: {", "case: {interval: 1s, timeout: 1s, ")
    path.write_text(text)
    done = subprocess.run([*oversight(), "check", "-c", str(path)], capture_output=True, text=True)
    assert done.returncode != 0
    said = done.stdout + done.stderr
    assert "oversight.yaml:8: patterns.hostile.integrations.target.probes.case.timeout" in said
    assert "must be shorter than the interval" in said, said


async def test_a_target_slower_than_its_interval_keeps_the_schedule(tmp_path: Path) -> None:
    """A target that never answers, probed every 500 ms with a 400 ms timeout: every run ends
    at its deadline, the next starts on time, none overlaps."""
    port = free_port()
    async with raw_server(never_answer) as silent:
        path = tmp_path / "oversight.yaml"
        path.write_text(config(f"http://{HOST}:{silent}/", port, every="500ms", timeout="400ms"))
        started = lambda: bool(_safe(lambda: runs(port) >= 1))  # noqa: E731
        with agent_process(tmp_path, ["run", "-c", str(path)], started) as agent:
            before, began = runs(port), time.monotonic()
            await asyncio.sleep(3.0)
            done, elapsed = runs(port) - before, time.monotonic() - began
            m = metrics(port)
            stop(agent)
        no_crash(agent)
    assert done >= int(elapsed / 0.5) - 1, (done, elapsed)
    assert m['oversight_scheduler_skipped_runs_total{reason="overlap"}'] == 0
    duration = 'probe_duration_seconds{integration="target",pattern="hostile",probe="case",'
    assert 0.39 <= m[duration + 'scope="external"}'] < 1.0  # uvloop: timers to the ms


async def test_sigterm_with_a_hundred_runs_in_flight(tmp_path: Path) -> None:
    port = free_port()
    async with raw_server(never_answer) as silent:
        path = tmp_path / "oversight.yaml"
        text = config(f"http://{HOST}:{silent}/", port, every="30s", timeout="20s", probes=100)
        path.write_text(text)

        def in_flight() -> bool:
            return metrics(port)["oversight_probes_in_flight"] >= 100

        with agent_process(tmp_path, ["run", "-c", str(path)], in_flight, limit=40) as agent:
            children = psutil.Process(agent.process.pid).children(recursive=True)
            took = stop(agent)
        no_crash(agent)
    assert took < STOP_WITHIN, took
    assert not [c for c in children if c.is_running()]


@pytest.mark.parametrize("collector", ["closed", "black-holed"])
async def test_a_collector_away_never_hurts_probing(tmp_path: Path, collector: str) -> None:
    """OTLP to a closed port, or to one that accepts and never answers: runs keep their
    schedule, the failures show within one export interval, the span queue stays bounded
    (its drops counted), and SIGTERM still exits in time."""
    port = free_port()
    async with raw_server(never_answer) as hole:
        target = closed_port() if collector == "closed" else hole
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{HOST}:{target}",
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "OTEL_BSP_SCHEDULE_DELAY": "1000",
            "OTEL_BSP_MAX_QUEUE_SIZE": "64",
        }
        path = tmp_path / "oversight.yaml"
        args = ["run", "-c", str(path)]
        with (
            static_site(tmp_path / "site", free_port()) as site,
            _env(env),
        ):
            # a 404 every run: every span is a failure's, so every one is exported
            path.write_text(
                config(f"{site}/missing", port, every="100ms", timeout="90ms", probes=5)
            )
            with agent_process(tmp_path, args, ready(port)) as agent:
                before, began = runs(port), time.monotonic()
                failures = 'oversight_export_failures_total{exporter="otlp",signal="metrics"}'
                seen = await _within(4.0, lambda: metrics(port)[failures] >= 1)
                await asyncio.sleep(max(0.0, 6.0 - (time.monotonic() - began)))
                done, elapsed = runs(port) - before, time.monotonic() - began
                m = metrics(port)
                rss = psutil.Process(agent.process.pid).memory_info().rss
                took = stop(agent)
        no_crash(agent)
    assert seen <= 2 * 1.0 + 1.0  # the first export is due after one interval
    assert done >= int(elapsed / 0.1) * 0.8, (done, elapsed)
    assert m['oversight_export_failures_total{exporter="otlp",signal="traces"}'] >= 1
    assert m['oversight_export_dropped_total{exporter="otlp",signal="traces"}'] >= 1
    assert m['oversight_scheduler_skipped_runs_total{reason="missed"}'] == 0
    assert rss < 200 << 20
    assert took < STOP_WITHIN, took


@pytest.mark.parametrize("fault", ["read-only", "disk full"])
async def test_an_audit_trail_that_cannot_be_written(tmp_path: Path, fault: str) -> None:
    """Its volume turned read-only, or filled: probing continues, the failures are counted,
    /readyz says why; once the trail can be written again every queued event is, the chain
    unbroken."""
    port = free_port()
    with _volume(tmp_path / "audit") as volume:
        audit = volume.path / "audit.jsonl"
        with static_site(tmp_path / "site", free_port()) as site:
            path = tmp_path / "oversight.yaml"
            path.write_text(config(site + "/", port, extra=f"audit: {{path: {audit}}}\n"))
            with agent_process(tmp_path, ["run", "-c", str(path)], ready(port)) as agent:
                before = runs(port)
                with volume.broken(fault):
                    path.write_text(path.read_text().replace("200ms", "210ms"))
                    agent.process.send_signal(signal.SIGHUP)  # an event to write
                    await _within(5.0, lambda: get(f"http://{HOST}:{port}/readyz")[0] == 503)
                    status, reason = get(f"http://{HOST}:{port}/readyz")
                    m = metrics(port)
                    await asyncio.sleep(1.0)
                    probing = runs(port) - before
                await _within(5.0, ready(port))
                stop(agent)
        verify = await asyncio.to_thread(
            subprocess.run, [*oversight(), "audit", "verify", str(audit)], capture_output=True
        )
        written = audit.read_text()
    assert status == 503 and reason.startswith(b"audit trail not written"), reason
    assert volume.error.encode() in reason, reason
    assert m["oversight_audit_write_failures_total"] >= 1
    assert m["oversight_agent_ready"] == 0
    assert probing >= 5
    assert verify.returncode == 0, verify
    assert "config_reloaded" in written
    log = agent.text()
    assert "Traceback" not in log and log.count("cannot write the audit log") == 1, log[-3000:]


# --- helpers -------------------------------------------------------------------------------


async def _within(seconds: float, check: Callable[[], object]) -> float:
    """Seconds until ``check()`` holds, polled every 20 ms; fails after ``seconds``."""
    began = time.monotonic()
    await until(lambda: _safe(check), seconds)
    return time.monotonic() - began


def _safe(check: Callable[[], object]) -> object:
    try:
        return check()
    except (OSError, KeyError):
        return False


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class _Volume:
    """Where the audit trail lives. As root (whom no permission stops) a small tmpfs of its
    own, remounted read-only or filled up for real; otherwise a plain directory made
    read-only, or the file swapped for /dev/full."""

    def __init__(self, path: Path, mounted: bool) -> None:
        self.path, self.mounted = path, mounted
        self.error = ""  # the OS's words for the fault, as readiness repeats them

    @contextmanager
    def broken(self, fault: str) -> Iterator[None]:
        audit = self.path / "audit.jsonl"
        filler = self.path / "filler"
        if fault == "read-only":
            self.error = "Read-only file system" if self.mounted else "Permission denied"
            if self.mounted:
                _mount("-o", "remount,ro", str(self.path))
            else:
                audit.chmod(0o444)
                self.path.chmod(0o555)
        elif self.mounted:
            self.error = "No space left on device"
            with filler.open("wb") as out, contextlib.suppress(OSError):
                while True:
                    out.write(bytes(64 << 10))
                    out.flush()
        else:
            self.error = "No space left on device"
            saved = audit.read_bytes()
            audit.unlink()
            audit.symlink_to("/dev/full")
        try:
            yield
        finally:
            if fault == "read-only" and self.mounted:
                _mount("-o", "remount,rw", str(self.path))
            elif fault == "read-only":
                self.path.chmod(0o755)
                audit.chmod(0o644)
            elif self.mounted:
                filler.unlink()
            else:
                audit.unlink()
                audit.write_bytes(saved)


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@contextmanager
def _volume(path: Path) -> Iterator[_Volume]:
    path.mkdir()
    mounted = False
    if os.geteuid() == 0:
        try:
            _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path))
            mounted = True
        except (OSError, subprocess.CalledProcessError):
            pass  # no mount here (a container without the capability): as an ordinary user
    try:
        yield _Volume(path, mounted)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)
