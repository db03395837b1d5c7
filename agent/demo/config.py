"""The agent config that watches the demo's integrations: built from the topology and live ports."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import yaml

from agent.demo.capacity import CLIENT_CERT, CLIENT_KEY, TOKEN
from agent.demo.contracts import contract_path, token_path
from agent.demo.flows import flow_probes
from agent.demo.topology import PATTERNS, IntegrationSpec

INTERVAL = "5s"
TIMEOUT = "2s"
LATENCY = {"warning": "250ms", "critical": "1s"}
CERT_EXPIRY = {"warning": "30d", "critical": "7d"}
UTILISATION = {"warning": "80%", "critical": "95%"}
NODE_UTILISATION = {"warning": "90%", "critical": "98%"}
TOKEN_EXPIRY = {"warning": "1d", "critical": "6h"}
COMPLIANCE_WINDOW = "10m"  # short, so the demo's outages move the availability and SLA checks


class Live(Protocol):
    """What the config needs to know of a running service."""

    spec: IntegrationSpec
    port: int
    line_port: int | None


def agent_config(
    services: Iterable[Live],
    ca_file: Path,
    *,
    listen: str | None = None,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Plain data in the shape of ``agent.config.models.Config``, ready for ``yaml.safe_dump``.

    With ``workdir`` (where the contracts and token were written) it also probes the business
    routes, runs the pay-a-bill flow across them, checks them for compliance and keeps the
    audit log there.
    """
    live = {s.spec.key: s for s in services}
    agent: dict[str, Any] = {} if listen is None else {"listen": listen}
    agent |= {"interval": INTERVAL, "timeout": TIMEOUT, "labels": {"environment": "demo"}}
    patterns: dict[str, Any] = {}
    for pattern in PATTERNS:
        members = {
            i.name: _integration(live[i.key], str(ca_file), workdir)
            for i in pattern.integrations
            if i.key in live
        }
        if members:
            patterns[pattern.name] = {
                "owner": pattern.owner,
                "description": pattern.description,
                "integrations": members,
            }
    if workdir is not None:
        for key, probes in flow_probes(live, str(ca_file), workdir).items():
            owner, name = key.split("/")
            patterns[owner]["integrations"][name]["probes"] |= probes
    config: dict[str, Any] = {"agent": agent}
    if workdir is not None:
        config["compliance"] = {"window": COMPLIANCE_WINDOW}
        config["audit"] = {"path": str(workdir / "audit.jsonl")}
    return config | {"patterns": patterns}


def _integration(service: Live, ca_file: str, workdir: Path | None = None) -> dict[str, Any]:
    spec = service.spec
    block: dict[str, Any] = {
        "scope": spec.scope,
        "criticality": spec.criticality,
        "owner": spec.owner,
        "runbook": spec.runbook,
        "description": spec.description,
    }
    if spec.depends_on:
        block["depends_on"] = list(spec.depends_on)
    block["probes"] = _probes(service, ca_file) | _capacity_probes(service, workdir)
    if workdir is not None:
        probes, compliance = _business_probes(service, ca_file, workdir)
        block["probes"] |= probes
        if compliance:
            block["compliance"] = compliance
    return block


