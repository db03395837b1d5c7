"""Capacity panels: utilisation of what probes measure (quotas, pools, CPU, memory, disk) and
the certificates and credentials closest to expiry."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import table, timeseries
from grafana_foundation_sdk.models import dashboard as model

from dashboards.common import Query, bar_gauge, panel
from dashboards.fields import threshold_line_overrides, thresholds
from dashboards.promql import DAY, threshold

OVERVIEW = 'agent=~"$agent", pattern=~"$pattern", scope=~"$scope"'
INTEGRATION = 'agent=~"$agent", pattern="$pattern", integration="$integration"'
PROBES = f'{INTEGRATION}, probe=~"$probe"'
UTILISATION = "oversight_capacity_utilisation_ratio"


def _days_left(selector: str, by: str) -> str:
    """PromQL: days until certificates and credentials expire, the ``kind`` label saying which."""
    return (
        f"min by ({by}, kind) (\n"
        f"    label_replace(probe_ssl_earliest_cert_expiry{{{selector}}},"
        f' "kind", "certificate", "", "")\n'
        f"  or label_replace(oversight_credential_expiry_timestamp_seconds{{{selector}}},"
        f' "kind", "credential", "", "")\n'
        f") - time()"
    )


def overview() -> list[Any]:
    busiest = (
        bar_gauge(
            "Highest utilisation",
            "The ten most used resources that probes measure (rate-limit quotas, connection "
            "pools, CPU, memory, descriptors, disks; a credential: the share of its lifetime "
            "gone). Orange from 80%, red from 95%; each probe's own thresholds are on the "
            "integration dashboard.",
            "percentunit",
            Query(
                f"topk(10, max by (pattern, integration, resource) ({UTILISATION}{{{OVERVIEW}}}))",
                "{{pattern}} / {{integration}}: {{resource}}",
                instant=True,
            ),
            w=12,
            h=9,
        )
        .max(1)
        .thresholds(thresholds("green", (0.8, "orange"), (0.95, "red")))
    )
    expiring = (
        bar_gauge(
            "Expiring soonest",
            "The ten certificates (seen on the wire) and credentials (client certificates and "
            "tokens the agent reads) that expire first, in days. Red under 7 days, orange "
            "under 30.",
            "d",
            Query(
                f"bottomk(10, {_days_left(OVERVIEW, 'pattern, integration')}) / {DAY}",
                "{{pattern}} / {{integration}}: {{kind}}",
                instant=True,
            ),
            w=12,
            h=9,
        )
        .max(90)
        .decimals(1)
        .thresholds(thresholds("red", (7, "orange"), (30, "green")))
    )
    return [busiest, expiring]


def integration() -> list[Any]:
    used = (
        panel(
            timeseries.Panel(),
            "Utilisation",
            "Share of each resource in use, per probe, with the probe's warning and critical "
            "utilisation thresholds as the agent was configured (dashed).",
            "percentunit",
            Query(
                f"max by (probe, resource) ({UTILISATION}{{{PROBES}}})", "{{probe}} {{resource}}"
            ),
            Query(
                threshold(PROBES, "utilisation"),
                "{{probe}} {{severity}} threshold",
            ),
            w=12,
            h=8,
        )
        .axis_soft_min(0)
        .axis_soft_max(1)
        .no_value("no capacity measured")
    )
    for matcher, properties in threshold_line_overrides(["B"]):
        used = used.with_override(matcher, properties)
    credentials = (
        panel(
            timeseries.Panel(),
            "Credential days left",
            "Days until each client certificate or token a credential probe reads expires, with "
            "the integration's credential_expiry thresholds as the agent was configured (dashed).",
            "d",
            Query(
                "min by (probe) (oversight_credential_expiry_timestamp_seconds"
                f"{{{INTEGRATION}}} - time()) / {DAY}",
                "{{probe}}",
            ),
            Query(
                f"{threshold(INTEGRATION, 'credential_expiry', 'severity')} / {DAY}",
                "{{severity}} threshold",
            ),
            w=12,
            h=8,
        )
        .axis_soft_min(0)
        .no_value("no credential probe")
    )
    for matcher, properties in threshold_line_overrides(["B"]):
        credentials = credentials.with_override(matcher, properties)
    organize = {
        "excludeByName": {"Time": True},
        "renameByName": {"Value #A": "Used", "Value #B": "Limit", "Value #C": "Utilisation"},
        "indexByName": {"probe": 0, "resource": 1, "Used": 2, "Limit": 3, "unit": 4},
    }
    now = (
        panel(
            table.Panel(),
            "Capacity now",
            "What each probe measured last: used, limit (in the resource's unit) and their ratio.",
            "short",
            Query(
                f"max by (probe, resource, unit) (oversight_capacity_used{{{PROBES}}})",
                instant=True,
                table=True,
            ),
            Query(
                f"max by (probe, resource, unit) (oversight_capacity_limit{{{PROBES}}})",
                instant=True,
                table=True,
            ),
            Query(
                f"max by (probe, resource) ({UTILISATION}{{{PROBES}}})", instant=True, table=True
            ),
            w=24,
            h=6,
        )
        .no_value("no capacity measured")
        .with_transformation(model.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(model.DataTransformerConfig(id_val="organize", options=organize))
        .override_by_name(
            "Utilisation", [model.DynamicConfigValue(id_val="unit", value="percentunit")]
        )
    )
    return [used, credentials, now]
