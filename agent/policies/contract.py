"""Contracts: JSON Schema and OpenAPI 3 documents, read, checked and compiled for api_contract.

Documents are read and checked when the config loads (a broken one is a config error at its
line) and compiled into jsonschema validators once. An OpenAPI operation is found by the
probe's method and path (or its ``operationId``); its response schema for the status answered
(exact code, then ``2XX``, then ``default``) is validated with ``$ref``\\ s into the document
resolved by ``referencing``. OpenAPI 3.0 schemas are read as draft 4 with ``nullable``
honoured; 3.1 schemas are JSON Schema 2020-12.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, best_match
from jsonschema.protocols import Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4, DRAFT202012

from agent.policies.base import RunView, combine
from agent.policies.documents import load_document
from agent.redact import mask_cards
from agent.results import Compliance, Finding

NAME = "api_contract"

_BASE = "urn:oversight:contract"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def check_contract_file(path: str, *, openapi: bool) -> None:
    """Read and check a contract now, so a broken one is a config error at its line."""
    document = load_document(path)
    if openapi:
        _check_openapi(document, path)
    else:
        _check_schema(document, path)


def _check_schema(document: Any, path: str) -> None:
    if not isinstance(document, dict | bool):
        raise ValueError(f"{path} is not a JSON Schema (expected an object)")
    cls = validators.validator_for(document, default=Draft202012Validator)
    try:
        cls.check_schema(document)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the top level"
        raise ValueError(f"{path} is not a valid JSON Schema at {where}: {exc.message}") from None


def _check_openapi(document: Any, path: str) -> None:
    version = str(document.get("openapi", "")) if isinstance(document, dict) else ""
    if not version.startswith("3."):
        raise ValueError(f"{path} is not an OpenAPI 3 document (no 'openapi: 3.x' at the top)")
    if not isinstance(document.get("paths"), dict):
        raise ValueError(f"{path} has no 'paths' mapping")
    for template, item in document["paths"].items():
        for method, operation in (item or {}).items():
            if method not in _METHODS or not isinstance(operation, dict):
                continue
            for status, response in (operation.get("responses") or {}).items():
                schema = _response_schema(_follow(document, "", response)[1])
                if schema is not None:
                    where = f"{path}: {method.upper()} {template} {status}"
                    _check_schema(_nullable(schema) if version.startswith("3.0") else schema, where)


def _response_schema(response: Any) -> Any:
    content = response.get("content") if isinstance(response, dict) else None
    for media, body in (content or {}).items():
        if media == "application/json" or media.endswith("+json") or media == "*/*":
            return (body or {}).get("schema")
    return None


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema: ``type: [T, "null"]``."""
    if isinstance(node, list):
        return [_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True and isinstance(node.get("type"), str):
        out["type"] = [node["type"], "null"]
    return out


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation's responses: status key (``200``, ``2XX``, ``default``) -> validator."""

    label: str  # ``getBalance (GET /v1/accounts/{id}/balance)``
    responses: Mapping[str, Validator | None]


def schema_validator(document: Any) -> Validator:
    cls = validators.validator_for(document, default=Draft202012Validator)
    return cls(document)


def find_operation(
    document: Any, source: str, method: str, path: str, operation_id: str | None
) -> Operation | None:
    """The operation for ``method path`` (or ``operation_id``), compiled; None if absent."""
    version = str(document.get("openapi", ""))
    legacy = version.startswith("3.0")
    spec = DRAFT4 if legacy else DRAFT202012
    doc = _nullable(document) if legacy else document
    registry: Registry[Any] = Registry().with_resource(_BASE, spec.create_resource(doc))
    cls = Draft4Validator if legacy else Draft202012Validator
    for template, item in (doc.get("paths") or {}).items():
        for verb, op in (item or {}).items():
            if verb not in _METHODS or not isinstance(op, dict):
                continue
            if operation_id is not None:
                if op.get("operationId") != operation_id:
                    continue
            elif verb != method.lower() or not _matches(template, path, doc.get("servers")):
                continue
            responses: dict[str, Validator | None] = {}
            for status, response in (op.get("responses") or {}).items():
                pointer = _pointer("paths", template, verb, "responses", str(status))
                pointer, response = _follow(doc, pointer, response)
                schema = _response_schema(response)
                media = _media(response).replace("~", "~0").replace("/", "~1")
                ref = {"$ref": f"{_BASE}{pointer}/content/{media}/schema"}
                responses[str(status).upper()] = (
                    None if schema is None else cls(ref, registry=registry)
                )
            name = op.get("operationId") or ""
            label = f"{name} ({verb.upper()} {template})" if name else f"{verb.upper()} {template}"
            return Operation(label, responses)
    return None


def _follow(document: Any, pointer: str, node: Any) -> tuple[str, Any]:
    """A response given as ``$ref: '#/components/responses/X'``: where it really is."""
    for _ in range(10):
        ref = node.get("$ref") if isinstance(node, dict) else None
        if not isinstance(ref, str) or not ref.startswith("#/"):
            break
        pointer, node = ref, document
        for part in ref[2:].split("/"):
            key = part.replace("~1", "/").replace("~0", "~")
            node = node.get(key) if isinstance(node, dict) else None
    return pointer, node


def _media(response: Any) -> str:
    for media in (response.get("content") or {}) if isinstance(response, dict) else ():
        if media == "application/json" or media.endswith("+json") or media == "*/*":
            return str(media)
    return "application/json"


def _matches(template: str, path: str, servers: Any) -> bool:
    """Whether ``path`` is an instance of ``template``, under any server's base path."""
    pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template))
    bases = [""]
    for server in servers or ():
        url = str((server or {}).get("url", ""))
        base = re.sub(r"^[a-z]+://[^/]*", "", url).rstrip("/")
        if base and "{" not in base:
            bases.append(base)
    return any(re.fullmatch(re.escape(base) + pattern, path) for base in bases)


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
