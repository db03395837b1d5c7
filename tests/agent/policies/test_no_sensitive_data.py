"""Card numbers (Luhn) and configured patterns in text; only masked forms come out."""

from __future__ import annotations

import re

import pytest

from agent.policies.no_sensitive_data import mask_text, scan
from agent.redact import card_numbers, luhn_ok, mask_cards


@pytest.mark.parametrize(
    ("digits", "ok"),
    [
        ("4111111111111111", True),
        ("4111111111111112", False),
        ("5500000000000004", True),
        ("378282246310005", True),  # Amex, 15 digits
        ("6011111111111117", True),
        ("0", True),
        ("79927398713", True),  # the textbook example
        ("79927398710", False),
    ],
)
def test_luhn(digits: str, ok: bool) -> None:
    assert luhn_ok(digits) is ok


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('{"card": "4111111111111111"}', ["4111111111111111"]),
        ("pay with 4111 1111 1111 1111 today", ["4111111111111111"]),
        ("5500-0000-0000-0004", ["5500000000000004"]),
        ("amex 3782 822463 10005", ["378282246310005"]),
        ("4111111111111112", []),  # fails Luhn
        ('{"ts": 1700000000000, "id": 1234567812345670}', []),  # no card network starts 1
        ("41111111111111112222", []),  # 20 digits in a row: not a card
        ("411111111111", []),  # 12 digits: too short
        ("x4111111111111111", ["4111111111111111"]),
    ],
)
def test_card_numbers(text: str, found: list[str]) -> None:
    assert list(card_numbers(text)) == found


def test_masks() -> None:
    assert mask_text("123-45-6789") == "***-**-6789"
    assert mask_text("AB12") == "****"
    assert (
        mask_cards("card 4111-1111-1111-1111, order 1234") == "card **** **** **** 1111, order 1234"
    )


def test_scan_masks_and_deduplicates() -> None:
    text = "4111111111111111 and again 4111 1111 1111 1111, ssn 123-45-6789"
    found = scan(text, {"ssn": re.compile(r"\d{3}-\d{2}-\d{4}")})
    assert [(m.kind, m.masked) for m in found] == [
        ("card number", "**** **** **** 1111"),
        ("ssn", "***-**-6789"),
    ]
    assert scan(text, {}, cards=False) == []
