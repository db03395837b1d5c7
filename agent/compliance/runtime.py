"""The App's compliance and audit side: the evaluator, the audit log, and the events between.

The App calls in at a handful of points (start, each result, state transitions, reload,
stop); everything else — which changes are audit events, certificate tracking, the flush
loop — lives here. Without an ``audit:`` block there is no log and the events are dropped,
while compliance is still evaluated. Opening the log is done in the constructor so that an
unwritable path stops the agent at start with ``AuditPathError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from agent import __version__
from agent.audit import AuditLog
from agent.compliance import catalog
from agent.compliance.evaluate import Change, ComplianceEvaluator, ComplianceView
from agent.compliance.sensitive import mask_cards
from agent.probers import REGISTRY
from agent.vocabulary import SSL_EARLIEST_CERT_EXPIRY, Detail

if TYPE_CHECKING:
    from agent.evaluation.state import Transition
    from agent.plan import Plan, ProbePlan
    from agent.results import Result

log = logging.getLogger("oversight.compliance")

FLUSH_INTERVAL = 1.0  # seconds between audit flushes (each a write, flush and fsync)
SWEEP_EVERY = 10  # flushes between re-judging the rolling windows


@dataclass(frozen=True, slots=True)
class AuditSnapshot:
    events: Mapping[str, int]  # by type, since start
    write_failures: int
    pending: int  # queued, not yet written
    last_success: float  # unix seconds of the last good write, 0 before the first


class ComplianceRuntime:
    def __init__(
        self, plan: Plan, latest: Mapping[str, Result], scrub: Callable[[str], str]
    ) -> None:
        self.evaluator = ComplianceEvaluator(plan, latest, time.time())
        self._plan = plan
        self.audit: AuditLog | None = None
        if plan.audit is not None:
            self.audit = AuditLog(
                plan.audit.path,
                max_bytes=int(plan.audit.max_bytes),
                keep=plan.audit.keep,
                scrub=scrub,
            )
            self.audit.open()  # AuditPathError: said at start, before any probe runs
        self._certs: dict[tuple[str, str], str] = {}  # (integration, endpoint) -> fingerprint
        self._stopping = asyncio.Event()
        self._stopped = False
        self._task: asyncio.Task[None] | None = None
        self._started = time.time()

    @property
    def audit_stats(self) -> AuditSnapshot | None:
        """The audit log's counters now, for the views; None without an audit log."""
        if self.audit is None:
            return None
        stats = self.audit.stats
        return AuditSnapshot(
            MappingProxyType(dict(stats.events)),
            stats.write_failures,
            self.audit.pending,
            stats.last_success,
        )

    def view(self) -> ComplianceView:
        return self.evaluator.view()

    def emit(self, type: str, subject: str, **details: Any) -> None:
        """Queue an audit event; after ``agent_stopped`` nothing more is written."""
        if self.audit is not None and not self._stopped:
            self.audit.emit(type, subject, **details)

    def start(self, config_path: str) -> None:
        plan = self._plan
        self.emit("agent_started", "agent", version=__version__, pid=os.getpid())
        self.emit(
            "config_loaded",
            config_path,
            digest=plan.digest,
            patterns=sorted(plan.pattern_owners),
            integrations=sorted(plan.integrations),
            probes=len(plan.probes),
        )
        self._audit_changes(self.evaluator.sweep(time.time()))
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Flush, record ``agent_stopped`` last, flush again; a second call does nothing."""
        if self._stopped:
            return
        self._stopping.set()
        if self._task is not None:
            await self._task  # its last turn flushes: never cut a write short
            self._task = None
        self.emit("agent_stopped", "agent", uptime_seconds=round(time.time() - self._started))
        self._stopped = True
        if self.audit is None:
            return
        await self.audit.flush()
        if self.audit.pending:
            log.error(
                "audit log: %d events could not be written before stopping", self.audit.pending
            )

    def observe(self, probe: ProbePlan, result: Result) -> None:
        """After each stored result: compliance changes and certificate changes. Never raises:
        a bug here is logged and must not cost the App the rest of its bookkeeping."""
        try:
            self._observe(probe, result)
        except Exception:
            log.exception("compliance: evaluating the result of %s failed", probe.id)

    def _observe(self, probe: ProbePlan, result: Result) -> None:
        self._audit_changes(self.evaluator.observe(result, time.time()))
        fingerprint = result.info_value(Detail.SSL_LEAF_FINGERPRINT)
        if fingerprint:
            where = (f"{probe.pattern}/{probe.integration}", endpoint(probe))
            previous = self._certs.get(where)
            self._certs[where] = fingerprint
            if previous != fingerprint:
                self._certificate(probe, result, where, previous)

    def transitions(self, transitions: Iterable[Transition]) -> None:
        for t in transitions:
            self.emit(
                "state_changed",
                t.integration,
                old=t.old.value,
                new=t.new.value,
                reason=mask_cards(t.reason),
                root_cause=t.root_cause,
            )

    def reload(self, old: Plan, new: Plan) -> None:
        self._plan = new
        self._certs = {k: v for k, v in self._certs.items() if k[0] in new.integrations}
        added = sorted(set(new.integrations) - set(old.integrations))
        removed = sorted(set(old.integrations) - set(new.integrations))
        changed = sorted(
            k
            for k in set(new.integrations) & set(old.integrations)
            if _fingerprint(old, k) != _fingerprint(new, k)
        )
        self.emit(
            "config_reloaded",
            new.source,
            digest=new.digest,
            previous_digest=old.digest,
            added=added,
            removed=removed,
            changed=changed,
        )
        if new.audit != old.audit:
            log.warning("audit changed: takes effect after a restart")
        self._audit_changes(self.evaluator.set_plan(new, time.time()))

    def reload_failed(self, source: str, problems: int) -> None:
        self.emit("config_reload_failed", source, problems=problems)

    # -- internals -------------------------------------------------------------------------

    async def _loop(self) -> None:
        turn = 0
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), FLUSH_INTERVAL)
            turn += 1
            if turn % SWEEP_EVERY == 0:
                self._audit_changes(self.evaluator.sweep(time.time()))
            if self.audit is not None:
                await self.audit.flush()

    def _audit_changes(self, changes: list[Change]) -> None:
        for change in changes:
            check = change.check
            details = {
                "policy": check.policy,
                "old": change.old.value if change.old else None,
                "new": check.status.value,
                "reason": mask_cards(check.reason),
                "evidence": mask_cards(check.evidence),
                "probes": list(check.probes),
            }
            if change.old is not None or check.status.value == "fail":
                self.emit("compliance_changed", check.key, **details)
            kind = catalog.SECURITY.get(check.policy)
            if kind and check.status.value == "fail":
                self.emit("security_event", check.key, kind=kind, **details)
                log.warning(
                    "security event %s on %s: %s", kind, check.key, mask_cards(check.reason)
                )

    def _certificate(
        self, probe: ProbePlan, result: Result, where: tuple[str, str], previous: str | None
    ) -> None:
        """Once per endpoint: first seen since start, then each time it changes."""
        info = dict(result.info)
        expiry = result.value(SSL_EARLIEST_CERT_EXPIRY)
        self.emit(
            "certificate_changed" if previous else "certificate_seen",
            where[0],
            endpoint=where[1],
            probe=probe.name,
            fingerprint_sha256=info.get(Detail.SSL_LEAF_FINGERPRINT),
            previous_fingerprint_sha256=previous,
            certificate_subject=info.get(Detail.SSL_LEAF_SUBJECT),
            issuer=info.get(Detail.SSL_LEAF_ISSUER),
            serial=info.get(Detail.SSL_LEAF_SERIAL),
            expires=(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expiry)) if expiry else None),
        )


def endpoint(probe: ProbePlan) -> str:
    """``host:port`` the probe talks to, else its target."""
    where = REGISTRY[probe.kind].endpoint(probe.settings)
    if where is None:
        return probe.target
    return f"{where.host}:{where.port}" if where.port else where.host


def _fingerprint(plan: Plan, key: str) -> tuple[Any, ...]:
    """What makes an integration 'changed' on reload: its settings and its probes' configs."""
    integration = plan.integrations[key]
    probes = tuple(plan.probes[p].digest for p in integration.probes)
    return (integration, probes, plan.compliance.integrations.get(key))
