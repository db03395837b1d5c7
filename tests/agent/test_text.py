"""Text a target sent, bounded: one line, non-printables escaped, a few hundred characters."""

from __future__ import annotations

import random

import pytest

from agent.text import MESSAGE_LIMIT, bounded


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("connection refused", "connection refused"),
        ("", ""),
        ("line one\nline two\r\n", "line one\\nline two\\r\\n"),
        ("nul \x00 bell \x07 tab \t del \x7f", "nul \\x00 bell \\x07 tab \\t del \\x7f"),
        ("café — naïve ✓", "café — naïve ✓"),
        ("separator \u2028 bom \ufeff", "separator \\u2028 bom \\ufeff"),
        ("x" * MESSAGE_LIMIT, "x" * MESSAGE_LIMIT),
    ],
)
def test_short_text_is_escaped_not_cut(text: str, expected: str) -> None:
    assert bounded(text) == expected


def test_long_text_is_cut_and_says_how_long_it_was() -> None:
    suffix = "… (12,043 characters)"
    shown = bounded("y" * 12_043)
    assert shown == "y" * (MESSAGE_LIMIT - len(suffix)) + suffix
    assert len(shown) == MESSAGE_LIMIT


def test_escaping_that_would_overflow_cuts_too() -> None:
    """250 NULs are 1,000 characters escaped: the limit holds the escaped text."""
    shown = bounded("\x00" * 250)
    assert shown.endswith("… (250 characters)")
    assert len(shown) <= MESSAGE_LIMIT
    assert shown.startswith("\\x00\\x00") and "\\x0…" not in shown  # escapes stay whole


def test_four_kib_of_random_bytes() -> None:
    junk = random.Random(14).randbytes(4096).decode("latin-1")
    shown = bounded(junk)
    assert len(shown) <= MESSAGE_LIMIT
    assert shown.endswith("… (4,096 characters)")
    assert shown.isprintable()


def test_a_smaller_limit() -> None:
    assert bounded("abcdefghij" * 10, limit=40) == "abcdefghijabcdefghijab… (100 characters)"
