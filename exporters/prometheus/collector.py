"""The Prometheus view: every family built from the snapshot at scrape time, into a ``Sink``.

Two sinks exist: prometheus_client's families (``collect``, for a registry and for the OTLP
mirror) and the text renderer /metrics uses (exporters/prometheus/exposition.py). Both take
the same ``add`` calls, so a family added here shows in both.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Any, Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.samples import Exemplar

from agent import __version__
from agent import vocabulary as n
from agent.evaluation.state import State
from agent.probers import REGISTRY
from agent.results import Compliance
from agent.snapshot import Snapshot
from agent.vocabulary import DURATION_BUCKETS, LAG_BUCKETS, Family

Bucket = tuple[str, float] | tuple[str, float, Exemplar]  # le, cumulative count[, exemplar]


class Sink(Protocol):
    """Where the collector puts each sample: ``labels`` are the family's label values in order
    (without the constant labels); a histogram's ``value`` is its sum."""

    def add(
        self,
        family: Family,
        labels: tuple[str, ...],
        value: float,
        buckets: Sequence[Bucket] | None = None,
    ) -> None: ...


_KINDS = {
    "gauge": GaugeMetricFamily,
    "counter": CounterMetricFamily,
    "histogram": HistogramMetricFamily,
}


class _Families:
    """Families of one scrape, created on first use so an unused family is not rendered empty."""

    def __init__(self, const_names: Sequence[str], const_values: Sequence[str]) -> None:
        self._const_names = tuple(const_names)
        self._const_values = tuple(const_values)
        self._families: dict[str, Any] = {}

    def add(
        self,
        family: Family,
        labels: tuple[str, ...],
        value: float,
        buckets: Sequence[Bucket] | None = None,
    ) -> None:
        metric = self._families.get(family.name)
        if metric is None:
            metric = self._families[family.name] = _KINDS[family.type](
                family.name, family.help, labels=family.labels + self._const_names
            )
        values = (*labels, *self._const_values)
        if family.type == "histogram":
            metric.add_metric(values, buckets, value)
        else:
            metric.add_metric(values, value)

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._families.values())


def _cumulative(bounds: Sequence[float], counts: Sequence[int]) -> list[Bucket]:
    total, out = 0, list[Bucket]()
    for bound, count in zip((*bounds, float("inf")), counts, strict=True):
        total += count
        out.append(("+Inf" if bound == float("inf") else repr(bound), float(total)))
    return out


def _parts(snap: Snapshot, field: str, size: int) -> Iterator[Snapshot]:
    """``snap`` with its plan's ``probes`` or ``integrations`` cut into pieces of ``size``."""
    items: Mapping[str, Any] = getattr(snap.plan, field)
    if len(items) <= size:
        yield snap
        return
    keys = list(items)
    for start in range(0, len(keys), size):
        piece = MappingProxyType({key: items[key] for key in keys[start : start + size]})
        if field == "probes":
            yield replace(snap, plan=replace(snap.plan, probes=piece))
        else:
            yield replace(snap, plan=replace(snap.plan, integrations=piece))


