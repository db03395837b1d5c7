"""api_contract: a partner's response matches its published JSON Schema or OpenAPI 3 contract.

A schema describes one response, so it names the probes it is for; an OpenAPI document
attaches to every http probe whose method and path it describes (or to the named ones, which
must be in it). The document is read once per plan and checked by agent/policies/contract.py.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from pydantic import Field, field_validator, model_validator
from yarl import URL

from agent.fields import Name
from agent.policies.base import Block, Policy, PolicySpec, Site

NAME = "api_contract"


def _contracts() -> ModuleType:
    """agent/policies/contract.py, loaded when a config names a contract: it needs jsonschema,
    which a config without one does not pay for."""
    return importlib.import_module("agent.policies.contract")


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
            _contracts().check_contract_file(value, openapi=False)
        return value

    @field_validator("openapi")
    @classmethod
    def _openapi_file(cls, value: str | None) -> str | None:
        if value is not None:
            _contracts().check_contract_file(value, openapi=True)
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
    contracts = _contracts()
    document = site.document(source)
    if block.json_schema is not None:
        return contracts.ApiContractPolicy(source, schema=contracts.schema_validator(document))
    request = target.spec.request(target.settings)
    if request is not None:
        operation = contracts.find_operation(
            document, source, request.method, URL(request.url).path, block.operation
        )
        return (
            None if operation is None else contracts.ApiContractPolicy(source, operation=operation)
        )
    steps = {
        r.step: operation
        for r in target.spec.all_requests(target.settings)
        if (
            operation := contracts.find_operation(
                document, source, r.method, URL(r.url).path, block.operation
            )
        )
        is not None
    }
    return contracts.ApiContractPolicy(source, steps=steps) if steps else None


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
