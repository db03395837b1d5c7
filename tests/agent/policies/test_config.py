"""The compliance and audit config: defaults, overrides per pattern and integration, and
every mistake a config error at its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import ConfigError
from tests.peers.partner import config, plan_of, write

TWO = """      front:
        scope: external
{front}        probes:
          api: {{http: {{url: "https://front.test/a"}}}}
      back:
        scope: internal
        probes:
          api: {{http: {{url: "http://back.test/b"}}}}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        plan_of(text)
    return [str(p) for p in caught.value.problems]


def test_defaults_apply_everywhere() -> None:
    plan = plan_of(config(TWO.format(front="")))
    assert plan.compliance.enabled and plan.compliance.window == 3600
    front = plan.compliance.integrations["p/front"]
    assert front.policies == (
        "tls_min_version",
        "cert_min_days_left",
        "https_required",
        "security_headers",
        "auth_required",
        "no_sensitive_data",
        "api_contract",
        "latency_sla",
        "availability_slo",
    )
    latency, availability = front.blocks["latency_sla"], front.blocks["availability_slo"]
    assert (latency.max, latency.percentile, latency.min_runs) == (1.0, 0.95, 10)  # type: ignore[attr-defined]
    assert availability.min_runs == 10  # type: ignore[attr-defined]
    assert front.window_limit == 1.0
    names = {p.name for p in plan.probes["p/front/api"].policies}  # type: ignore[attr-defined]
    assert names == {
        "tls_min_version",
        "cert_min_days_left",
        "https_required",
        "security_headers",
        "no_sensitive_data",
    }
    back = {p.name for p in plan.probes["p/back/api"].policies}  # type: ignore[attr-defined]
    assert back == {"security_headers", "no_sensitive_data"}  # no TLS; https only for external
    assert plan.compliance.integrations["p/back"].unattached["https_required"] == (
        "applies to external integrations; this one is internal"
    )
    assert plan.audit is None


def test_overrides_layer_top_then_pattern_then_integration() -> None:
    top = (
        "compliance:\n  window: 10m\n  latency_sla: {max: 300ms, percentile: 99%}\n"
        "  security_headers: {headers: [X-Frame-Options]}\n"
    )
    pattern = "    compliance: {latency_sla: {max: 2s}, cert_min_days_left: {enabled: false}}\n"
    front = "        compliance: {latency_sla: {enabled: false}, https_required: {scopes: []}}\n"
    plan = plan_of(config(TWO.format(front=front), top=top, pattern=pattern))
    front_settings = plan.compliance.integrations["p/front"]
    back_settings = plan.compliance.integrations["p/back"]
    assert plan.compliance.window == 600
    assert "latency_sla" not in front_settings.policies
    assert "cert_min_days_left" not in back_settings.policies
    latency = back_settings.blocks["latency_sla"]
    assert (latency.max, latency.percentile) == (2.0, 0.99)  # type: ignore[attr-defined]
    headers = next(
        p
        for p in plan.probes["p/back/api"].policies
        if getattr(p, "name", "") == "security_headers"
    )
    assert headers.headers == ("X-Frame-Options",)  # type: ignore[attr-defined]


def test_compliance_can_be_turned_off() -> None:
    plan = plan_of(config(TWO.format(front=""), top="compliance: {enabled: false}\n"))
    assert not plan.compliance.enabled
    assert all(p.policies == () for p in plan.probes.values())


def test_audit_block() -> None:
    plan = plan_of(
        config(TWO.format(front=""), top="audit: {path: /var/lib/o/audit.jsonl, max_bytes: 1MiB}\n")
    )
    assert plan.audit is not None
    assert (plan.audit.path, int(plan.audit.max_bytes), plan.audit.keep) == (
        "/var/lib/o/audit.jsonl",
        1 << 20,
        5,
    )


def test_every_mistake_is_said_at_its_line(tmp_path: Path) -> None:
    bad_schema = write(tmp_path / "bad.json", {"type": "objekt"})
    not_openapi = write(tmp_path / "swagger.json", {"swagger": "2.0", "paths": {}})
    front = f"""        compliance:
          tls_min_version: {{min_version: TLS1.5}}
          no_sensitive_data: {{patterns: {{iban: "[A-Z"}}}}
          auth_required: {{probes: [api, nope]}}
          api_contract: {{schema: {bad_schema}, probes: [api]}}
          security_headers: {{headerz: [X]}}
"""
    top = f"compliance: {{api_contract: {{openapi: {not_openapi}}}}}\naudit: {{path: ''}}\n"
    front_path = "patterns.p.integrations.front.compliance"
    assert problems(config(TWO.format(front=front), top=top)) == [
        f"oversight.yaml:1: compliance.api_contract.openapi: {not_openapi} is not an OpenAPI 3 "
        "document (no 'openapi: 3.x' at the top)",
        "oversight.yaml:2: audit.path: String should have at least 1 character (got '')",
        f"oversight.yaml:10: {front_path}.tls_min_version.min_version: Input should be "
        "'TLS1.0', 'TLS1.1', 'TLS1.2' or 'TLS1.3' (got 'TLS1.5')",
        f"oversight.yaml:11: {front_path}.no_sensitive_data.patterns: pattern 'iban' is not a "
        "regular expression: unterminated character set at position 0",
        f"oversight.yaml:13: {front_path}.api_contract.schema: {bad_schema} is not a valid JSON "
        "Schema at type: 'objekt' is not valid under any of the given schemas",
        f"oversight.yaml:14: {front_path}.security_headers: unknown key 'headerz'; "
        "did you mean 'headers'?",
    ]


def test_mistakes_found_when_the_plan_is_built(tmp_path: Path) -> None:
    schema = write(tmp_path / "ok.json", {"type": "object"})
    document = write(
        tmp_path / "api.json", {"openapi": "3.1.0", "paths": {"/other": {"get": {"responses": {}}}}}
    )
    front = f"""        compliance:
          auth_required: {{probes: [api, nope]}}
          api_contract: {{openapi: {document}, probes: [api]}}
"""
    back = f"    compliance: {{api_contract: {{schema: {schema}}}}}\n"
    assert problems(config(TWO.format(front=front), pattern=back)) == [
        "oversight.yaml:4: patterns.p.compliance.api_contract.schema: a schema describes one "
        "response: name the probes it is for (api_contract.probes)",
        "oversight.yaml:9: patterns.p.integrations.front.compliance.auth_required.probes[1]: "
        "'nope' is not a probe of p/front",
        "oversight.yaml:10: patterns.p.integrations.front.compliance.api_contract.probes: "
        f"no operation for GET /a (api) in {document}",
    ]
