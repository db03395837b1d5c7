"""Compiled conditions against observed values: success and the observed text, per type."""

from __future__ import annotations

import dataclasses
import json
import re
from types import MappingProxyType
from typing import Any

import pytest

from agent.conditions.facts import RESPONSE_TIME, Fact, FactType
from agent.conditions.parser import compile_condition
from agent.redact import Redactor, mask_cards
from agent.results import ConditionOutcome, Reason


def json_path(body: Any, key: str) -> Any:
    """``data.items[0].id`` into a JSON body, the way the http prober's lookup behaves."""
    try:
        value = json.loads(body)
    except ValueError:
        raise ValueError("body is not JSON") from None
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        if part.startswith("["):
            if not isinstance(value, list):
                raise LookupError(key)
            value = value[int(part[1:-1])]
        else:
            if not isinstance(value, dict):
                raise LookupError(key)
            value = value[part]
    return value


def header(headers: dict[str, str], key: str) -> str:
    for name, value in headers.items():
        if name.lower() == key.lower():
            return value
    raise KeyError(key)


def broken(_value: Any, _key: str) -> Any:
    raise RuntimeError("a bug in a lookup")


FACTS = {
    f.name: f
    for f in (
        Fact("STATUS", FactType.INT, Reason.STATUS_MISMATCH, "status code"),
        Fact("BODY", FactType.STRING, Reason.BODY_MISMATCH, "body", lookup=json_path),
        Fact("HEADER", FactType.STRING, Reason.HEADER_MISMATCH, "headers", header, FactType.STRING),
        RESPONSE_TIME,
        Fact("CERT_EXPIRY", FactType.DURATION, Reason.THRESHOLD, "time left"),
        Fact("RATIO", FactType.NUMBER, Reason.THRESHOLD, "a ratio"),
        Fact("CONNECTED", FactType.ANY, Reason.CONDITION_FAILED, "connected"),
        Fact("TLS_VERSION", FactType.STRING, Reason.TLS_MISMATCH, "TLS version"),
        Fact("BROKEN", FactType.ANY, Reason.CONDITION_FAILED, "buggy lookup", lookup=broken),
    )
}

ITEMS = '{"data": {"items": [{"id": 7}]}}'
DAY = 86_400.0