def _business_probes(
    service: Live, ca_file: str, workdir: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A probe per business route the topology marks, and the compliance settings they need:
    protected endpoints for auth_required, contracts for api_contract."""
    spec = service.spec
    scheme = "https" if spec.tls else "http"
    probes: dict[str, Any] = {}
    protected: list[str] = []
    compliance: dict[str, Any] = {}
    for route in spec.routes:
        if route.probe is None:
            continue
        http: dict[str, Any] = {
            "url": f"{scheme}://127.0.0.1:{service.port}{route.example_path}",
            "method": route.method,
        }
        if route.method != "GET":
            http |= {"headers": {"Content-Type": "application/json"}, "body": "{}"}
        if route.protected:
            http["bearer_token_file"] = str(token_path(workdir))
            protected.append(route.probe)
        if spec.tls:
            http["tls"] = {"ca_file": ca_file, "server_name": spec.hostname}
        probes[route.probe] = _probe(
            [f"[STATUS] == {route.status}"], {"latency": LATENCY}, http=http
        )
        if route.contract is not None:
            path = str(contract_path(workdir, route.contract))
            key = "openapi" if path.endswith(".yaml") else "schema"
            compliance["api_contract"] = {key: path, "probes": [route.probe]}
    if protected:
        compliance["auth_required"] = {"probes": protected}
    return probes, compliance


def _probes(service: Live, ca_file: str) -> dict[str, Any]:
    spec = service.spec
    tls = {"ca_file": ca_file, "server_name": spec.hostname}
    http: dict[str, Any] = {
        "url": f"{'https' if spec.tls else 'http'}://127.0.0.1:{service.port}/health"
    }
    if spec.tls:
        http["tls"] = tls
    quota = {"utilisation": UTILISATION} if spec.rate_limit else {}  # from rate-limit headers
    probes: dict[str, Any] = {
        "health": _probe(
            ["[STATUS] == 200", "[BODY.status] == UP"], {"latency": LATENCY} | quota, http=http
        )
    }
    if spec.tls:
        probes["cert"] = _probe(
            [],
            {"cert_expiry": CERT_EXPIRY},
            tls={
                "address": f"127.0.0.1:{service.port}",
                "server_name": spec.hostname,
                "tls": {"ca_file": ca_file},
            },
        )
    if service.line_port is not None:
        probes["line"] = _probe(
            ["[BODY] contains PONG"],
            {"latency": LATENCY},
            tcp={
                "address": f"127.0.0.1:{service.line_port}",
                "send": "PING\n",
            },
        )
    return probes


def _capacity_probes(service: Live, workdir: Path | None) -> dict[str, Any]:
    """A DB pool read from the service's /metrics; for the service the agent sits beside, its
    node and its process (found by its port); our own credential for a partner, when the
    demo wrote it (``workdir``)."""
    spec = service.spec
    probes: dict[str, Any] = {}
    if spec.pool:
        pool = 'demo_db_pool_connections{pool="primary",state="in_use"}'
        limit = 'demo_db_pool_max_connections{pool="primary"}'
        scrape = {
            "url": f"http://127.0.0.1:{service.port}/metrics",
            "resources": {"pool:db": {"used": pool, "limit": limit}},
        }
        probes["pool"] = _probe([], {"utilisation": UTILISATION}, scrape=scrape)
    if spec.sidecar:  # the node's CPU is the machine's business: read, never a breach
        host = {"resources": ["memory", "open_fds"], "disks": [str(workdir or "/")]}
        probes["node"] = _probe([], {"utilisation": NODE_UTILISATION}, host=host)
        probes["node_cpu"] = _probe([], {}, host={"resources": ["cpu"]})
        probes["process"] = _probe([], {"utilisation": UTILISATION}, process={"port": service.port})
    if workdir is not None and spec.credential == "client_cert":
        files = {"cert_file": str(workdir / CLIENT_CERT), "key_file": str(workdir / CLIENT_KEY)}
        probes["client_cert"] = _probe([], {"credential_expiry": CERT_EXPIRY}, credential=files)
    if workdir is not None and spec.credential == "token":
        token = {"token_file": str(workdir / TOKEN)}
        probes["api_token"] = _probe([], {"credential_expiry": TOKEN_EXPIRY}, credential=token)
    return probes


def _probe(conditions: list[str], thresholds: dict[str, Any], **kind: Any) -> dict[str, Any]:
    probe: dict[str, Any] = {"interval": INTERVAL, "timeout": TIMEOUT}
    if conditions:
        probe["conditions"] = conditions
    probe["thresholds"] = copy.deepcopy(thresholds)
    return probe | kind


def to_yaml(config: dict[str, Any]) -> str:
    """The config as YAML a person reads, with a comment saying where it came from."""
    header = "# Generated by `oversight demo` for the simulated integrations on loopback.\n"
    return header + yaml.dump(config, Dumper=_Dumper, sort_keys=False, width=100)


class _Dumper(yaml.SafeDumper):
    """Plain YAML a person reads: no anchors, ``"PING\\n"`` rather than a folded block."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = '"' if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)
