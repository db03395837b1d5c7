"""The evaluator: findings of the latest runs -> status per (integration, policy), scores,
and the pass/fail changes the audit log records. Results are built here: no network."""

from __future__ import annotations

from agent.evaluation.compliance import ComplianceEvaluator
from agent.policies.latency_sla import percent
from agent.results import Compliance, Finding, Result
from tests.peers.partner import config, plan_of, status_of

PASS, FAIL, NA = Compliance.PASS, Compliance.FAIL, Compliance.NOT_APPLICABLE
TEXT = config(
    """      shop:
        scope: external
        slo: {availability: 90%}
        probes:
          a: {http: {url: "https://a.test/"}}
          b: {http: {url: "https://b.test/"}}
      other:
        scope: internal
        probes:
          c: {tcp: {address: "127.0.0.1:1"}}
""",
    top="compliance: {window: 10m, latency_sla: {max: 500ms, percentile: 80%, min_runs: 4}, "
    "availability_slo: {min_runs: 4}}\n",
)


def run(probe: str, at: float, *findings: Finding, ok: bool = True, took: float = 0.1) -> Result:
    return Result(f"p/{probe}", at, took, ok, findings=findings)


def headers(status: Compliance, reason: str) -> Finding:
    return Finding("security_headers", status, reason, "X-Content-Type-Options")


def test_fail_wins_and_probes_saying_the_same_are_grouped() -> None:
    plan = plan_of(TEXT)
    latest: dict[str, Result] = {}
    evaluator = ComplianceEvaluator(plan, latest, 0)
    for result in (
        run("shop/a", 1, headers(PASS, "sends X")),
        run("shop/b", 1, headers(FAIL, "missing X")),
    ):
        latest[result.probe_id] = result
        evaluator.observe(result, 2)
    view = evaluator.view()
    assert status_of(view, "p/shop", "security_headers") == ("fail", "b: missing X")
    latest["p/shop/b"] = run("shop/b", 3, headers(PASS, "sends X"))
    evaluator.observe(latest["p/shop/b"], 4)
    assert status_of(evaluator.view(), "p/shop", "security_headers") == ("pass", "a, b: sends X")


def test_changes_are_pass_fail_flips_and_a_first_verdict() -> None:
    plan = plan_of(TEXT)
    latest: dict[str, Result] = {}
    evaluator = ComplianceEvaluator(plan, latest, 0)
    seen = []
    for at, status in enumerate((FAIL, FAIL, NA, FAIL, PASS, NA, PASS, FAIL), 1):
        latest["p/shop/a"] = run("shop/a", at, headers(status, status.value))
        changes = evaluator.observe(latest["p/shop/a"], at)
        seen += [
            (c.old.value if c.old else None, c.check.status.value)
            for c in changes
            if c.check.policy == "security_headers"
        ]
    # a run that could not judge (n/a) keeps the verdict: no flapping in the audit log
    assert seen == [(None, "fail"), ("fail", "pass"), ("pass", "fail")]


def test_a_run_that_cannot_judge_does_not_hide_a_standing_violation() -> None:
    plan = plan_of(TEXT)
    latest: dict[str, Result] = {}
    evaluator = ComplianceEvaluator(plan, latest, 0)
    latest["p/shop/a"] = run("shop/a", 0, headers(FAIL, "missing X"))
    evaluator.observe(latest["p/shop/a"], 0)
    latest["p/shop/a"] = run("shop/a", 60, headers(NA, "no response headers"), ok=False)
    evaluator.observe(latest["p/shop/a"], 60)
    status, reason = status_of(evaluator.view(), "p/shop", "security_headers")
    assert status == "fail"
    assert reason == "a: missing X (as of 1970-01-01 00:00 UTC; the latest run could not tell)"


def test_not_applicable_says_why() -> None:
    evaluator = ComplianceEvaluator(plan_of(TEXT), {}, 0)
    view = evaluator.view()
    assert status_of(view, "p/shop", "security_headers") == ("not_applicable", "no result yet")
    assert status_of(view, "p/other", "auth_required") == (
        "not_applicable",
        "no protected endpoint configured (compliance.auth_required.probes)",
    )
    assert status_of(view, "p/other", "availability_slo") == (
        "not_applicable",
        "0 runs in the last 10m; judged from 4",
    )


