"""no_sensitive_data: responses expose no card numbers and no configured sensitive pattern.

Only masked forms ever leave this module: ``**** **** **** 1111`` for a card, the last four
characters of any other match.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from agent.policies.base import FAIL, NA, PASS, Block, PolicySpec, RunView, Site, combine
from agent.probers.base import Response
from agent.redact import card_numbers, mask_card
from agent.results import Finding

NAME = "no_sensitive_data"


def _compile_patterns(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    for name, text in value.items():
        if not isinstance(text, str):
            continue
        try:
            re.compile(text)
        except re.error as exc:
            raise ValueError(f"pattern {name!r} is not a regular expression: {exc}") from None
    return value


class NoSensitiveData(Block):
    card_numbers: bool = True
    patterns: Annotated[
        dict[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_ -]{0,40}$")], str],
        BeforeValidator(_compile_patterns),
    ] = Field(default_factory=dict, description="name -> regular expression, e.g. national ids")

    def compiled(self) -> dict[str, re.Pattern[str]]:
        return {name: re.compile(text) for name, text in self.patterns.items()}


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


@dataclass(frozen=True, slots=True)
class NoSensitiveDataPolicy:
    patterns: Mapping[str, re.Pattern[str]] = field(default_factory=dict, compare=False)
    cards: bool = True
    name: str = NAME

    def evaluate(self, run: RunView) -> Finding:
        return combine([(answer, self._judge(answer)) for answer in run.answers()])

    def _judge(self, answer: Response) -> Finding:
        body = answer.facts.get("BODY")
        if not isinstance(body, str):
            return Finding(NAME, NA, "no response body in this run")
        found = scan(body, self.patterns, cards=self.cards)
        if not found:
            return Finding(NAME, PASS, f"no sensitive data in {len(body)} characters")
        evidence = ", ".join(f"{m.kind} {m.masked}" for m in found[:3])
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        return Finding(
            NAME, FAIL, f"the response carries sensitive data: {evidence}{more}", evidence
        )


def _attach(block: NoSensitiveData, site: Site) -> int:
    reached = [t for t in site.targets if t.spec.reads_body or t.spec.all_requests(t.settings)]
    if reached:
        policy = NoSensitiveDataPolicy(block.compiled(), block.card_numbers)
        for target in reached:
            site.attach(target, policy)
    return len(reached)


SPEC = PolicySpec(
    name=NAME,
    title="Responses do not expose card numbers or other sensitive data",
    remedy="Treat as a data leak: stop the endpoint from returning the data (mask or remove "
    "it), find out who received it, and inform the data protection officer.",
    block=NoSensitiveData,
    attach=_attach,
    unattached=lambda block, scope: "no probe of this integration reads a response body",
    security="sensitive_data",
)