CASES: list[tuple[str, dict[str, Any], bool, str]] = [
    # INT: values, ranges and sets; == with a range means "in"
    ("[STATUS] == 200", {"STATUS": 200}, True, "[STATUS] (200) == 200"),
    ("[STATUS] == 200", {"STATUS": 503}, False, "[STATUS] (503) == 200"),
    ("[STATUS]==200", {"STATUS": 200.0}, True, "[STATUS] (200) == 200"),
    ("[STATUS] == 200..299", {"STATUS": 204}, True, "[STATUS] (204) == 200..299"),
    ("[STATUS] != 200..299", {"STATUS": 204}, False, "[STATUS] (204) != 200..299"),
    ("[STATUS] == (200, 204)", {"STATUS": 201}, False, "[STATUS] (201) == (200, 204)"),
    ("[STATUS] in (200, 204, 300..399)", {"STATUS": 302}, True,
     "[STATUS] (302) in (200, 204, 300..399)"),
    ("[STATUS] in (200, 204, 300..399)", {"STATUS": 500}, False,
     "[STATUS] (500) in (200, 204, 300..399)"),
    ("[STATUS]  not   in 500..599", {"STATUS": 404}, True, "[STATUS] (404) not in 500..599"),
    ("[STATUS] in 200", {"STATUS": 200}, True, "[STATUS] (200) in 200"),
    ("[STATUS] < 400", {"STATUS": 399}, True, "[STATUS] (399) < 400"),
    ("[STATUS] <= 199", {"STATUS": 200}, False, "[STATUS] (200) <= 199"),
    ("[STATUS] >= 500", {"STATUS": 503}, True, "[STATUS] (503) >= 500"),
    ("[STATUS] > -1", {"STATUS": 0}, True, "[STATUS] (0) > -1"),
    # a value that is not a number fails every comparison, negated ones too
    ("[STATUS] != 200", {"STATUS": "oops"}, False, "[STATUS] (oops) != 200"),
    ("[STATUS] == 1", {"STATUS": True}, False, "[STATUS] (true) == 1"),
    # a fact the run never produced
    ("[STATUS] == 200", {}, False, "[STATUS] (no value) == 200"),
    ("[STATUS] == 200", {"STATUS": None}, False, "[STATUS] (no value) == 200"),
    ("[STATUS] exists", {}, False, "[STATUS] (no value) exists"),
    ("[STATUS] not exists", {}, True, "[STATUS] (no value) not exists"),
    ("[STATUS] exists", {"STATUS": 200}, True, "[STATUS] (200) exists"),
    # DURATION: seconds in, readable at millisecond precision out
    ("[RESPONSE_TIME] < 300ms", {"RESPONSE_TIME": 0.1234}, True,
     "[RESPONSE_TIME] (123.4ms) < 300ms"),
    ("[RESPONSE_TIME] < 300ms", {"RESPONSE_TIME": 1.2}, False, "[RESPONSE_TIME] (1.2s) < 300ms"),
    ("[RESPONSE_TIME] < 300ms", {"RESPONSE_TIME": 0.3}, False, "[RESPONSE_TIME] (300ms) < 300ms"),
    ("[RESPONSE_TIME] <= 300ms", {"RESPONSE_TIME": 0.3}, True, "[RESPONSE_TIME] (300ms) <= 300ms"),
    ("[RESPONSE_TIME] < 1s", {"RESPONSE_TIME": 0.0004}, True, "[RESPONSE_TIME] (0.4ms) < 1s"),
    ("[RESPONSE_TIME] < 1m30s", {"RESPONSE_TIME": 95.25}, False,
     "[RESPONSE_TIME] (1m35.25s) < 1m30s"),
    ("[RESPONSE_TIME] in 100ms..2s", {"RESPONSE_TIME": 0.5}, True,
     "[RESPONSE_TIME] (500ms) in 100ms..2s"),
    ("[CERT_EXPIRY] > 30d", {"CERT_EXPIRY": 30 * DAY - 47.5}, False,
     "[CERT_EXPIRY] (29d23h59m12.5s) > 30d"),
    ("[CERT_EXPIRY] > 14d", {"CERT_EXPIRY": 90 * DAY}, True, "[CERT_EXPIRY] (90d) > 14d"),
    ("[CERT_EXPIRY] > 0s", {"CERT_EXPIRY": -2 * DAY}, False, "[CERT_EXPIRY] (-2d) > 0s"),
    # NUMBER
    ("[RATIO] < 0.5", {"RATIO": 0.25}, True, "[RATIO] (0.25) < 0.5"),
    ("[RATIO] in 0..1", {"RATIO": 1.5}, False, "[RATIO] (1.5) in 0..1"),
    ("[RATIO] == 1", {"RATIO": 1.0}, True, "[RATIO] (1) == 1"),
    ("[RATIO] >= 1e3", {"RATIO": 1000}, True, "[RATIO] (1000) >= 1e3"),
    # STRING bodies: shown as their size, never their content
    ('[BODY] contains "ok"', {"BODY": "x" * 1198 + "ok"}, True, '[BODY] (1.2 kB) contains "ok"'),
    ("[BODY] contains ok", {"BODY": "fine"}, False, "[BODY] (4 B) contains ok"),
    ('[BODY] not contains "error"', {"BODY": "all good"}, True,
     '[BODY] (8 B) not contains "error"'),
    ("[BODY] == hello world", {"BODY": "hello world"}, True, "[BODY] (11 B) == hello world"),
    ('[BODY] == ""', {"BODY": ""}, True, '[BODY] (0 B) == ""'),
    ('[BODY] contains "a == b [X]"', {"BODY": "if a == b [X] then"}, True,
     '[BODY] (18 B) contains "a == b [X]"'),
    ('[BODY] contains "café"', {"BODY": "un café"}, True, '[BODY] (8 B) contains "café"'),
    ('[BODY] matches ^\\{"status": ?"UP"', {"BODY": '{"status": "UP"}'}, True,
     '[BODY] (16 B) matches ^\\{"status": ?"UP"'),
    ("[BODY] not matches (?i)error", {"BODY": "An ERROR"}, False,
     "[BODY] (8 B) not matches (?i)error"),
    ("[BODY] matches \\d{3}-\\d{4}", {"BODY": b"call 555-1234"}, True,
     "[BODY] (13 B) matches \\d{3}-\\d{4}"),
    ("[BODY] contains ok", {"BODY": "y" * 2_500_000}, False, "[BODY] (2.5 MB) contains ok"),
    # keyed BODY: JSON values, compared as numbers when both are numbers, else as text
    ("[BODY.status] == UP", {"BODY": '{"status": "UP"}'}, True, "[BODY.status] (UP) == UP"),
    ("[BODY.status] == UP", {"BODY": "<html>"}, False,
     "[BODY.status] (body is not JSON) == UP"),
    ("[BODY.status] == UP", {"BODY": "{}"}, False, "[BODY.status] (absent) == UP"),
    ("[BODY.status] == UP", {}, False, "[BODY.status] (no value) == UP"),
    ("[BODY.status] not exists", {"BODY": "{}"}, True, "[BODY.status] (absent) not exists"),
    ("[BODY.status] not exists", {}, True, "[BODY.status] (no value) not exists"),
    ("[BODY.status] exists", {"BODY": "<html>"}, False, "[BODY.status] (body is not JSON) exists"),
    ("[BODY.status] not exists", {"BODY": "<html>"}, False,
     "[BODY.status] (body is not JSON) not exists"),
    ("[BODY.data.items[0].id] == 7", {"BODY": ITEMS}, True, "[BODY.data.items[0].id] (7) == 7"),
    ("[BODY.data.items[1].id] exists", {"BODY": ITEMS}, False,
     "[BODY.data.items[1].id] (absent) exists"),
    ("[BODY.count] > 5", {"BODY": '{"count": "12"}'}, True, "[BODY.count] (12) > 5"),
    ("[BODY.count] > 5", {"BODY": '{"count": "many"}'}, False, "[BODY.count] (many) > 5"),
    ("[BODY.ok] == true", {"BODY": '{"ok": true}'}, True, "[BODY.ok] (true) == true"),
    ("[BODY.ok] == true", {"BODY": '{"ok": "true"}'}, True, "[BODY.ok] (true) == true"),
    ("[BODY.ok] == false", {"BODY": '{"ok": 0}'}, False, "[BODY.ok] (0) == false"),
    ("[BODY.gone] == null", {"BODY": '{"gone": null}'}, True, "[BODY.gone] (null) == null"),
    ("[BODY.gone] exists", {"BODY": '{"gone": null}'}, True, "[BODY.gone] (null) exists"),
    ("[BODY.amount] == 12.5", {"BODY": '{"amount": 12.50}'}, True,
     "[BODY.amount] (12.5) == 12.5"),
    ("[BODY.amount] == 12", {"BODY": '{"amount": "12.0"}'}, True, "[BODY.amount] (12.0) == 12"),
    ('[BODY.code] == "200"', {"BODY": '{"code": 200}'}, True, '[BODY.code] (200) == "200"'),
    ("[BODY.name] == x", {"BODY": json.dumps({"name": "n" * 100})}, False,
     "[BODY.name] (" + "n" * 63 + "…) == x"),
    ("[BODY.name] == x", {"BODY": '{"name": "a\\nb"}'}, False, "[BODY.name] (a\\nb) == x"),
    ("[BODY.name] == x", {"BODY": '{"name": ""}'}, False, '[BODY.name] ("") == x'),
    ('[BODY.data] == {"a": 1}', {"BODY": '{"data": {"a": 1}}'}, True,
     '[BODY.data] ({"a":1}) == {"a": 1}'),
    ("[BODY.roles] contains admin", {"BODY": '{"roles": ["user", "admin"]}'}, True,
     '[BODY.roles] (["user","admin"]) contains admin'),
    ("[BODY.roles] not contains root", {"BODY": '{"roles": ["user", "admin"]}'}, True,
     '[BODY.roles] (["user","admin"]) not contains root'),
    ("[BODY.ids] contains 3", {"BODY": '{"ids": [1, 2, 3]}'}, True,
     "[BODY.ids] ([1,2,3]) contains 3"),
    ("[BODY.data] contains a", {"BODY": '{"data": {"a": 1}}'}, True,
     '[BODY.data] ({"a":1}) contains a'),
    ("[BODY.msg] contains UP", {"BODY": '{"msg": "all UP"}'}, True,
     "[BODY.msg] (all UP) contains UP"),
    ('[BODY.status] in (UP, "DEGRADED, BUT OK")', {"BODY": '{"status": "DEGRADED, BUT OK"}'}, True,
     '[BODY.status] (DEGRADED, BUT OK) in (UP, "DEGRADED, BUT OK")'),
    ("[BODY.n] in 1..10", {"BODY": '{"n": 10}'}, True, "[BODY.n] (10) in 1..10"),
    ("[BODY.n] in (1..10, 42)", {"BODY": '{"n": 42}'}, True, "[BODY.n] (42) in (1..10, 42)"),
    ("[BODY.n] in (1..10, 42)", {"BODY": '{"n": 11}'}, False, "[BODY.n] (11) in (1..10, 42)"),
    ("[BODY.version] matches ^2\\.", {"BODY": '{"version": "2.4.1"}'}, True,
     "[BODY.version] (2.4.1) matches ^2\\."),
    # HEADER: keyed, case-insensitive, values clipped to 64 characters
    ("[HEADER.content-type] contains json",
     {"HEADER": {"Content-Type": "application/json; charset=utf-8"}}, True,
     "[HEADER.content-type] (application/json; charset=utf-8) contains json"),
    ("[HEADER.X-Request-Id] not exists", {"HEADER": {}}, True,
     "[HEADER.X-Request-Id] (absent) not exists"),
    ("[HEADER.X-Request-Id] exists", {"HEADER": {}}, False,
     "[HEADER.X-Request-Id] (absent) exists"),
    ("[HEADER.Strict-Transport-Security] matches max-age=\\d{7,}",
     {"HEADER": {"strict-transport-security": "max-age=31536000"}}, True,
     "[HEADER.Strict-Transport-Security] (max-age=31536000) matches max-age=\\d{7,}"),
    ("[HEADER.X-Long] == a", {"HEADER": {"X-Long": "v" * 80}}, False,
     "[HEADER.X-Long] (" + "v" * 63 + "…) == a"),
    ("[HEADER.Server] in (nginx, envoy)", {"HEADER": {"Server": "envoy"}}, True,
     "[HEADER.Server] (envoy) in (nginx, envoy)"),
    # short strings show as themselves
    ('[TLS_VERSION] in ("TLS 1.2", "TLS 1.3")', {"TLS_VERSION": "TLS 1.3"}, True,
     '[TLS_VERSION] (TLS 1.3) in ("TLS 1.2", "TLS 1.3")'),
    ("[TLS_VERSION] == TLS 1.3", {"TLS_VERSION": "TLS 1.2"}, False,
     "[TLS_VERSION] (TLS 1.2) == TLS 1.3"),
    # ANY with JSON literals
    ("[CONNECTED] == true", {"CONNECTED": True}, True, "[CONNECTED] (true) == true"),
    ("[CONNECTED] == true", {"CONNECTED": False}, False, "[CONNECTED] (false) == true"),
    ("[CONNECTED] != false", {"CONNECTED": True}, True, "[CONNECTED] (true) != false"),
    # a lookup with a bug fails the condition; evaluate never raises
    ("[BROKEN.x] == 1", {"BROKEN": "anything"}, False,
     "[BROKEN.x] (lookup failed: RuntimeError) == 1"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "facts", "success", "observed"), CASES)
