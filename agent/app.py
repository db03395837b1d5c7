"""The App wires plan, store, scheduler, evaluators and outputs together; tests build their own.

The path of one result: the scheduler starts a run, the runner returns its Result, the store
keeps it, the state tracker and the compliance evaluator derive what changed, and every
output hears of the result and of the changes. Nothing here knows which outputs there are.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from agent.audit.chain import Record
from agent.audit.events import AuditTrail
from agent.config import ConfigError
from agent.config_watch import watch
from agent.evaluation.compliance import Change, ComplianceEvaluator
from agent.evaluation.state import StateTracker, Transition
from agent.logs import Repeats
from agent.loop_lag import LoopLagStats, measure_forever
from agent.outputs import NO_TRACE, Output, OutputSlot, RunTrace, each
from agent.plan import Plan, ProbePlan
from agent.planning import load_plan
from agent.probers.shared import Shared
from agent.redact import Redactor
from agent.runner import run_probe
from agent.scheduler import Scheduler, SyncReport
from agent.sharding import Shard
from agent.snapshot import AgentHealth, Snapshot
from agent.store import ResultStore
from exporters.otlp.output import OtlpOutput
from exporters.prometheus.output import PrometheusOutput

log = logging.getLogger("oversight.agent")

SWEEP_INTERVAL = 5.0  # seconds between staleness sweeps
COMPLIANCE_SWEEP_EVERY = 6  # staleness sweeps between re-judging the rolling windows: their
# buckets are a minute wide, so a verdict a result did not change can only move that often
REFREEZE_EVERY = 600.0  # seconds: a reload refreezes from scratch at most this often


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
        shard: Shard | None = None,
        watch_interval: float = 0.0,
        tune_gc: bool = False,
    ) -> None:
        self.tune_gc = tune_gc  # process-wide, so only the CLI's one App asks for it
        self.config_path = Path(config_path)
        self.listen_override = listen
        self.shard_override = shard  # --shard: wins over agent.shard and the environment
        self.watch_interval = watch_interval  # seconds between looks at the config file; 0: off
        env = dict(os.environ if environ is None else environ)
        self._env = env
        self.plan: Plan = self._load()  # a bad config fails here, at start
        self.redactor = Redactor(self.plan.secrets)
        self.store = ResultStore(self.plan.agent.history)
        now = time.time()
        self.tracker = StateTracker(self.plan, self.store.latest, now)
        self.compliance = ComplianceEvaluator(self.plan, self.store.latest, now)
        self.shared = Shared()
        self.scheduler = Scheduler(self._run, self.plan.agent.concurrency)
        self.started = time.time()
        self.loop_lag = LoopLagStats()
        self.reload_successful = True
        self.last_reload_success = time.time()
        self._first_round = set(self.plan.probes)
        self._tried: str | None = None  # the digest of the file the last reload read
        self._refrozen = time.monotonic()  # when the frozen objects were last all re-examined
        self._reload_lock = asyncio.Lock()
        self._next_reload: asyncio.Future[ReloadOutcome] | None = None
        self._on_stop: list[Callable[[], object]] = []
        # more to re-read on every reload (the listener's web config); each returns problems
        self.reload_hooks: list[Callable[[], Sequence[str]]] = []
        self._repeats = Repeats()  # an output failing on every result is said once
        self._flapping: set[str] = set()  # integrations whose changes are logged at debug
        self.metrics = PrometheusOutput(self.snapshot, self.store.totals)
        # The audit trail before OTLP: stopping, its last records reach OTLP before that stops.
        self._slots = [
            OutputSlot(lambda plan: None, lambda plan: self.metrics),
            OutputSlot(  # an unwritable audit path fails here, at start
                lambda plan: plan.audit,
                lambda plan: (
                    AuditTrail(plan, self.scrub, self._audit_written) if plan.audit else None
                ),
            ),
            OutputSlot(  # with an audit trail, OTLP ships its records as logs; a new agent
                # name is a new resource, which the output takes on in place (on_reload)
                lambda plan: (plan.exporters.otlp, plan.audit is not None),
                lambda plan: OtlpOutput(plan, self.snapshot, self.scrub, env),
            ),
        ]
        for slot in self._slots:
            slot.output = slot.build(self.plan)

    def _load(self) -> Plan:
        """The config file's plan, cut to this agent's shard; raises ConfigError."""
        self._tried = _digest(self.config_path)
        return load_plan(self.config_path, shard=self.shard_override, env=self._env)

    def _audit_written(self, records: list[Record]) -> None:
        """Records now on disk in the audit trail: every output hears of them."""
        each(self.outputs, lambda o: o.on_audit(records), "audit records", self._repeats)

    def scrub(self, text: str) -> str:
        """The current redactor's scrub: a reload brings new secrets."""
        return self.redactor.scrub(text)

    @property
    def outputs(self) -> Sequence[Output]:
        return [slot.output for slot in self._slots if slot.output is not None]

    @property
    def audit(self) -> AuditTrail | None:
        return next((o for o in self.outputs if isinstance(o, AuditTrail)), None)

    @property
    def listen(self) -> str:
        return self.listen_override or self.plan.agent.listen

    @property
    def ready(self) -> tuple[bool, str]:
        """The agent's own readiness: its schedule, its first round and its audit trail
        (a trail it cannot write is the agent's fault), never the integrations it watches."""
        if not self.scheduler.running:
            return False, "scheduler not running"
        if self._first_round:
            return False, f"first round: {len(self._first_round)} probes have not run yet"
        audit = self.audit
        problem = audit.problem() if audit is not None else None
        if problem is not None:
            return False, problem
        return True, "ready"

    async def start(self) -> None:
        each(self.outputs, lambda o: o.start(), "start")
        self._changed([], self.compliance.sweep(time.time()))
        self.scheduler.start(self.plan.probes)
        tasks = [
            asyncio.create_task(self._sweep_forever()),
            asyncio.create_task(measure_forever(self.loop_lag)),
        ]
        if self.watch_interval > 0:
            tasks.append(
                asyncio.create_task(
                    watch(self.config_path, self.watch_interval, self._config_changed)
                )
            )
        for task in tasks:
            self._on_stop.append(task.cancel)
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
            self._on_stop.append(lambda: loop.remove_signal_handler(signal.SIGHUP))
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
            pass
        if self.tune_gc:
            _freeze_long_lived(whole=True)
        if self.plan.shard is not None and not self.plan.probes:
            log.warning("shard %s holds none of the config's probes", self.plan.shard)
        log.info(
            "started with %d probes of %d integrations from %s%s",
            len(self.plan.probes),
            len(self.plan.integrations),
            self.config_path,
            f" (shard {self.plan.shard})" if self.plan.shard else "",
        )

    async def stop(self) -> None:
        await self.scheduler.shutdown()
        for callback in self._on_stop:
            callback()
        await self.shared.close()
        for output in self.outputs:  # each flushes within its own deadline
            try:
                await output.stop()
            except Exception:
                log.exception("output %s failed to stop", output.name)

    async def _run(self, probe_id: str) -> None:
        probe = self.plan.probes.get(probe_id)
        if probe is None:  # removed by a reload while this run waited for a slot
            return
        adapter = logging.LoggerAdapter(log, {"probe": probe_id})
        trace = self._trace(probe)
        result = await run_probe(
            probe,
            self.shared,
            log=adapter,
            trace_headers=trace.headers,
            trace_id=trace.trace_id,
            tracer=trace.step,
            redactor=self.redactor,
        )
        result = trace.finish(result)  # the trace id stays only if the span is exported
        if self.plan.probes.get(probe_id) is not probe:
            return  # the probe changed while it ran: its result describes the old config
        self.store.record(result, probe.histogram)
        now = time.time()
        transitions = self.tracker.observe(result, now)
        changes = self.compliance.observe(result, now)
        each(self.outputs, lambda o: o.on_result(probe, result, trace), "a result", self._repeats)
        self._changed(transitions, changes)
        if self._first_round:
            self._first_round.discard(probe_id)
            if not self._first_round and self.tune_gc:
                _freeze_long_lived(whole=False)  # the store is full: its entries live as long
        if not result.success:
            log.debug("%s failed: %s %s", probe_id, result.reason, self.scrub(result.message))

    def _trace(self, probe: ProbePlan) -> RunTrace:
        for output in self.outputs:
            trace = output.start_run(probe)
            if trace is not None:
                return trace
        return NO_TRACE

    def _changed(self, transitions: list[Transition], changes: list[Change]) -> None:
        if not transitions and not changes:
            return
        each(self.outputs, lambda o: o.on_changes(transitions, changes), "changes", self._repeats)
        for t in transitions:
            self._log_transition(t)

    def _log_transition(self, t: Transition) -> None:
        """A change of state at info; while an integration flaps, once, then at debug until
        it settles (the audit trail and the metrics still have every change)."""
        flapping = self.tracker.status(t.integration).flapping  # set with the transition
        quiet = flapping and t.integration in self._flapping
        if flapping:
            self._flapping.add(t.integration)
        else:
            self._flapping.discard(t.integration)
        log.log(
            logging.DEBUG if quiet else logging.INFO,
            "%s: %s -> %s%s%s",
            t.integration,
            t.old,
            t.new,
            f" ({self.scrub(t.reason)})" if t.reason else "",
            "; it is flapping: its changes are logged at debug until it settles"
            if flapping and not quiet
            else "",
        )

    async def _sweep_forever(self) -> None:
        """Turn integrations whose results stopped arriving into ``unknown`` (only those: the
        tracker keeps their deadlines), and move the compliance windows on even when no result
        arrives, a few integrations at a time so that no step holds the loop."""
        turn = 0
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            turn += 1
            self._changed(self.tracker.sweep(time.time()), [])
            if turn % COMPLIANCE_SWEEP_EVERY == 0:
                for changes in self.compliance.sweep_steps(time.time()):
                    self._changed([], changes)
                    await asyncio.sleep(0)

    async def _config_changed(self) -> None:
        """The watched file changed: reload as SIGHUP does, unless it holds the running config
        again (touched, or written back as it was) and that one loaded fine, or the bytes the
        last reload read: a broken file written and then signalled is said once."""
        digest = _digest(self.config_path)
        if digest == self.plan.digest and self.reload_successful:
            return
        if digest is not None and digest == self._tried:
            return  # a reload (SIGHUP, POST) read these bytes after they changed
        log.info("%s changed: reloading", self.config_path.name)
        await self.reload()

    async def reload(self) -> ReloadOutcome:
        """Reload the config, then what the hooks re-read; a part that is broken keeps its
        running self, and any problem fails the reload.

        Requests that arrive while a reload runs share the next one, which reads the files
        after all of them: twenty SIGHUPs in a second cost two reloads, not twenty, and each
        caller still hears of a reload that saw the files as they were when it asked.
        """
        if self._next_reload is None:
            self._next_reload = asyncio.ensure_future(self._reload_after_current())
        return await asyncio.shield(self._next_reload)

    async def _reload_after_current(self) -> ReloadOutcome:
        async with self._reload_lock:  # the reload running now, if any, ends first
            self._next_reload = None  # from here on a request needs a reload after this one
            return await self._reload_once()

    async def _reload_once(self) -> ReloadOutcome:
        outcome = await self._reload_plan()
        problems = tuple(problem for hook in self.reload_hooks for problem in hook())
        if not problems:
            return outcome
        self.reload_successful = False
        return ReloadOutcome(False, outcome.errors + problems, outcome.report)

    async def _reload_plan(self) -> ReloadOutcome:
        """Build the whole new plan, then swap; a broken config keeps the running plan.

        The file is read and the plan built in a worker thread: for thousands of
        integrations that takes a good part of a second, which the event loop (probe runs,
        /healthz) must not wait out in one piece."""
        try:
            new = await asyncio.to_thread(self._load)
        except ConfigError as error:
            self.reload_successful = False
            for problem in error.problems:
                log.error("reload failed, keeping the running config: %s", problem)
            source, count = str(self.config_path), len(error.problems)
            each(self.outputs, lambda o: o.on_reload_failed(source, count), "a reload")
            return ReloadOutcome(False, tuple(str(p) for p in error.problems))
        old, self.plan = self.plan, new
        self.redactor = Redactor(new.secrets)
        report = self.scheduler.sync(old.probes, new.probes)
        self.store.keep_runs(new.agent.history)
        for probe_id in report.removed + report.changed:
            self.store.forget(probe_id)
            self.tracker.forget_probe(probe_id)
            self._first_round.discard(probe_id)
        now = time.time()
        transitions = self.tracker.set_plan(new, now)
        changes = self.compliance.set_plan(new, now)
        await self._reload_outputs(old, new)
        self._changed(transitions, changes)
        if self.tune_gc:  # the old plan goes with its last reference
            whole = time.monotonic() - self._refrozen >= REFREEZE_EVERY
            if whole:
                self._refrozen = time.monotonic()
            _freeze_long_lived(whole)
        if new.agent.listen != old.agent.listen and self.listen_override is None:
            log.warning(
                "agent.listen changed to %s: takes effect after a restart", new.agent.listen
            )
        if new.shard != old.shard:
            log.info("now running shard %s (was %s)", new.shard or "all", old.shard or "all")
        if new.agent.concurrency != old.agent.concurrency:
            log.warning("agent.concurrency changed: takes effect after a restart")
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

    async def _reload_outputs(self, old: Plan, new: Plan) -> None:
        """An output whose config changed is built anew; the others adopt the new plan."""
        for slot in self._slots:
            if slot.config(new) == slot.config(old):
                if slot.output is not None:
                    each([slot.output], lambda o: o.on_reload(old, new), "a reload")
                continue
            if slot.output is not None:
                log.info("%s settings changed: restarting it", slot.output.name)
                await slot.output.stop()
            try:
                slot.output = slot.build(new)
            except Exception as error:  # e.g. an audit path that cannot be written
                log.error("cannot start an output with the new settings: %s", error)
                slot.output = None
                continue
            if slot.output is not None:
                each([slot.output], lambda o: o.start(), "start")

    def snapshot(self) -> Snapshot:
        now = time.time()
        ready, reason = self.ready
        failures: dict[tuple[str, str], int] = {}
        dropped: dict[tuple[str, str], int] = {}
        for output in self.outputs:
            failures.update(output.failures())
            dropped.update(output.dropped())
        audit = self.audit
        return Snapshot(
            plan=self.plan,
            latest=self.store.latest,
            totals=self.store.totals,
            states=self.tracker.statuses(),
            agent=AgentHealth(
                started=self.started,
                ready=ready,
                ready_reason=reason,
                reload_successful=self.reload_successful,
                last_reload_success=self.last_reload_success,
                scheduler=self.scheduler.stats,
                loop_lag=self.loop_lag,
                export_failures=MappingProxyType(failures),
                export_dropped=MappingProxyType(dropped),
            ),
            taken=now,
            compliance=self.compliance.view(),
            audit=audit.stats if audit is not None else None,
            runs=self.store.runs,
        )


