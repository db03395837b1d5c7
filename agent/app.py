"""The App wires config, plan, store, scheduler and listener together; tests build their own."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from agent.compliance.runtime import ComplianceRuntime
from agent.config import ConfigError, load_config
from agent.evaluation.state import StateTracker, Transition
from agent.plan import Plan, build_plan
from agent.probers.shared import Shared
from agent.redact import Redactor
from agent.scheduler import Scheduler, SyncReport
from agent.snapshot import AgentHealth, Snapshot
from agent.store import ResultStore
from exporters.otel import Telemetry

log = logging.getLogger("oversight.agent")

SWEEP_INTERVAL = 5.0  # seconds between staleness sweeps


def load_plan(path: str | Path) -> Plan:
    """Load, validate and compile a config file; raises ConfigError listing every problem."""
    return build_plan(load_config(path))


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    ok: bool
    errors: tuple[str, ...] = ()
    report: SyncReport | None = None


class App:
    """One running agent. Nothing here is global: two Apps in one process do not meet."""

    def __init__(
        self,
        config_path: str | Path,
        *,
        listen: str | None = None,
        environ: Mapping[str, str] | None = None,
        tune_gc: bool = False,
    ) -> None:
        self.tune_gc = tune_gc  # process-wide, so only the CLI's one App asks for it
        self.config_path = Path(config_path)
        self.listen_override = listen
        self.plan: Plan = load_plan(self.config_path)  # a bad config fails here, at start
        self.redactor = Redactor(self.plan.secrets)
        self.store = ResultStore()
        self.tracker = StateTracker(self.plan, self.store.latest, time.time())
        # compliance evaluation and the audit log; an unwritable audit path fails here
        self.compliance = ComplianceRuntime(
            self.plan, self.store.latest, lambda text: self.redactor.scrub(text)
        )
        self.shared = Shared()
        self.scheduler = Scheduler(self.run_probe, self.plan.agent.concurrency)
        self.started = time.time()
        self.reload_successful = True
        self.last_reload_success = time.time()
        self._first_round = set(self.plan.probes)
        self._reload_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._on_stop: list[Callable[[], object]] = []
        # more to re-read on every reload (the listener's web config); each returns problems
        self.reload_hooks: list[Callable[[], Sequence[str]]] = []
        self.telemetry = Telemetry(
            lambda: self.plan,
            self.snapshot,
            lambda text: self.redactor.scrub(text),
            os.environ if environ is None else environ,
        )

    @property
    def listen(self) -> str:
        return self.listen_override or self.plan.agent.listen

    @property
    def ready(self) -> tuple[bool, str]:
        if not self.scheduler.running:
            return False, "scheduler not running"
        if self._first_round:
            return False, f"first round: {len(self._first_round)} probes have not run yet"
        return True, "ready"

    async def start(self) -> None:
        self.telemetry.start()
        self.compliance.start(str(self.config_path))
        self.scheduler.start(self.plan.probes)
        sweeper = asyncio.create_task(self._sweep_forever())
        self._on_stop.append(sweeper.cancel)
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
            self._on_stop.append(lambda: loop.remove_signal_handler(signal.SIGHUP))
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
            pass
        if self.tune_gc:
            _freeze_long_lived()
        log.info(
            "started with %d probes of %d integrations from %s",
            len(self.plan.probes),
            len(self.plan.integrations),
            self.config_path,
        )

    async def stop(self) -> None:
        self.scheduler.shutdown()
        for callback in self._on_stop:
            callback()
        await self.shared.close()
        await self.telemetry.stop()
        await self.compliance.stop()  # the audit log's last flush
        self._stopping.set()

    async def run_probe(self, probe_id: str) -> None:
        probe = self.plan.probes.get(probe_id)
        if probe is None:  # removed by a reload while this run waited for a slot
            return
        adapter = logging.LoggerAdapter(log, {"probe": probe_id})
        run = self.telemetry.start_run(probe)  # a span around the run; no-op when OTLP is off
        result = await probe.run(
            self.shared, log=adapter, trace_headers=run.headers, trace_id=run.trace_id
        )
        result = run.finish(result)  # ends the span; the trace id stays only if it is exported
        if self.plan.probes.get(probe_id) is not probe:
            return  # the probe changed while it ran: its result describes the old config
        self.store.record(result)
        self.compliance.observe(probe, result)
        self.telemetry.record(probe, result, run)
        self._log_transitions(self.tracker.observe(result, time.time()))
        self._first_round.discard(probe_id)
        if not result.success:
            log.debug(
                "%s failed: %s %s", probe_id, result.reason, self.redactor.scrub(result.message)
            )

    def _log_transitions(self, transitions: list[Transition]) -> None:
        self.compliance.transitions(transitions)
        for t in transitions:
            log.info(
                "%s: %s -> %s%s",
                t.integration,
                t.old,
                t.new,
                f" ({self.redactor.scrub(t.reason)})" if t.reason else "",
            )

    async def _sweep_forever(self) -> None:
        """Turn integrations whose results stopped arriving into ``unknown``."""
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            self._log_transitions(self.tracker.sweep(time.time()))

    async def reload(self) -> ReloadOutcome:
        """Reload the config, then what the hooks re-read; a part that is broken keeps its
        running self, and any problem fails the reload."""
        outcome = await self._reload_plan()
        problems = tuple(problem for hook in self.reload_hooks for problem in hook())
        if not problems:
            return outcome
        self.reload_successful = False
        return ReloadOutcome(False, outcome.errors + problems, outcome.report)

    async def _reload_plan(self) -> ReloadOutcome:
        """Build the whole new plan, then swap; a broken config keeps the running plan."""
        async with self._reload_lock:
            try:
                new = load_plan(self.config_path)
            except ConfigError as error:
                self.reload_successful = False
                for problem in error.problems:
                    log.error("reload failed, keeping the running config: %s", problem)
                self.compliance.reload_failed(str(self.config_path), len(error.problems))
                return ReloadOutcome(False, tuple(str(p) for p in error.problems))
            old, self.plan = self.plan, new
            report = self.scheduler.sync(old.probes, new.probes)
            for probe_id in report.removed + report.changed:
                self.store.forget(probe_id)
                self.tracker.forget_probe(probe_id)
                self._first_round.discard(probe_id)
            self.compliance.reload(old, new)
            self._log_transitions(self.tracker.set_plan(new, time.time()))
            self.redactor = Redactor(new.secrets)
            if self.tune_gc:
                gc.unfreeze()  # let the old plan go
                _freeze_long_lived()
            if new.agent.listen != old.agent.listen and self.listen_override is None:
                log.warning(
                    "agent.listen changed to %s: takes effect after a restart", new.agent.listen
                )
            if new.agent.concurrency != old.agent.concurrency:
                log.warning("agent.concurrency changed: takes effect after a restart")
            if new.exporters.otlp != old.exporters.otlp:
                log.warning("exporters.otlp changed: takes effect after a restart")
            self.reload_successful = True
            self.last_reload_success = time.time()
            log.info(
                "reloaded %s: %d added, %d removed, %d changed, %d kept",
                self.config_path,
                len(report.added),
                len(report.removed),
                len(report.changed),
                report.kept,
            )
            return ReloadOutcome(True, report=report)

    def snapshot(self) -> Snapshot:
        now = time.time()
        ready, reason = self.ready
        return Snapshot(
            plan=self.plan,
            latest=self.store.latest,
            totals=self.store.totals,
            states=MappingProxyType(self.tracker.statuses()),
            agent=AgentHealth(
                started=self.started,
                ready=ready,
                ready_reason=reason,
                reload_successful=self.reload_successful,
                last_reload_success=self.last_reload_success,
                scheduler=self.scheduler.stats,
                export_failures=MappingProxyType(self.telemetry.failure_counts()),
            ),
            taken=now,
            compliance=self.compliance.view(),
            audit=self.compliance.audit_stats,
        )


def _freeze_long_lived() -> None:
    """Keep the plan and the other long-lived objects out of every collection.

    With 10,000 integrations the default thresholds (700, 10, 10) ran a full collection about
    once a second over half a million live objects: 30 of 80 CPU seconds in the benchmark,
    pauses up to 0.8 s. Frozen, and with the young generation collected less often, the
    agent held 1,000 probes a second where it had fallen behind (bench/RESULTS.md).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 50, 1000)
