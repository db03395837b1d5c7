"""From results to compliance status: per (integration, policy), per pattern, overall.

The status of an (integration, policy) is read from the latest findings of its probes
(derived auth checks included): a fail anywhere wins, else a pass, else not applicable.
latency_sla and availability_slo are judged over a rolling window of the runs of the probes
that talk to the integration (not resource probes, not auth checks). A pattern's score is its
passed checks over its applicable (passed + failed) ones; the overall score likewise. The
evaluator keeps the last pass/fail verdict of each check so that the App can audit changes;
a run that cannot judge (not applicable) changes no verdict. A flow's steps that call another
integration are judged for that integration (``Finding.subject``): its checks read them
beside its own probes' findings.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass

from agent.evaluation.window import RollingWindow
from agent.plan import IntegrationCompliance, Plan
from agent.policies import REGISTRY as POLICIES
from agent.probers import REGISTRY as KINDS
from agent.results import Compliance, Finding, Result

PASS, FAIL, NA = Compliance.PASS, Compliance.FAIL, Compliance.NOT_APPLICABLE


@dataclass(frozen=True, slots=True)
class Check:
    pattern: str
    integration: str
    scope: str
    policy: str
    status: Compliance
    reason: str
    evidence: str = ""
    probes: tuple[str, ...] = ()  # the probes whose findings decided it

    @property
    def key(self) -> str:
        return f"{self.pattern}/{self.integration}"


@dataclass(frozen=True, slots=True)
class Change:
    """A check whose verdict changed: ``old`` None is its first verdict since start."""

    check: Check
    old: Compliance | None


@dataclass(frozen=True, slots=True)
class Score:
    passed: int = 0
    failed: int = 0
    not_applicable: int = 0

    @property
    def ratio(self) -> float | None:
        applicable = self.passed + self.failed
        return self.passed / applicable if applicable else None


def score_of(checks: Iterable[Check]) -> Score:
    counts = {PASS: 0, FAIL: 0, NA: 0}
    for check in checks:
        counts[check.status] += 1
    return Score(counts[PASS], counts[FAIL], counts[NA])


class ComplianceView:
    """Read-only, over the evaluator's live maps: taking one costs nothing whatever the number
    of integrations; read it synchronously. Scores come from counts kept as checks change."""

    __slots__ = ("_by_key", "_counts", "enabled", "window")

    def __init__(
        self,
        enabled: bool,
        window: float,
        by_key: Mapping[str, Mapping[str, Check]],
        counts: Mapping[str, Mapping[Compliance, int]],
    ) -> None:
        self.enabled, self.window = enabled, window
        self._by_key, self._counts = by_key, counts

    @property
    def checks(self) -> Iterator[Check]:
        """Every check, integration by integration, in plan order."""
        for checks in self._by_key.values():
            yield from checks.values()

    def of(self, key: str) -> Mapping[str, Check]:
        """One integration's checks by policy."""
        return self._by_key.get(key, {})

    def failing(self, key: str) -> tuple[str, ...]:
        """The policies the integration fails now."""
        return tuple(p for p, c in self.of(key).items() if c.status is FAIL)

    def score(self, pattern: str | None = None, integration: str | None = None) -> Score:
        if integration is not None:
            return score_of(self.of(f"{pattern}/{integration}").values())
        if pattern is not None:
            counts = self._counts.get(pattern, {})
            return Score(counts.get(PASS, 0), counts.get(FAIL, 0), counts.get(NA, 0))
        total = {PASS: 0, FAIL: 0, NA: 0}
        for counts in self._counts.values():
            for status, count in counts.items():
                total[status] += count
        return Score(total[PASS], total[FAIL], total[NA])