class SnapshotCollector:
    """A prometheus_client collector over ``snapshot()``; register it on a fresh registry."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def describe(self) -> list[Metric]:
        return []  # built at scrape time; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot()
        const = snap.plan.const_labels
        out = _Families([k for k, _ in const], [v for _, v in const])
        self.fill(snap, out)
        yield from out

    def fill(self, snap: Snapshot, out: Sink) -> None:
        """Add every family of ``snap`` to ``out``."""
        for _ in self.steps(snap, out):
            pass

    def steps(self, snap: Snapshot, out: Sink, size: int = 256) -> Iterator[None]:
        """``fill`` in steps of ``size`` probes or integrations, yielding between them, so that
        /metrics of 10,000 integrations lets probes run while it renders. A new family goes in
        here, once."""
        for part in _parts(snap, "probes", size):
            self._probes(part, out)
            yield
        for part in _parts(snap, "integrations", size):
            self._integrations(part, out)
            yield
        self._agent(snap, out)
        yield from self._compliance(snap, out, size)

    def _probes(self, snap: Snapshot, out: Sink) -> None:
        for probe in snap.plan.probes.values():
            labels = probe.labels
            out.add(n.PROBE_INFO, (*labels, probe.kind, probe.target), 1)
            out.add(n.PROBE_INTERVAL, labels, probe.interval)
            for rule in probe.thresholds:
                for severity, level in (("warning", rule.warning), ("critical", rule.critical)):
                    if level is not None:
                        out.add(n.PROBE_THRESHOLD, (*labels, rule.signal.name, severity), level)
            totals = snap.totals.get(probe.id)
            if totals is not None:
                out.add(n.PROBE_RUNS, (*labels, "success"), totals.successes)
                out.add(n.PROBE_RUNS, (*labels, "failure"), totals.runs - totals.successes)
                for reason, count in totals.failures.items():
                    out.add(n.PROBE_FAILURES, (*labels, reason.value), count)
                buckets = _cumulative(DURATION_BUCKETS, totals.bucket_counts)
                if totals.exemplar is not None:
                    trace_id, value, at = totals.exemplar
                    index = next(
                        i
                        for i, bucket in enumerate(buckets)
                        if bucket[0] == "+Inf" or value <= float(bucket[0])
                    )
                    le, cumulative = buckets[index][:2]
                    buckets[index] = (le, cumulative, Exemplar({"trace_id": trace_id}, value, at))
                out.add(n.PROBE_DURATION_HISTOGRAM, labels, totals.duration_sum, buckets=buckets)
                for step, count in totals.step_failures.items():
                    out.add(n.FLOW_STEP_FAILURES, (*labels, step), count)
            result = snap.latest.get(probe.id)
            if result is None:
                continue
            out.add(n.PROBE_SUCCESS, labels, 1.0 if result.success else 0.0)
            out.add(n.PROBE_DURATION, labels, result.duration)
            out.add(n.PROBE_LAST_RUN, labels, result.started)
            phases = REGISTRY[probe.kind].phase_family
            for phase, seconds in result.phases:
                if phase == "resolve":
                    out.add(n.PROBE_DNS_LOOKUP, labels, seconds)
                out.add(phases, (*labels, phase), seconds)
            for family, value in result.values:
                out.add(family, labels, value)
            for item in result.series:  # families with labels of their own (a flow's steps)
                out.add(item.family, (*labels, *item.labels), item.value)
            if probe.retries:
                out.add(n.PROBE_ATTEMPTS, labels, result.attempts)
            for capacity in result.capacity:  # capacity: self-contained, may move as a block
                unit_labels = (*labels, capacity.resource, capacity.unit)
                if capacity.used is not None:
                    out.add(n.CAPACITY_USED, unit_labels, capacity.used)
                if capacity.limit is not None:
                    out.add(n.CAPACITY_LIMIT, unit_labels, capacity.limit)
                if (ratio := capacity.utilisation) is not None:
                    out.add(n.CAPACITY_UTILISATION, (*labels, capacity.resource), ratio)
            if result.info:
                info = dict(result.info)
                for family in n.INFO_FAMILIES:
                    if family.details[0] in info:
                        details = tuple(info.get(d, "") for d in family.details)
                        out.add(family, (*labels, *details), 1)

    def _integrations(self, snap: Snapshot, out: Sink) -> None:
        for key, integration in snap.plan.integrations.items():
            labels = (integration.pattern, integration.name, integration.scope)
            out.add(
                n.INTEGRATION_INFO,
                (*labels, integration.criticality, integration.owner, integration.runbook),
                1,
            )
            out.add(
                n.INTEGRATION_OBJECTIVE,
                (*labels, "availability"),
                integration.availability_objective,
            )
            for dependency in integration.depends_on:
                out.add(n.INTEGRATION_DEPENDS_ON, (*labels, dependency), 1)
            status = snap.states.get(key)
            current = status.state if status is not None else State.UNKNOWN
            for state in State:
                out.add(
                    n.INTEGRATION_STATE, (*labels, state.value), 1.0 if state is current else 0.0
                )
            if status is None:
                continue
            out.add(n.INTEGRATION_STATE_SINCE, labels, status.since)
            out.add(n.INTEGRATION_STATE_CHANGES, labels, status.changes)
            out.add(n.INTEGRATION_FLAPPING, labels, 1.0 if status.flapping else 0.0)
            if status.root_cause is not None:
                out.add(n.INTEGRATION_ROOT_CAUSE, (*labels, status.root_cause), 1)

    def _agent(self, snap: Snapshot, out: Sink) -> None:
        health = snap.agent
        out.add(n.BUILD_INFO, (__version__, platform.python_version()), 1)
        out.add(n.AGENT_READY, (), 1.0 if health.ready else 0.0)
        out.add(n.RELOAD_SUCCESSFUL, (), 1.0 if health.reload_successful else 0.0)
        out.add(n.RELOAD_SUCCESS_TIME, (), health.last_reload_success)
        stats = health.scheduler
        out.add(
            n.SCHEDULER_LAG, (), stats.lag_sum, buckets=_cumulative(LAG_BUCKETS, stats.lag_counts)
        )
        for reason, count in stats.skipped.items():
            out.add(n.SCHEDULER_SKIPPED, (reason,), count)
        out.add(n.PROBES_IN_FLIGHT, (), stats.in_flight)
        for (exporter, signal), count in sorted(health.export_failures.items()):
            out.add(n.EXPORT_FAILURES, (exporter, signal), count)
        kinds: dict[str, int] = {}
        for probe in snap.plan.probes.values():
            kinds[probe.kind] = kinds.get(probe.kind, 0) + 1
        for kind, count in sorted(kinds.items()):
            out.add(n.PROBES_CONFIGURED, (kind,), count)

    def _compliance(self, snap: Snapshot, out: Sink, size: int) -> Iterator[None]:
        view = snap.compliance
        if view is not None and view.enabled:
            for index, check in enumerate(view.checks, 1):
                if index % (size * 9) == 0:  # nine policies an integration
                    yield
                labels = (check.pattern, check.integration, check.scope, check.policy)
                for verdict in Compliance:
                    value = 1.0 if verdict is check.status else 0.0
                    out.add(n.COMPLIANCE_STATUS, (*labels, verdict.value), value)
            for pattern in snap.plan.pattern_owners:
                score = view.score(pattern)
                for status, count in (
                    ("pass", score.passed),
                    ("fail", score.failed),
                    ("not_applicable", score.not_applicable),
                ):
                    out.add(n.COMPLIANCE_CHECKS, (pattern, status), count)
                if score.ratio is not None:
                    out.add(n.COMPLIANCE_SCORE, (pattern,), score.ratio)
            overall = view.score().ratio
            if overall is not None:
                out.add(n.COMPLIANCE_OVERALL_SCORE, (), overall)
        audit = snap.audit
        if audit is not None:
            for kind, count in sorted(audit.events.items()):
                out.add(n.AUDIT_EVENTS, (kind,), count)
            out.add(n.AUDIT_WRITE_FAILURES, (), audit.write_failures)
            out.add(n.AUDIT_PENDING, (), audit.pending)
            out.add(n.AUDIT_LAST_WRITE, (), audit.last_success)
