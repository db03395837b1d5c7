"""Values a flow carries between steps: taken from one step's answer, put into the next request.

A captured value goes into a URL percent-encoded but for its slashes (a token with ``&``, ``?``
or spaces stays one value; a captured path stays a path) and into headers and bodies as it is;
a value with a line break cannot go into a header, so that step fails rather than send a
forged header.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from yarl import URL

from agent.conditions.evaluate import json_text
from agent.probers.base import ProbeFailed
from agent.probers.flow_model import PLACEHOLDER, Capture, FlowStep
from agent.probers.http_facts import header_lookup, json_lookup
from agent.results import Reason


def render(step: FlowStep, values: Mapping[str, str]) -> FlowStep:
    """The step with ``${flow.name}`` replaced in its url, headers and body."""
    if not values or not any(PLACEHOLDER.search(text) for _, text in step.templates()):
        return step
    headers = {}
    for name, text in step.headers.items():
        value = _fill(text, values, lambda v: v)
        if "\r" in value or "\n" in value:
            raise ProbeFailed(
                Reason.PROTOCOL_ERROR, f"a value captured for header {name} has a line break"
            )
        headers[name] = value
    return step.model_copy(
        update={
            "url": _fill(step.url, values, in_url),
            "headers": headers,
            "body": None if step.body is None else _fill(step.body, values, lambda v: v),
        }
    )


def in_url(value: str) -> str:
    """A value as it goes into a URL: percent-encoded but for its slashes."""
    return quote(value, safe="/-._~")


def url_forms(value: str) -> set[str]:
    """Every form ``value`` may take in a URL once sent (yarl decodes what a path or query
    allows as it is), so that a message quoting the URL is scrubbed of it too."""
    quoted = in_url(value)
    forms = {value, quoted}
    with contextlib.suppress(ValueError):
        forms.add(URL("http://h/" + quoted).raw_path[1:])
        forms.add(URL("http://h/?q=" + quoted).raw_query_string[2:])
    return forms


def _fill(text: str, values: Mapping[str, str], encode: Any) -> str:
    def value(match: Any) -> str:
        name = match.group(1)
        if name not in values:  # the planner checks every name is captured before its use
            raise ProbeFailed(Reason.INTERNAL_ERROR, f"${{flow.{name}}} was not captured")
        return str(encode(values[name]))

    return PLACEHOLDER.sub(value, text)


def extract(capture: Capture, facts: Mapping[str, Any]) -> str:
    """The value ``capture`` takes from a step's answer, as text.

    ``LookupError`` says what is absent (no such JSON field, header, or regex match);
    ``ValueError`` that the body is not JSON.
    """
    if capture.status:
        return str(facts["STATUS"])
    if capture.json_path is not None:
        return json_text(json_lookup(facts["BODY"], capture.json_path))
    source = str(facts["BODY"])
    where = "the body"
    if capture.header is not None:
        source = header_lookup(facts["HEADER"], capture.header)
        where = f"the {capture.header} header"
    if capture.regex is None:
        return source
    match = capture.regex.search(source)
    if match is None:
        raise LookupError(f"{where} does not match {capture.regex.pattern!r}")
    found = match.group(capture.group)
    if found is None:
        raise LookupError(f"group {capture.group!r} of {capture.regex.pattern!r} took no part")
    return found


def capture_reason(capture: Capture) -> Reason:
    """The reason a capture that finds nothing fails its step with."""
    if capture.header is not None:
        return Reason.HEADER_MISMATCH
    if capture.status:
        return Reason.STATUS_MISMATCH
    return Reason.BODY_MISMATCH
