"""A flow's config: ordered steps, each an HTTP request with its conditions and captures.

A step is an http request (every setting the http kind has) plus a name, the integration it
calls, conditions over its response, the values it captures for later steps (``${flow.name}``
in their url, headers and body) and, for an answer that takes a while, a poll. Conditions
and captures are compiled here, as the file loads; what needs the whole config (integrations
that exist, names used before they are captured) is checked by ``problems`` at planning.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from agent.conditions.evaluate import Condition
from agent.conditions.facts import RESPONSE_TIME
from agent.conditions.parser import ConditionError, compile_condition
from agent.fields import Name, PositiveDuration, Token
from agent.probers.base import KeyPath, Known
from agent.probers.http_facts import FACTS, parse_path
from agent.probers.http_ratelimit import RATELIMIT_FACTS
from agent.probers.http_request import CONFIG, HttpRequest

MAX_STEPS = 20
PLACEHOLDER = re.compile(r"\$\{flow\.([^}]*)\}")
STEP_FACTS = {f.name: f for f in (*FACTS, *RATELIMIT_FACTS, RESPONSE_TIME)}
DEFAULT_STEP_CONDITION = compile_condition("[STATUS] in 200..299", STEP_FACTS)
CaptureName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")]
IntegrationKey = Annotated[
    str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,62}/[A-Za-z][A-Za-z0-9_.-]{0,62}$")
]


def _step_condition(text: object) -> object:
    if not isinstance(text, str):
        raise ValueError("a condition is text like '[STATUS] == 200'")
    try:
        return compile_condition(text, STEP_FACTS)
    except ConditionError as exc:
        raise ValueError(str(exc)) from None


StepCondition = Annotated[
    Condition,
    BeforeValidator(_step_condition),
    PlainSerializer(lambda c: c.text, return_type=str),
]


class Capture(BaseModel):
    """Where a captured value comes from: one of ``json`` (a path in the body), ``header``,
    ``regex`` (over the body, or over the header when ``header`` is given too; ``group``
    names or numbers the group kept) and ``status``. A value is a secret unless ``public``."""

    model_config = CONFIG | {"populate_by_name": True}

    json_path: str | None = Field(None, alias="json", description="e.g. data.token")
    header: Token | None = None
    regex: re.Pattern[str] | None = None
    group: int | str = 1
    status: bool = False
    public: bool = Field(False, description="may show in the status API and logs")

    @field_validator("json_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_path(value)
            except LookupError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Capture:
        sources = [
            name
            for name, given in (
                ("json", self.json_path is not None),
                ("header", self.header is not None),
                ("status", self.status),
            )
            if given
        ]
        if len(sources) > 1 or (not sources and self.regex is None):
            raise ValueError(
                "capture from one of json, header (with an optional regex), regex or status"
            )
        if self.regex is not None and (self.json_path is not None or self.status):
            raise ValueError("regex reads the body, or a header given with it")
        if self.regex is not None:
            groups = self.regex.groups
            known = isinstance(self.group, int) and 0 <= self.group <= groups
            if not known and self.group not in self.regex.groupindex:
                raise ValueError(f"the regex has no group {self.group!r}")
        return self


class Poll(BaseModel):
    """Send the step again, ``every`` apart, until its conditions hold (at most
    ``max_requests`` requests, all within the flow's timeout)."""

    model_config = CONFIG

    every: PositiveDuration = 0.5
    max_requests: int = Field(10, ge=2, le=100)


class FlowStep(HttpRequest):
    """One step: an HTTP request to ``integration`` (default: the flow's own)."""

    name: Name
    integration: IntegrationKey | None = Field(None, description="pattern/name it calls")
    conditions: tuple[StepCondition, ...] = Field(
        (DEFAULT_STEP_CONDITION,), description="default: a 2xx status"
    )
    capture: dict[CaptureName, Capture] = Field(default_factory=dict)
    poll: Poll | None = None

    def templates(self) -> Iterator[tuple[KeyPath, str]]:
        """(key path, text) of every field that may hold ``${flow.name}``."""
        yield ("url",), self.url
        for name, value in self.headers.items():
            yield ("headers", name), value
        if self.body is not None:
            yield ("body",), self.body


class FlowProbe(BaseModel):
    """Ordered steps; the flow stops at the first that fails. One timeout for them all."""

    model_config = CONFIG

    steps: tuple[FlowStep, ...]

    @field_validator("steps")
    @classmethod
    def _some_steps(cls, value: tuple[FlowStep, ...]) -> tuple[FlowStep, ...]:
        # Checked here rather than with min_length: pydantic also reports the length of the
        # steps that did validate when one does not, a problem that is not there.
        if not 1 <= len(value) <= MAX_STEPS:
            raise ValueError(f"a flow has 1 to {MAX_STEPS} steps, not {len(value)}")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> FlowProbe:
        steps: set[str] = set()
        captured: set[str] = set()
        for step in self.steps:
            if step.name in steps:
                raise ValueError(f"two steps are named {step.name!r}")
            steps.add(step.name)
            twice = captured & set(step.capture)
            if twice:
                raise ValueError(f"{sorted(twice)[0]!r} is captured by two steps")
            captured |= set(step.capture)
        return self

    def bound(self, integration: str) -> FlowProbe:
        """The same flow with every step's integration given (the flow's own by default)."""
        steps = tuple(
            s if s.integration else s.model_copy(update={"integration": integration})
            for s in self.steps
        )
        return self.model_copy(update={"steps": steps})


def problems(config: FlowProbe, known: Known) -> Iterator[tuple[KeyPath, str]]:
    """Steps that call no configured integration, and ``${flow.name}`` that names nothing
    captured before it (a name captured later, or never)."""
    every = {name for step in config.steps for name in step.capture}
    captured: set[str] = set()
    for index, step in enumerate(config.steps):
        where: KeyPath = ("steps", index)
        if step.integration is not None and step.integration not in known.integrations:
            close = difflib.get_close_matches(step.integration, list(known.integrations), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            yield (
                (*where, "integration"),
                f"{step.integration!r} is not a configured integration (pattern/name){hint}",
            )
        for path, text in step.templates():
            for match in PLACEHOLDER.finditer(text):
                yield from _placeholder(match.group(1), captured, every, (*where, *path), step)
        captured |= set(step.capture)


def _placeholder(
    name: str, captured: set[str], every: set[str], where: KeyPath, step: FlowStep
) -> Iterator[tuple[KeyPath, str]]:
    if name in captured:
        return
    if name in step.capture:
        yield where, f"${{flow.{name}}} is captured by this step, after its request is sent"
    elif name in every:
        yield where, f"${{flow.{name}}} is used before the step that captures it"
    else:
        close = difflib.get_close_matches(name, sorted(every), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        known = f" (captured: {', '.join(sorted(every))})" if every and not close else ""
        yield where, f"${{flow.{name}}}: no step captures {name!r}{hint}{known}"


def describe(config: FlowProbe) -> str:
    """``validate -> verify -> submit``: the steps in order, for labels and tables."""
    return " -> ".join(step.name for step in config.steps)


def called(config: FlowProbe) -> tuple[str, ...]:
    """The integrations the steps call (those named), each once, in order."""
    return tuple(dict.fromkeys(s.integration for s in config.steps if s.integration))
