"""The audit trail as an output: which of the agent's changes are audit events, and when.

Config loads and reloads (with their digests), state transitions, compliance verdicts that
change, security events and certificates seen or changed on a target become hash-chained
records (agent/audit/log.py). Opening the log is done in the constructor, so that an
unwritable path stops the agent at start with ``AuditPathError``; afterwards a failing disk
costs no probe run: the events stay queued and the failures are counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from agent import __version__
from agent.audit.chain import Record
from agent.audit.log import AuditLog, AuditSnapshot
from agent.evaluation.compliance import Change
from agent.evaluation.state import Transition
from agent.outputs import BaseOutput, RunTrace
from agent.plan import Plan, ProbePlan
from agent.policies import SECURITY
from agent.probers import REGISTRY
from agent.results import Result
from agent.vocabulary import SSL_EARLIEST_CERT_EXPIRY, Detail

log = logging.getLogger("oversight.compliance")

FLUSH_INTERVAL = 1.0  # seconds between audit flushes (each a write, flush and fsync)


class AuditTrail(BaseOutput):
    """Owned by the App, built only when the config has an ``audit:`` block."""

    name = "audit"

    def __init__(
        self,
        plan: Plan,
        scrub: Callable[[str], str],
        written: Callable[[list[Record]], object] | None = None,
    ) -> None:
        assert plan.audit is not None
        self._plan = plan
        self.settings = plan.audit
        self.log = AuditLog(
            plan.audit.path,
            max_bytes=int(plan.audit.max_bytes),
            keep=plan.audit.keep,
            scrub=scrub,
            written=written,
        )
        self.log.open()  # AuditPathError: said at start, before any probe runs
        self._certs: dict[tuple[str, str], str] = {}  # (integration, endpoint) -> fingerprint
        self._stopping = asyncio.Event()
        self._stopped = False
        self._task: asyncio.Task[None] | None = None
        self._started = time.time()

    @property
    def stats(self) -> AuditSnapshot:
        """The audit log's counters now, for the views."""
        stats = self.log.stats
        return AuditSnapshot(
            MappingProxyType(dict(stats.events)),
            stats.write_failures,
            self.log.pending,
            stats.last_success,
            self.log.failing_since,
            self.log.error,
        )

    def problem(self) -> str | None:
        """Why the trail is not being written, for readiness; None while it is."""
        since = self.log.failing_since
        if since is None:
            return None
        return (
            f"audit trail not written for {time.time() - since:.0f}s ({self.log.error}); "
            f"{self.log.pending} events wait and are written when it can be"
        )

    def emit(self, type: str, subject: str, **details: Any) -> None:
        """Queue an audit event; after ``agent_stopped`` nothing more is written."""
        if not self._stopped:
            self.log.emit(type, subject, **details)

    def start(self) -> None:
        plan = self._plan
        self.emit("agent_started", "agent", version=__version__, pid=os.getpid())
        self.emit(
            "config_loaded",
            Path(plan.source).name,
            digest=plan.digest,
            patterns=sorted(plan.pattern_owners),
            integrations=sorted(plan.integrations),
            probes=len(plan.probes),
        )
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
        await self.log.flush()
        if self.log.pending:
            log.error("audit log: %d events could not be written before stopping", self.log.pending)

    def on_result(self, probe: ProbePlan, result: Result, trace: RunTrace) -> None:
        """Certificates seen for the first time since start, or changed."""
        self._observe(probe, result)

    def _observe(self, probe: ProbePlan, result: Result) -> None:
        fingerprint = result.info_value(Detail.SSL_LEAF_FINGERPRINT)
        if fingerprint:
            where = (f"{probe.pattern}/{probe.integration}", endpoint(probe))
            previous = self._certs.get(where)
            self._certs[where] = fingerprint
            if previous != fingerprint:
                self._certificate(probe, result, where, previous)

    def on_changes(self, transitions: Sequence[Transition], changes: Sequence[Change]) -> None:
        for t in transitions:
            self.emit(
                "state_changed",
                t.integration,
                old=t.old.value,
                new=t.new.value,
                reason=t.reason,
                root_cause=t.root_cause,
            )
        self._audit_changes(changes)

    def on_reload(self, old: Plan, new: Plan) -> None:
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
            Path(new.source).name,
            digest=new.digest,
            previous_digest=old.digest,
            added=added,
            removed=removed,
            changed=changed,
        )

    def on_reload_failed(self, source: str, problems: int) -> None:
        self.emit("config_reload_failed", Path(source).name, problems=problems)

    # -- internals -------------------------------------------------------------------------

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), FLUSH_INTERVAL)
            await self.log.flush()

    def _audit_changes(self, changes: Sequence[Change]) -> None:
        for change in changes:
            check = change.check
            details = {
                "policy": check.policy,
                "old": change.old.value if change.old else None,
                "new": check.status.value,
                "reason": check.reason,
                "evidence": check.evidence,
                "probes": list(check.probes),
            }
            if change.old is not None or check.status.value == "fail":
                self.emit("compliance_changed", check.key, **details)
            kind = SECURITY.get(check.policy)
            if kind and check.status.value == "fail":
                self.emit("security_event", check.key, kind=kind, **details)
                log.warning("security event %s on %s: %s", kind, check.key, check.reason)

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
