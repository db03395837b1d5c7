"""Thresholds: which side of a level is a breach, per signal and per resource."""

from __future__ import annotations

import time

import pytest

from agent import vocabulary as v
from agent.results import Breach, Capacity, Severity
from agent.thresholds import SIGNALS, Observed, ThresholdRule, check_all, signal_of

W, C = Severity.WARNING, Severity.CRITICAL


@pytest.mark.parametrize(
    ("duration", "expected"),
    [(0.1, []), (0.3, []), (0.31, [("latency", W, 0.3)]), (2.0, [("latency", C, 1.0)])],
)
def test_latency_higher_is_worse(duration: float, expected: list) -> None:
    rule = ThresholdRule(SIGNALS["latency"], warning=0.3, critical=1.0)
    breaches = check_all([rule], Observed(duration, {}))
    assert [(b.signal, b.severity, b.limit) for b in breaches] == expected


@pytest.mark.parametrize(("days_left", "expected"), [(40, None), (20, W), (3, C)])
def test_certificate_expiry_lower_is_worse(days_left: int, expected: Severity | None) -> None:
    rule = ThresholdRule(SIGNALS["cert_expiry"], warning=30 * 86400, critical=7 * 86400)
    values = {v.SSL_EARLIEST_CERT_EXPIRY: time.time() + days_left * 86400}
    breaches = check_all([rule], Observed(0.1, values))
    assert [b.severity for b in breaches] == ([expected] if expected else [])


def test_no_value_no_breach() -> None:
    rule = ThresholdRule(SIGNALS["cert_expiry"], warning=30 * 86400, critical=None)
    assert check_all([rule], Observed(0.1, {})) == ()


def test_utilisation_is_checked_per_resource() -> None:
    rule = ThresholdRule(SIGNALS["utilisation"], warning=0.8, critical=0.95)
    capacity = [
        Capacity("memory", used=900, limit=1000, unit="bytes"),
        Capacity("pool:db", used=97, limit=100),
        Capacity("open_fds", used=10, limit=1024),
        Capacity("quota:requests", used=None, limit=100),
    ]
    breaches = check_all([rule], Observed(0.1, {}, capacity))
    assert breaches == (
        Breach("utilisation:memory", W, 0.9, 0.8),
        Breach("utilisation:pool:db", C, 0.97, 0.95),
    )
    assert signal_of("utilisation:pool:db") is SIGNALS["utilisation"]
    assert SIGNALS["utilisation"].format(0.9) == "90%"