class ComplianceEvaluator:
    """Results in, statuses out; one per App (or per ``oversight report`` pass)."""

    def __init__(self, plan: Plan, latest: Mapping[str, Result], now: float) -> None:
        self._latest = latest
        self._windows: dict[str, RollingWindow] = {}
        self._checks: dict[str, dict[str, Check]] = {}  # integration -> policy -> check
        self._counts: dict[str, dict[Compliance, int]] = {}  # pattern -> status -> checks
        self._verdicts: dict[tuple[str, str], Compliance] = {}
        # (probe id, policy, subject) -> the last pass/fail finding and when: a run that could
        # not judge (the endpoint down, a flow stopped before the step) does not hide a
        # standing violation
        self._decided: dict[tuple[str, str, str | None], tuple[Finding, float]] = {}
        self._last_findings: dict[str, tuple[Finding, ...]] = {}
        self.plan = plan  # the first set_plan keeps nothing: there are no checks yet
        self._settings: Mapping[str, IntegrationCompliance] = {}
        self._probes: dict[str, list[str]] = {}
        self._callers: dict[str, list[str]] = {}
        self.set_plan(plan, now)

    def set_plan(self, plan: Plan, now: float) -> list[Change]:
        """Adopt a (re)loaded plan: windows stay unless their span or latency limit changed."""
        old_plan, old_settings = self.plan, self._settings
        old_probes, old_callers = self._probes, self._callers
        self.plan = plan
        self._settings = plan.compliance.integrations
        self._probes = {k: list(i.probes) for k, i in plan.integrations.items()}
        # integration -> the probes of other integrations whose steps call it (flows)
        self._callers = {k: [] for k in plan.integrations}
        for probe in plan.probes.values():
            if probe.derived_from is not None:
                self._probes[probe.integration_key].append(probe.id)
            for called in KINDS[probe.kind].calls(probe.settings):
                if called != probe.integration_key and called in self._callers:
                    self._callers[called].append(probe.id)
        windows = {}
        for key, settings in self._settings.items():
            old = self._windows.get(key)
            same = old is not None and (old.span, old.latency_limit) == (
                plan.compliance.window,
                settings.window_limit,
            )
            windows[key] = (
                old
                if same and old
                else RollingWindow(plan.compliance.window, settings.window_limit)
            )
        self._windows = windows
        self._windowed = frozenset(n for n, spec in POLICIES.items() if spec.window)
        self._window_probes = {
            key: tuple(
                plan.probes[p].name
                for p in integration.probes
                if KINDS[plan.probes[p].kind].availability
            )
            for key, integration in plan.integrations.items()
        }
        wanted = {(k, p) for k, s in self._settings.items() for p in s.policies}
        # An integration whose policies, probes and callers are as they were keeps its checks
        # (the windows' verdicts move on at the next sweep); the others are judged now.
        equal: dict[tuple[int, int], bool] = {}  # integrations share settings objects

        def alike(old: IntegrationCompliance | None, new: IntegrationCompliance) -> bool:
            pair = (id(old), id(new))
            if pair not in equal:
                equal[pair] = old == new
            return equal[pair]

        kept = {
            key
            for key, settings in self._settings.items()
            if key in self._checks
            and alike(old_settings.get(key), settings)
            and old_probes.get(key) == self._probes[key]
            and old_callers.get(key) == self._callers[key]
            and all(
                _same_probe(old_plan, plan, probe_id)
                for probe_id in (*self._probes[key], *self._callers[key])
            )
        }
        self._checks = {key: self._checks[key] if key in kept else {} for key in self._settings}
        self._counts = {pattern: {PASS: 0, FAIL: 0, NA: 0} for pattern in plan.pattern_owners}
        for key in kept:
            counts = self._counts[self.plan.integrations[key].pattern]
            for check in self._checks[key].values():
                counts[check.status] += 1
        self._verdicts = {k: v for k, v in self._verdicts.items() if k in wanted}
        self._decided = {k: v for k, v in self._decided.items() if k[0] in self._latest}
        self._last_findings = {}  # probe id -> its latest findings, to tell what moved
        return [c for key in self._settings if key not in kept for c in self._recompute(key, now)]

    def observe(self, result: Result, now: float) -> list[Change]:
        probe = self.plan.probes.get(result.probe_id)
        if probe is None:
            return []
        key = probe.integration_key
        about = {key, *KINDS[probe.kind].calls(probe.settings)}  # a flow's steps' integrations
        for finding in result.findings:
            if finding.status is not NA:
                decided = (finding, result.started)
                self._decided[(probe.id, finding.policy, finding.subject)] = decided
            if finding.subject is not None:
                about.add(finding.subject)
        window = self._windows.get(key)
        counted = probe.derived_from is None and KINDS[probe.kind].availability
        if window is not None and counted:
            window.add(result.started, result.success, result.duration)
        if about == {key}:  # the usual: the policies whose findings moved, and the windows
            previous = self._last_findings.get(probe.id)
            self._last_findings[probe.id] = result.findings
            judged: set[str] = set(self._windowed) if counted else set()
            if result.findings != previous:
                judged |= {f.policy for f in result.findings}
            return self._recompute(key, now, judged) if judged else []
        return [c for subject in sorted(about) for c in self._recompute(subject, now)]

    def sweep(self, now: float) -> list[Change]:
        """Re-judge everything (the windows move on even when no result arrives)."""
        return [change for changes in self.sweep_steps(now) for change in changes]

    def sweep_steps(self, now: float, size: int = 100) -> Iterator[list[Change]]:
        """``sweep`` a few integrations at a time, so the caller can yield to the loop between
        them; the plan may be swapped between steps (what it no longer has is skipped)."""
        keys = list(self._settings)
        for start in range(0, len(keys), size):
            yield [c for key in keys[start : start + size] for c in self._recompute(key, now)]

    def view(self) -> ComplianceView:
        compliance = self.plan.compliance
        return ComplianceView(compliance.enabled, compliance.window, self._checks, self._counts)

    # -- internals -------------------------------------------------------------------------

    def _recompute(
        self, key: str, now: float, policies: Collection[str] | None = None
    ) -> list[Change]:
        """Re-judge the integration's checks (only ``policies`` when given); a check that
        judges the same as before keeps its object, so views can tell it did not change."""
        settings = self._settings.get(key)
        if settings is None:
            return []
        integration = self.plan.integrations[key]
        current = self._checks[key]
        changes = []
        for policy, block in settings.blocks.items():
            if policies is not None and policy not in policies:
                continue
            judge = POLICIES[policy].judge
            if judge is not None:
                status, reason = judge(block, self._windows[key].totals(now), settings.objective)
                evidence, probes = "", self._window_probes.get(key, ())
            else:
                status, reason, evidence, probes = self._per_run(policy, key, settings)
            previous = current.get(policy)
            if previous is not None and (status, reason, evidence, probes) == (
                previous.status,
                previous.reason,
                previous.evidence,
                previous.probes,
            ):
                continue
            check = Check(
                integration.pattern,
                integration.name,
                integration.scope,
                policy,
                status,
                reason,
                evidence,
                probes,
            )
            current[policy] = check
            counts = self._counts[integration.pattern]
            if previous is not None:
                counts[previous.status] -= 1
            counts[status] += 1
            if status is not NA:
                old = self._verdicts.get((key, policy))
                if old is not status:
                    self._verdicts[(key, policy)] = status
                    changes.append(Change(check, old))
        return changes

    def _per_run(
        self, policy: str, key: str, settings: IntegrationCompliance
    ) -> tuple[Compliance, str, str, tuple[str, ...]]:
        seen: dict[Compliance, list[tuple[str, Finding]]] = {PASS: [], FAIL: [], NA: []}
        for probe_id in self._probes.get(key, ()):
            for finding in self._findings(probe_id, policy, None):
                seen[finding.status].append((self.plan.probes[probe_id].name, finding))
        for probe_id in self._callers.get(key, ()):
            for finding in self._findings(probe_id, policy, key):
                seen[finding.status].append((probe_id, finding))
        for status in (FAIL, PASS, NA):
            found = seen[status]
            if found:
                return status, _grouped(found), found[0][1].evidence, tuple(n for n, _ in found)
        return NA, settings.unattached.get(policy, "no result yet"), "", ()

    def _findings(self, probe_id: str, policy: str, subject: str | None) -> list[Finding]:
        """The probe's latest findings of ``policy`` about ``subject`` (None: its own
        integration); a run that could not tell, or (a flow) did not reach the step, gives
        the last verdict instead."""
        result = self._latest.get(probe_id)
        found = [
            f
            for f in (result.findings if result is not None else ())
            if f.policy == policy and f.subject == subject
        ]
        earlier = self._decided.get((probe_id, policy, subject))
        if earlier is None:
            return found
        if not found:  # a flow that stopped before the steps about ``subject``
            return [_as_of(*earlier)] if subject is not None else []
        return [_as_of(*earlier) if f.status is NA else f for f in found]


def _same_probe(old: Plan, new: Plan, probe_id: str) -> bool:
    before = old.probes.get(probe_id)
    return before is not None and before.digest == new.probes[probe_id].digest


def _as_of(finding: Finding, at: float) -> Finding:
    """An earlier verdict, said to be one: the latest run could not judge."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))
    reason = f"{finding.reason} (as of {when}; the latest run could not tell)"
    return Finding(finding.policy, finding.status, reason, finding.evidence)


def _grouped(found: list[tuple[str, Finding]]) -> str:
    """``health, cert: negotiated TLS 1.3``: probes that say the same thing, said once."""
    by_reason: dict[str, list[str]] = {}
    for name, finding in found:
        by_reason.setdefault(finding.reason, []).append(name)
    return "; ".join(f"{', '.join(names)}: {reason}" for reason, names in by_reason.items())
