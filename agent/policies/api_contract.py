"""api_contract: a partner's response matches its published JSON Schema or OpenAPI 3 contract.

A schema describes one response, so it names the probes it is for; an OpenAPI document
attaches to every http probe whose method and path it describes (or to the named ones, which
must be in it). The document is read once per plan (see agent/policies/contract.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from pydantic import Field, field_validator, model_validator
from yarl import URL

from agent.fields import Name
from agent.policies.base import Block, Policy, PolicySpec, RunView, Site, combine
from agent.policies.contract import (
    Operation,
    check_contract_file,
    find_operation,
    schema_validator,
)
from agent.redact import mask_cards
from agent.results import Compliance, Finding

NAME = "api_contract"


class ApiContract(Block):
    """A JSON Schema of the response (``schema``), or an OpenAPI 3 document (``openapi``)
    whose operation is found by the probe's method and path, or named by ``operation``."""

    json_schema: str | None = Field(default=None, alias="schema", description="a JSON Schema file")
    openapi: str | None = Field(
        default=None, description="an OpenAPI 3.0 or 3.1 document (YAML/JSON)"
    )
    operation: str | None = Field(default=None, description="operationId; default: method and path")
    probes: tuple[Name, ...] = Field(default=(), description="default: every http probe")

    @field_validator("json_schema")
    @classmethod
    def _schema_file(cls, value: str | None) -> str | None:
        if value is not None:
            check_contract_file(value, openapi=False)
        return value

    @field_validator("openapi")
    @classmethod
    def _openapi_file(cls, value: str | None) -> str | None:
        if value is not None:
            check_contract_file(value, openapi=True)
        return value

    @model_validator(mode="after")
    def _one_contract(self) -> ApiContract:
        if self.json_schema is not None and self.openapi is not None:
            raise ValueError("give one contract: schema or openapi, not both")
        if self.operation is not None and self.openapi is None:
            raise ValueError("operation names an operation of an openapi document")
        return self

    @property
    def source(self) -> str | None:
        return self.json_schema or self.openapi


@dataclass(frozen=True, slots=True)
class ApiContractPolicy:
    """Checks each run's JSON body against the contract; only masked text leaves it.

    ``steps`` gives each step of a flow the operation it calls; a step the contract does not
    describe is not judged.
    """

    source: str
    schema: Validator | None = field(default=None, compare=False)
    operation: Operation | None = field(default=None, compare=False)
    steps: Mapping[str, Operation] = field(default_factory=dict, compare=False)
    name: str = NAME

    def evaluate(self, run: RunView) -> Finding:
        if not self.steps:
            return combine([(answer, self._judge(answer.facts)) for answer in run.answers()])
        judged = [
            (answer, replace(self, operation=operation, steps={})._judge(answer.facts))
            for answer in run.answers()
            if answer.request is not None
            and (operation := self.steps.get(answer.request.step)) is not None
        ]
        if not judged:
            return Finding(NAME, Compliance.NOT_APPLICABLE, "no step the contract describes ran")
        return combine(judged)

    def _judge(self, facts: Mapping[str, Any]) -> Finding:
        status = facts.get("STATUS")
        if status is None:
            return Finding(NAME, Compliance.NOT_APPLICABLE, "no answer to check in this run")
        if self.operation is None and not 200 <= int(status) < 300:
            return Finding(
                NAME, Compliance.NOT_APPLICABLE, f"answered {status}; the schema describes 2xx"
            )
        validator, described = self._validator_for(int(status))
        if not described:
            if int(status) >= 500:
                return Finding(
                    NAME,
                    Compliance.NOT_APPLICABLE,
                    f"answered {status}, an outage rather than a contract change",
                )
            return Finding(
                NAME,
                Compliance.FAIL,
                f"answered {status}, a status {self._what()} does not describe",
                f"status {status}",
            )
        if validator is None:
            return Finding(NAME, Compliance.PASS, self._ok(status))
        body = facts.get("BODY")
        if body is None:
            return Finding(NAME, Compliance.NOT_APPLICABLE, "no body read in this run")
        try:
            data = body.json() if hasattr(body, "json") else json.loads(str(body))
        except ValueError:
            return Finding(NAME, Compliance.FAIL, f"the {status} answer is not JSON", "")
        errors = list(validator.iter_errors(data))
        if not errors:
            return Finding(NAME, Compliance.PASS, self._ok(status))
        worst = best_match(errors)
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in worst.absolute_path)
        text = mask_cards(f"{('$' + where) if where else 'the body'}: {worst.message}")
        if len(text) > 200:
            text = text[:197] + "..."
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return Finding(
            NAME,
            Compliance.FAIL,
            f"the {status} answer does not match {self._what()}: {text}{more}",
            text,
        )

    def _validator_for(self, status: int) -> tuple[Validator | None, bool]:
        if self.operation is None:  # a JSON Schema describes the successful answer
            return self.schema, True
        responses = self.operation.responses
        for key in (str(status), f"{status // 100}XX", "DEFAULT"):
            if key in responses:
                return responses[key], True
        return None, False

    def _what(self) -> str:
        if self.operation is not None:
            return f"the contract {self.operation.label} in {Path(self.source).name}"
        return Path(self.source).name

    def _ok(self, status: object) -> str:
        return f"the {status} answer matches {self._what()}"


def _attach(block: ApiContract, site: Site) -> int:
    source = block.source
    if source is None:
        return 0
    if block.json_schema is not None and not block.probes:
        site.problem(
            NAME,
            "json_schema",
            "a schema describes one response: name the probes it is for (api_contract.probes)",
        )
        return 0
    names = block.probes or tuple(t.name for t in site.targets if t.spec.all_requests(t.settings))
    count = 0
    for target in site.named(NAME, names):
        if block.json_schema is not None and target.spec.request(target.settings) is None:
            site.problem(
                NAME,
                "probes",
                f"a schema describes one response; {target.name} sends several: "
                "describe them in an OpenAPI document (api_contract.openapi)",
            )
            continue
        policy = _policy(block, source, site, target)
        if policy is None:
            if block.probes:  # named: it must be in the contract
                requests = target.spec.all_requests(target.settings)
                said = ", ".join(f"{r.method} {URL(r.url).path}" for r in requests)
                site.problem(NAME, "probes", f"no operation for {said} ({target.name}) in {source}")
            continue
        site.attach(target, policy)
        count += 1
    return count


def _policy(block: ApiContract, source: str, site: Site, target: Any) -> Policy | None:
    document = site.document(source)
    if block.json_schema is not None:
        return ApiContractPolicy(source, schema=schema_validator(document))
    request = target.spec.request(target.settings)
    if request is not None:
        operation = find_operation(
            document, source, request.method, URL(request.url).path, block.operation
        )
        return None if operation is None else ApiContractPolicy(source, operation=operation)
    steps = {
        r.step: operation
        for r in target.spec.all_requests(target.settings)
        if (
            operation := find_operation(
                document, source, r.method, URL(r.url).path, block.operation
            )
        )
        is not None
    }
    return ApiContractPolicy(source, steps=steps) if steps else None


def _unattached(block: ApiContract, scope: str) -> str:
    if block.source:
        return f"no probe of this integration calls an operation of {block.source}"
    return "no contract configured (compliance.api_contract)"


SPEC = PolicySpec(
    name=NAME,
    title="Partner responses match their published contract",
    remedy="The partner changed its API without notice: tell the partner's contact and the "
    "team that owns the integration before payments or lookups start failing.",
    block=ApiContract,
    attach=_attach,
    unattached=_unattached,
)