def test_windows_judge_availability_and_latency() -> None:
    plan = plan_of(TEXT)
    evaluator = ComplianceEvaluator(plan, {}, 0)
    outcomes = [(True, 0.1)] * 7 + [(True, 0.9), (False, 2.0), (False, 2.0)]
    for index, (ok, took) in enumerate(outcomes):
        evaluator.observe(run("shop/a", 60 + index, ok=ok, took=took), 70)
    view = evaluator.view()
    assert status_of(view, "p/shop", "availability_slo") == (
        "fail",
        "80% of 10 runs succeeded in the last 10m (objective 90%)",
    )
    assert status_of(view, "p/shop", "latency_sla") == (
        "pass",
        "87.5% of 8 successful runs took at most 500ms in the last 10m (objective 80%)",
    )
    # ten minutes later the window has moved past them
    evaluator.sweep(60 + 660)
    assert status_of(evaluator.view(), "p/shop", "availability_slo")[0] == "not_applicable"


def test_scores_per_pattern_and_overall() -> None:
    plan = plan_of(TEXT)
    latest = {
        "p/shop/a": run("shop/a", 1, headers(PASS, "ok"), Finding("no_sensitive_data", FAIL, "x")),
        "p/other/c": run("other/c", 1, Finding("no_sensitive_data", PASS, "clean")),
    }
    evaluator = ComplianceEvaluator(plan, latest, 0)
    evaluator.sweep(1)
    view = evaluator.view()
    score = view.score("p")
    assert (score.passed, score.failed) == (2, 1)
    assert score.ratio == 2 / 3 and view.score().ratio == 2 / 3
    assert view.score("p", "other").ratio == 1.0


def test_a_reload_keeps_windows_unless_their_limits_change() -> None:
    plan = plan_of(TEXT)
    evaluator = ComplianceEvaluator(plan, {}, 0)
    for index in range(5):
        evaluator.observe(run("shop/a", 60 + index), 70)
    evaluator.set_plan(plan_of(TEXT), 70)
    assert status_of(evaluator.view(), "p/shop", "availability_slo")[0] == "pass"
    evaluator.set_plan(plan_of(TEXT.replace("max: 500ms", "max: 2s")), 70)
    assert status_of(evaluator.view(), "p/shop", "availability_slo")[0] == "not_applicable"


def test_percent() -> None:
    assert [percent(x) for x in (0.999, 0.98765, 1.0, 0.5)] == ["99.9%", "98.77%", "100%", "50%"]


def test_a_reload_judges_again_only_the_integrations_it_changed() -> None:
    latest = {
        "p/shop/a": run("shop/a", 1, headers(FAIL, "missing X")),
        "p/other/c": run("other/c", 1, Finding("no_sensitive_data", PASS, "clean")),
    }
    evaluator = ComplianceEvaluator(plan_of(TEXT), latest, 0)
    evaluator.sweep(1)
    before = evaluator.view()
    shop, other = dict(before.of("p/shop")), dict(before.of("p/other"))
    score = before.score("p")
    # "other" gains a probe; "shop" is as it was
    changed = TEXT.replace(
        '          c: {tcp: {address: "127.0.0.1:1"}}',
        '          c: {tcp: {address: "127.0.0.1:1"}}\n'
        '          d: {tcp: {address: "127.0.0.1:2"}}',
    )
    changes = evaluator.set_plan(plan_of(changed), 2)
    after = evaluator.view()
    assert all(after.of("p/shop")[policy] is check for policy, check in shop.items())
    assert after.of("p/other")["availability_slo"].probes == ("c", "d")  # judged again
    assert after.of("p/other")["no_sensitive_data"] == other["no_sensitive_data"]
    assert {c.check.integration for c in changes} <= {"other"}
    assert after.score("p") == score
    # a probe changed in place (its digest) is judged again too
    evaluator.set_plan(plan_of(changed.replace("https://a.test/", "https://a2.test/")), 3)
    assert evaluator.view().of("p/shop")["security_headers"] is not shop["security_headers"]
