"""Sensitive data in text: card numbers (digit runs that pass Luhn) and configured patterns.

Only masked forms ever leave this module: ``**** **** **** 1111`` for a card, the last four
characters of any other match. A digit run counts as a card number when it has 13 to 19
digits (spaces or dashes between them allowed), passes the Luhn check and starts like a
card of a known network, so timestamps and order numbers rarely look like cards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

_CARD = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
# First digits of the card networks: Visa 4; Mastercard 2[2-7], 5; Amex 34, 37; Diners 30,
# 36, 38; JCB 35; Discover, UnionPay and Maestro 5, 6.
_NETWORK = re.compile(r"^(?:[456]|2[2-7]|3[04578])")


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check every card number passes."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_numbers(text: str) -> Iterator[str]:
    """The card numbers in ``text``, as bare digits (never store them: mask them)."""
    for match in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and _NETWORK.match(digits) and luhn_ok(digits):
            yield digits


def mask_card(digits: str) -> str:
    """``4111111111111111`` -> ``**** **** **** 1111``."""
    return "**** **** **** " + digits[-4:]


def mask_text(value: str) -> str:
    """Every letter and digit but the last four replaced: ``123-45-6789`` -> ``***-**-6789``."""
    keep = 4 if sum(c.isalnum() for c in value) > 6 else 0
    out, seen = [], 0
    for char in reversed(value):
        if char.isalnum():
            seen += 1
            out.append(char if seen <= keep else "*")
        else:
            out.append(char)
    return "".join(reversed(out))


def mask_cards(text: str) -> str:
    """``text`` with every card number in it masked (for messages that may quote a body)."""

    def replace(match: re.Match[str]) -> str:
        digits = re.sub(r"[ -]", "", match.group())
        found = next(card_numbers(match.group()), None)
        return mask_card(digits) if found else match.group()

    return _CARD.sub(replace, text)


@dataclass(frozen=True, slots=True)
class Match:
    kind: str  # "card number" or the configured pattern's name
    masked: str


def scan(
    text: str, patterns: Mapping[str, re.Pattern[str]], *, cards: bool = True, limit: int = 20
) -> list[Match]:
    """Up to ``limit`` sensitive values found in ``text``, masked, duplicates once."""
    found: dict[tuple[str, str], Match] = {}
    if cards:
        for digits in card_numbers(text):
            masked = mask_card(digits)
            found.setdefault(("card number", masked), Match("card number", masked))
            if len(found) >= limit:
                return list(found.values())
    for name, pattern in patterns.items():
        for match in pattern.finditer(text):
            masked = mask_text(match.group())
            found.setdefault((name, masked), Match(name, masked))
            if len(found) >= limit:
                return list(found.values())
    return list(found.values())
