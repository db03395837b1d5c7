"""What every rule file is made of: rules, groups, files, and ``${name}`` filled into text.

Expressions are written as the PromQL they are, in plain strings; where a value varies (a window,
a criticality, a parameter) the string says ``${name}`` and :func:`fill` puts the value in.
Neither PromQL nor Prometheus's Go templates (``$labels``, ``$value``) ever write ``${``, so
nothing else in the text needs escaping.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")

# The agents that run a shard of a sharded prober (oversight_build_info{shard="i/n"}): alerts
# about integration states read theirs through shards.yml, once per prober, and these agents'
# own state series are left out with `unless on (agent, location) ${sharded}`.
SHARDED_AGENTS = 'oversight_build_info{shard!=""}'

# The labels of an alert about one integration itself; the join adds criticality, owner and
# runbook from oversight_integration_info.
SELF = {
    "cause": "self",
    "root_cause": "{{ $labels.pattern }}/{{ $labels.integration }}",
}

# The labels of an alert that may be a dependency's doing: the expression joins `root_cause`
# in when the integration was impacted (pattern_integration:...:root_cause_<window>).
MAYBE_DEPENDENCY = {
    "cause": "{{ if $labels.root_cause }}dependency{{ else }}self{{ end }}",
    "root_cause": "{{ if $labels.root_cause }}{{ $labels.root_cause }}{{ else }}{{ $labels.pattern }}/{{ $labels.integration }}{{ end }}",
}


def about_the_agent(owner: str, severity: str) -> dict[str, str]:
    """The labels of an alert about the agents themselves: there is no integration to join the
    owner from, so the rule sets them all."""
    return {
        "severity": severity,
        "pattern": "oversight",
        "integration": "agent",
        "owner": owner,
        "cause": "self",
        "root_cause": "oversight/agent",
    }


class Folded(str):
    """Text written as a folded block (``>-``): it wraps in the file, its value is one line."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One alerting or recording rule, and the comment written above it."""

    body: Mapping[str, Any]
    comment: str = ""


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class RuleFile:
    """One file of alerts/rules: its name, the module that makes it, the comment at its top."""

    name: str
    source: str
    header: str
    groups: tuple[Group, ...]


def fill(template: str, **values: object) -> str:
    """``template`` with each ``${name}`` replaced by ``values[name]``; a name without a value
    is an error, so a typo cannot reach a rule."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"no value for ${{{name}}} in {template[:60]!r}...")
        return str(values[name])

    return _PLACEHOLDER.sub(value, template)


def joined(*parts: str, **values: object) -> str:
    """Pieces of an expression, each an indented triple-quoted string, one under the other and
    filled: a condition and the join that adds the owner, say."""
    return fill("\n".join(inspect.cleandoc(part) for part in parts), **values)


def comment(text: str, **values: object) -> str:
    """A comment written as an indented triple-quoted string, dedented and filled."""
    return fill(inspect.cleandoc(text), **values)


def words(text: str, **values: object) -> Folded:
    """Prose for an annotation: filled, and its line breaks and indentation made single spaces."""
    return Folded(" ".join(fill(text, **values).split()))


def promql(text: str) -> str:
    """An expression written as an indented triple-quoted string, dedented; one of several lines
    ends with a newline, as a YAML block does."""
    expr = inspect.cleandoc(text)
    return expr + "\n" if "\n" in expr else expr


def alert(
    name: str,
    expr: str,
    *,
    for_: str,
    labels: Mapping[str, str],
    summary: str,
    description: str,
    runbook_url: str,
    dashboard_url: str,
    comment: str = "",
) -> Rule:
    """An alerting rule with the four annotations every Oversight alert carries."""
    return Rule(
        {
            "alert": name,
            "expr": promql(expr),
            "for": for_,
            "labels": dict(labels),
            "annotations": {
                "summary": summary,
                "description": words(description),
                "runbook_url": runbook_url,
                "dashboard_url": dashboard_url,
            },
        },
        inspect.cleandoc(comment),
    )


def record(name: str, expr: str, comment: str = "") -> Rule:
    return Rule({"record": name, "expr": promql(expr)}, inspect.cleandoc(comment))