def _digest(path: Path) -> str | None:
    """The file's digest as the plan records it; None when it is gone or unreadable."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _freeze_long_lived(whole: bool) -> None:
    """Keep the plan and the other long-lived objects out of every collection: at start, when
    the first round has filled the store and the views' caches, and after a reload.

    With tens of thousands of long-lived objects, the default thresholds ran a full
    collection about once a second over all of them, and a young collection after the first
    round walked every entry the round had made; frozen, they are walked by none, so even a
    full collection only sees what came since the last freeze: it runs every few hundred
    young ones and takes well under a millisecond (bench/ANALYSIS.md has the figures).

    Frozen objects are still freed when their last reference goes: a plan, a result, a status
    and a cached text hold no reference cycle (tests/agent/planning/test_cycles.py), so an
    old plan goes without a full collection. Otherwise only the young generations are collected
    before freezing: a full collection at 10,000 integrations holds the loop for a third of a
    second.

    What a freeze catches in flight is frozen too, and if it then ends in a reference cycle
    (an aiohttp parser error, a TLS failure, an exporter's retries) the collector can never
    free it: a few hundred objects per reload. ``whole`` unfreezes everything first and
    collects it all (80 ms at 1,000 integrations, 0.7 s at 10,000), so that a reload every
    minute cannot pile them up: at the start, and on a reload every ``REFREEZE_EVERY``
    seconds.
    """
    if whole:
        gc.unfreeze()
    gc.collect(2 if whole else 1)
    gc.freeze()
    gc.set_threshold(10_000, 50, 10)
