"""The agent reloads its config when the file changes, the Kubernetes ConfigMap way included:
the kubelet's atomic swap of the ``..data`` symlink, a broken file kept out, debounced."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from agent.app import App
from agent.cli import _parser
from agent.config_watch import signature, watch

INTERVAL = 0.05

CONFIG = """\
patterns:
  account:
    integrations:
      ledger:
        scope: external
        probes:
          port: {{interval: 60s, timeout: 1s, tcp: {{address: "127.0.0.1:1"}}}}
{more}
audit:
  path: {audit}
"""
MORE = """\
      service:
        scope: internal
        probes:
          port: {interval: 60s, timeout: 1s, tcp: {address: "127.0.0.1:1"}}
"""


class ConfigMap:
    """A ConfigMap volume as the kubelet writes it: ``oversight.yaml`` -> ``..data/oversight.yaml``,
    ``..data`` -> a timestamped directory; an update writes a new directory, points a temporary
    symlink at it, renames that over ``..data`` (atomic) and removes the old directory."""

    def __init__(self, root: Path, text: str) -> None:
        self.root = root
        self.generation = 0
        self.current = self._write(text)
        os.symlink(self.current, root / "..data")
        os.symlink("..data/oversight.yaml", root / "oversight.yaml")

    @property
    def path(self) -> Path:
        return self.root / "oversight.yaml"

    def _write(self, text: str) -> str:
        self.generation += 1
        name = f"..2026_01_01_00_00_{self.generation:02d}.{self.generation:09d}"
        (self.root / name).mkdir()
        (self.root / name / "oversight.yaml").write_text(text)
        return name

    def update(self, text: str) -> None:
        old, self.current = self.current, self._write(text)
        os.symlink(self.current, self.root / "..data_tmp")
        os.rename(self.root / "..data_tmp", self.root / "..data")
        shutil.rmtree(self.root / old)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


@pytest.fixture
async def volume(tmp_path: Path) -> AsyncIterator[tuple[ConfigMap, App]]:
    text = CONFIG.format(more="", audit=tmp_path / "audit.jsonl")
    (tmp_path / "volume").mkdir()
    configmap = ConfigMap(tmp_path / "volume", text)
    app = App(configmap.path, listen="127.0.0.1:0", watch_interval=INTERVAL)
    await app.start()
    yield configmap, app
    await app.stop()


async def test_the_kubelets_symlink_swap_reloads_the_agent(
    volume: tuple[ConfigMap, App], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    configmap, app = volume
    assert set(app.plan.probes) == {"account/ledger/port"}
    caplog.set_level(logging.INFO, logger="oversight.agent")
    configmap.update(CONFIG.format(more=MORE, audit=tmp_path / "audit.jsonl"))
    await until(lambda: "account/service/port" in app.plan.probes)
    assert app.reload_successful
    assert "oversight.yaml changed: reloading" in caplog.text
    assert "reloaded" in caplog.text and "1 added" in caplog.text


async def test_a_broken_file_keeps_the_running_config_and_says_so(
    volume: tuple[ConfigMap, App], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    configmap, app = volume
    plan = app.plan
    text = CONFIG.format(more=MORE, audit=tmp_path / "audit.jsonl")
    configmap.update(text.replace("scope: internal", "scope: intern"))
    await until(lambda: not app.reload_successful)
    assert app.plan is plan
    assert "reload failed, keeping the running config: " in caplog.text
    assert "oversight.yaml:9: patterns.account.integrations.service.scope: " in caplog.text
    assert app.snapshot().agent.reload_successful is False  # oversight_config_last_reload_...
    # Once: the watch does not retry a file that has not changed again.
    failures = caplog.text.count("reload failed, keeping the running config")
    await asyncio.sleep(5 * INTERVAL)
    assert caplog.text.count("reload failed, keeping the running config") == failures
    assert app.audit is not None
    await app.audit.log.flush()
    assert '"type":"config_reload_failed"' in (tmp_path / "audit.jsonl").read_text()

    configmap.update(CONFIG.format(more=MORE, audit=tmp_path / "audit.jsonl"))
    await until(lambda: app.reload_successful)
    assert "account/service/port" in app.plan.probes


async def test_a_file_written_back_as_it_was_is_not_reloaded(
    volume: tuple[ConfigMap, App], tmp_path: Path
) -> None:
    configmap, app = volume
    plan = app.plan
    configmap.update(CONFIG.format(more="", audit=tmp_path / "audit.jsonl"))  # same bytes
    await asyncio.sleep(6 * INTERVAL)
    assert app.plan is plan and app.reload_successful


async def test_a_broken_file_already_reloaded_by_sighup_is_not_reloaded_again(
    volume: tuple[ConfigMap, App], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator who writes the file and sends SIGHUP hears of a broken file once: the
    watch sees the change after the signal's reload has read it."""
    configmap, app = volume
    text = CONFIG.format(more=MORE, audit=tmp_path / "audit.jsonl")
    configmap.update(text.replace("scope: internal", "scope: intern"))
    outcome = await app.reload()  # SIGHUP, before the watch's next look
    assert not outcome.ok
    await asyncio.sleep(6 * INTERVAL)
    assert caplog.text.count("reload failed, keeping the running config") == 1


async def test_a_plain_file_edited_in_place_is_reloaded_once_it_holds_still(
    tmp_path: Path,
) -> None:
    """Debounced: a change is acted on once the file has not changed for an interval."""
    path = tmp_path / "oversight.yaml"
    path.write_text("one")
    calls: list[str] = []

    async def changed() -> None:
        calls.append(path.read_text() if path.exists() else "gone")

    task = asyncio.create_task(watch(path, 0.2, changed))
    try:
        await asyncio.sleep(0.05)
        for part in ("t", "tw", "two"):  # written in steps, faster than the interval
            path.write_text(part)
            await asyncio.sleep(0.12)
        await until(lambda: bool(calls), timeout=2)
        await asyncio.sleep(0.5)
        assert calls == ["two"]
        path.unlink()  # gone: a change too (the reload says it cannot read it)
        await until(lambda: len(calls) == 2, timeout=2)
    finally:
        task.cancel()


def test_signature_follows_the_symlinks(tmp_path: Path) -> None:
    configmap = ConfigMap(tmp_path, "a: 1\n")
    before = signature(configmap.path)
    configmap.update("a: 1\n")
    assert signature(configmap.path) != before  # a new file behind the same path
    assert signature(tmp_path / "absent") is None


async def test_off_when_the_interval_is_zero(tmp_path: Path) -> None:
    (tmp_path / "volume").mkdir()
    configmap = ConfigMap(tmp_path / "volume", CONFIG.format(more="", audit=tmp_path / "a.jsonl"))
    app = App(configmap.path, listen="127.0.0.1:0")
    await app.start()
    try:
        plan = app.plan
        configmap.update(CONFIG.format(more=MORE, audit=tmp_path / "a.jsonl"))
        await asyncio.sleep(0.3)
        assert app.plan is plan
    finally:
        await app.stop()


@pytest.mark.parametrize(("given", "seconds"), [([], 1.0), (["0"], 0.0), (["250ms"], 0.25)])
def test_the_flag(given: list[str], seconds: float) -> None:
    flag = [f"--config.watch-interval={value}" for value in given]
    args = _parser().parse_args(["run", "-c", "x.yaml", *flag])
    assert args.config_watch_interval == seconds