def test_outcome(text: str, facts: dict[str, Any], success: bool, observed: str) -> None:
    outcome = compile_condition(text, FACTS).evaluate(facts)
    assert outcome == ConditionOutcome(text, success, observed)


def test_reason_comes_from_the_fact() -> None:
    assert compile_condition("[STATUS] == 200", FACTS).reason is Reason.STATUS_MISMATCH
    assert compile_condition("[BODY.x] exists", FACTS).reason is Reason.BODY_MISMATCH
    assert compile_condition("[RESPONSE_TIME] < 1s", FACTS).reason is Reason.THRESHOLD


def test_evaluate_reads_any_mapping() -> None:
    condition = compile_condition("[STATUS] in 200..299", FACTS)
    assert condition.evaluate(MappingProxyType({"STATUS": 204})).success


def test_conditions_are_frozen_values() -> None:
    first = compile_condition("[STATUS] in (200, 204)", FACTS)
    again = compile_condition("[STATUS] in (200, 204)", FACTS)
    assert first == again
    assert hash(first) == hash(again)
    assert first != compile_condition("[STATUS] in (200, 205)", FACTS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.text = "[STATUS] == 500"  # type: ignore[misc]
    assert not hasattr(first, "__dict__")  # slots


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")


@pytest.mark.parametrize(
    ("text", "value", "observed"),
    [
        ("[STATUS] == 200", object, "[STATUS] (<class 'object'>) == 200"),
        ("[RESPONSE_TIME] < 1s", "slow", "[RESPONSE_TIME] (slow) < 1s"),
        ("[RATIO] > 0", float("nan"), "[RATIO] (nan) > 0"),
        ("[CONNECTED] == true", Unprintable(), "[CONNECTED] (cannot compare RuntimeError) == true"),
        ("[TLS_VERSION] == TLS 1.3", Unprintable(), "[TLS_VERSION] (cannot compare RuntimeError) =="
         " TLS 1.3"),
    ],
)  # fmt: skip
def test_values_of_unexpected_types_fail_without_raising(
    text: str, value: Any, observed: str
) -> None:
    name = text[1 : text.index("]")]
    outcome = compile_condition(text, FACTS).evaluate({name: value})
    assert outcome == ConditionOutcome(text, False, observed)


def test_a_non_string_body_is_compared_as_its_text() -> None:
    outcome = compile_condition("[BODY] contains 4", FACTS).evaluate({"BODY": 42})
    assert outcome == ConditionOutcome("[BODY] contains 4", True, "[BODY] (42) contains 4")


def test_a_value_is_scrubbed_before_it_is_clipped() -> None:
    """Clipped first, a secret that crosses the 64th character would show its first part."""
    secret = "Sk-live-0123456789abcdef"
    body = json.dumps({"error": "x" * 40 + f" key {secret} refused"})
    condition = compile_condition("[BODY.error] == ok", FACTS)
    unscrubbed = condition.evaluate({"BODY": body}).observed
    assert unscrubbed.endswith(" key Sk-live-0123456789…) == ok")  # the first 18 characters
    outcome = condition.evaluate({"BODY": body}, Redactor([secret]).scrub)
    assert outcome.observed == "[BODY.error] (" + "x" * 40 + " key <redacted> refused) == ok"


def test_a_card_in_a_value_is_masked_before_it_is_clipped() -> None:
    body = json.dumps({"note": "y" * 55 + " 4539148803436467"})
    outcome = compile_condition("[BODY.note] == ok", FACTS).evaluate({"BODY": body}, mask_cards)
    assert outcome.observed == "[BODY.note] (" + "y" * 55 + " **** **…) == ok"
