"""The partners' published API contracts the demo checks them against, and the demo token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

TOKEN = "demo-token-4b1d-not-a-secret"  # the bearer token the demo's protected routes want

# The payment processor's OpenAPI document: its answers match it.
PAYMENTS_OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Payment processor API", "version": "2.3.0"},
    "servers": [{"url": "https://payment-processor.demo.test"}],
    "paths": {
        "/v1/payments": {
            "post": {
                "operationId": "createPayment",
                "responses": {
                    "201": {
                        "description": "the payment was accepted for processing",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Payment"}}
                        },
                    },
                    "401": {"description": "no or bad credentials"},
                },
            }
        }
    },
    "components": {
        "schemas": {
            "Payment": {
                "type": "object",
                "required": ["id", "status"],
                "properties": {
                    "id": {"type": "string"},
                    "status": {"type": "string", "enum": ["accepted", "rejected", "pending"]},
                    "reference": {"type": "string", "nullable": True},
                },
            }
        }
    },
}

# The core ledger's balance response as published: ``available`` is a number. The simulated
# ledger now sends a string, as a partner that changes a field without notice would.
BALANCE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Account balance",
    "type": "object",
    "required": ["currency", "available"],
    "properties": {
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "available": {"type": "number", "description": "available balance, in currency units"},
    },
}

CONTRACTS = {"payments_openapi": PAYMENTS_OPENAPI, "balance_schema": BALANCE_SCHEMA}


def write_demo_files(workdir: Path) -> None:
    """Each contract as a file (OpenAPI as YAML, JSON Schema as JSON) and the token file."""
    for name, document in CONTRACTS.items():
        contract_path(workdir, name).write_text(
            yaml.safe_dump(document, sort_keys=False)
            if "openapi" in document
            else json.dumps(document, indent=2)
        )
    token_path(workdir).write_text(TOKEN + "\n")


def contract_path(workdir: Path, name: str) -> Path:
    suffix = "yaml" if "openapi" in CONTRACTS[name] else "json"
    return workdir / f"contract-{name}.{suffix}"


def token_path(workdir: Path) -> Path:
    return workdir / "demo-token"
