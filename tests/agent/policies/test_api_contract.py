"""api_contract: a partner's answers checked against its JSON Schema or OpenAPI 3 document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.peers.http_servers import Running
from tests.peers.partner import config, judge, status_of, write

KEY = "p/partner"
BALANCE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["currency", "available"],
    "properties": {"currency": {"type": "string"}, "available": {"type": "number"}},
}
STATUS_OP = "the contract GET /status/{code} in partner.yaml"
RELAXED = {**BALANCE, "properties": {"available": {"type": ["number", "string"]}}}


def openapi(version: str = "3.0.3") -> dict[str, Any]:
    nullable = {"nullable": True} if version.startswith("3.0") else {}
    reference = {"type": "string", **nullable} if nullable else {"type": ["string", "null"]}
    return {
        "openapi": version,
        "info": {"title": "partner", "version": "1"},
        "servers": [{"url": "https://partner.example/api"}],
        "paths": {
            "/ok": {
                "post": {
                    "operationId": "createPayment",
                    "responses": {
                        "201": {"$ref": "#/components/responses/Created"},
                        "200": {
                            "description": "done",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Payment"}
                                }
                            },
                        },
                    },
                }
            },
            "/status/{code}": {
                "get": {"responses": {"2XX": {"description": "fine"}, "404": {"description": "no"}}}
            },
        },
        "components": {
            "responses": {
                "Created": {
                    "description": "created",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Payment"}}
                    },
                }
            },
            "schemas": {
                "Payment": {
                    "type": "object",
                    "required": ["id", "status", "reference"],
                    "properties": {
                        "id": {"type": "string"},
                        "status": {"enum": ["accepted", "rejected"]},
                        "reference": reference,
                    },
                }
            },
        },
    }


def contract_config(url: str, contract: str, probes: str = "[api]", method: str = "GET") -> str:
    return config(
        f"""      partner:
        scope: internal
        compliance: {{api_contract: {{{contract}, probes: {probes}}}}}
        probes:
          api:
            conditions: ["[STATUS] < 600"]
            http: {{url: "{url}", method: {method}}}
"""
    )


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (RELAXED, ("pass", "api: the 200 answer matches balance.json")),
        (
            BALANCE,
            (
                "fail",
                "api: the 200 answer does not match balance.json: $.available: '1520.00' is "
                "not of type 'number'",
            ),
        ),
    ],
    ids=["matches", "field-changed"],
)
async def test_json_schema(
    partner: Running, tmp_path: Path, schema: dict[str, Any], expected: tuple[str, str]
) -> None:
    path = write(tmp_path / "balance.json", schema)
    _, _, view = await judge(contract_config(partner.url("/balance"), f"schema: {path}"))
    assert status_of(view, KEY, "api_contract") == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/balance", None),
        ("/text", ("fail", "api: the 200 answer is not JSON")),
        ("/status/404", ("not_applicable", "api: answered 404; the schema describes 2xx")),
    ],
)
async def test_json_schema_edges(
    partner: Running, tmp_path: Path, path: str, expected: tuple[str, str] | None
) -> None:
    schema = write(tmp_path / "any.json", {"type": "object"})
    _, _, view = await judge(contract_config(partner.url(path), f"schema: {schema}"))
    assert status_of(view, KEY, "api_contract") == (
        expected or ("pass", "api: the 200 answer matches any.json")
    )


@pytest.mark.parametrize("version", ["3.0.3", "3.1.0"])
@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        # ``reference`` is missing from the answer: the partner dropped a required field
        (
            "POST",
            "/ok",
            (
                "fail",
                "api: the 200 answer does not match the contract createPayment (POST /ok) in "
                "partner.yaml: the body: 'reference' is a required property",
            ),
        ),
        (
            "GET",
            "/status/204",
            ("pass", "api: the 204 answer matches the contract GET /status/{code} in partner.yaml"),
        ),
        (
            "GET",
            "/status/404",
            ("pass", "api: the 404 answer matches the contract GET /status/{code} in partner.yaml"),
        ),
        (
            "GET",
            "/status/409",
            (
                "fail",
                f"api: answered 409, a status {STATUS_OP} does not describe",
            ),
        ),
        (
            "GET",
            "/status/503",
            ("not_applicable", "api: answered 503, an outage rather than a contract change"),
        ),
    ],
    ids=["missing-field", "2XX", "404", "undocumented-409", "outage-503"],
)
async def test_openapi(
    partner: Running,
    tmp_path: Path,
    version: str,
    method: str,
    path: str,
    expected: tuple[str, str],
) -> None:
    document = write(tmp_path / "partner.yaml", openapi(version))  # JSON is YAML too
    text = contract_config(partner.url(path), f"openapi: {document}", "[]", method)
    _, _, view = await judge(text)
    assert status_of(view, KEY, "api_contract") == expected


async def test_openapi_nullable_and_refs_validate_a_good_answer(tmp_path: Path) -> None:
    from agent.policies.base import RunView
    from agent.policies.contract import ApiContractPolicy, find_operation
    from agent.probers.http_facts import Body

    for version in ("3.0.3", "3.1.0"):
        operation = find_operation(openapi(version), "p.yaml", "POST", "/api/ok", None)
        assert operation is not None  # found under the server's base path /api
        policy = ApiContractPolicy("p.yaml", operation=operation)
        body = Body('{"id": "x", "status": "accepted", "reference": null}')
        finding = policy.evaluate(RunView(True, {"STATUS": 201, "BODY": body}, {}, {}))
        assert finding.status.value == "pass", (version, finding)
        bad = Body('{"id": "x", "status": "lost", "reference": null}')
        finding = policy.evaluate(RunView(True, {"STATUS": 201, "BODY": bad}, {}, {}))
        assert finding.reason.endswith("$.status: 'lost' is not one of ['accepted', 'rejected']")


def test_an_operation_is_found_by_method_and_path_or_named() -> None:
    from agent.policies.contract import find_operation

    document = openapi()
    named = find_operation(document, "p.yaml", "GET", "/elsewhere", "createPayment")
    assert named is not None and named.label == "createPayment (POST /ok)"
    assert sorted(named.responses) == ["200", "201"]
    templated = find_operation(document, "p.yaml", "GET", "/status/418", None)
    assert templated is not None and templated.label == "GET /status/{code}"
    assert find_operation(document, "p.yaml", "DELETE", "/ok", None) is None
    assert find_operation(document, "p.yaml", "GET", "/status/1/2", None) is None


async def test_a_contract_error_never_quotes_a_card_number(
    partner: Running, tmp_path: Path
) -> None:
    schema = write(
        tmp_path / "leak.json",
        {"type": "object", "properties": {"card": {"type": "integer"}}},
    )
    _, _, view = await judge(contract_config(partner.url("/leak"), f"schema: {schema}"))
    status, reason = status_of(view, KEY, "api_contract")
    assert status == "fail"
    assert "'**** **** **** 1111' is not of type 'integer'" in reason
    assert "4111" not in reason.replace("**** **** **** 1111", "")
