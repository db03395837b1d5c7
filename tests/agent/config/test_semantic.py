"""Checks that span more than one key: conditions, signals, timeouts and dependencies,
reported together with every other problem of the file, each at its own line."""

from __future__ import annotations

import pytest

from agent.config import ConfigError, load_config_text
from agent.planning import build_plan

BROKEN = """\
agent:
  intervall: 30s
patterns:
  bill_pay:
    integrations:
      processor:
        scope: externel
        depends_on: [account/ledgr, bill_pay/processor]
        probes:
          health:
            interval: 10s
            timeout: 20s
            http: {url: "https://api.example.com/health"}
            conditions:
              - "[STATUS] == 200"
              - "[STATUS] == 2OO"
              - "[BODY.status] = UP"
            thresholds: {latncy: {warning: 1s}}
  account:
    integrations:
      ledger:
        scope: internal
        depends_on: [account/books]
        probes: {port: {tcp: {address: "127.0.0.1:5432"}}}
      books:
        scope: internal
        depends_on: [account/ledger]
        probes: {port: {tcp: {address: "127.0.0.1:5432"}}}
"""

EXPECTED = [
    "oversight.yaml:2: agent: unknown key 'intervall'; did you mean 'interval'?",
    "oversight.yaml:7: patterns.bill_pay.integrations.processor.scope: "
    "Input should be 'external' or 'internal' (got 'externel')",
    "oversight.yaml:8: patterns.bill_pay.integrations.processor.depends_on[0]: "
    "'account/ledgr' is not a configured integration (pattern/name); "
    "did you mean 'account/ledger'?",
    "oversight.yaml:8: patterns.bill_pay.integrations.processor.depends_on[1]: "
    "bill_pay/processor depends on itself",
    "oversight.yaml:12: patterns.bill_pay.integrations.processor.probes.health.timeout: "
    "timeout 20s must be shorter than the interval 10s: a run may last its whole timeout, and "
    "the next one is due at the interval",
    "oversight.yaml:16: patterns.bill_pay.integrations.processor.probes.health.conditions[1]: "
    "[STATUS] == 2OO: expected an integer, a range like 200..299 or a set like (200, 204)",
    "oversight.yaml:17: patterns.bill_pay.integrations.processor.probes.health.conditions[2]: "
    "[BODY.status] = UP: use == to compare, not =",
    "oversight.yaml:18: patterns.bill_pay.integrations.processor.probes.health.thresholds: "
    "unknown signal 'latncy' for http probes; did you mean 'latency'? "
    "known: latency, cert_expiry, utilisation",
    "oversight.yaml:23: patterns.account.integrations.ledger.depends_on: "
    "dependency cycle: account/ledger -> account/books -> account/ledger",
]


def test_every_problem_of_the_file_at_once_in_line_order() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(BROKEN, name="oversight.yaml")
    assert [str(p) for p in caught.value.problems] == EXPECTED


def test_a_timeout_longer_than_an_inherited_interval() -> None:
    text = """\
agent: {interval: 10s, timeout: 5s}
patterns:
  p:
    integrations:
      i:
        scope: internal
        probes:
          port:
            timeout: 15s
            tcp: {address: "127.0.0.1:1"}
"""
    with pytest.raises(ConfigError) as caught:
        build_plan(load_config_text(text, name="oversight.yaml"))
    assert [str(p) for p in caught.value.problems] == [
        "oversight.yaml:9: patterns.p.integrations.i.probes.port.timeout: "
        "timeout 15s must be shorter than the interval 10s: a run may last its whole timeout, "
        "and the next one is due at the interval"
    ]


def test_an_inherited_timeout_shrinks_below_a_short_interval() -> None:
    text = """\
agent: {interval: 30s, timeout: 10s}
patterns:
  p:
    integrations:
      i:
        scope: internal
        probes:
          port: {interval: 2s, tcp: {address: "127.0.0.1:1"}}
"""
    probe = build_plan(load_config_text(text)).probes["p/i/port"]
    assert (probe.interval, probe.timeout) == (2.0, 1.8)  # 90 % of the interval


def test_a_timeout_equal_to_its_interval_is_refused() -> None:
    text = """\
patterns:
  p:
    integrations:
      i:
        scope: internal
        probes:
          port: {interval: 5s, timeout: 5s, tcp: {address: "127.0.0.1:1"}}
"""
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, name="oversight.yaml")
    [problem] = caught.value.problems
    assert (problem.line, problem.path) == (7, "patterns.p.integrations.i.probes.port.timeout")
    assert problem.message.startswith("timeout 5s must be shorter than the interval 5s")
