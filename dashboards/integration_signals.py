"""Integration detail, signals: latency by phase, HTTP status, certificates and TLS, probes."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import statetimeline, table, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as model

from dashboards.common import Query, panel, stat_panel
from dashboards.fields import (
    fixed_color,
    prop,
    status_code_mappings,
    threshold_line_overrides,
    thresholds,
    value_text,
)
from dashboards.promql import DAY, threshold

SEL = 'agent=~"$agent", pattern="$pattern", integration="$integration"'
PROBES = f'{SEL}, probe=~"$probe"'


def latency() -> list[Any]:
    phases = panel(
        timeseries.Panel(),
        "Latency by phase",
        "Each phase of the last run of each probe (resolve, connect, tls, processing, "
        "transfer; other kinds their own), the whole run, and the probe's warning and critical "
        "latency thresholds as the agent was configured (dashed).",
        "s",
        Query(
            f"max by (probe, phase) (probe_http_duration_seconds{{{PROBES}}})\n"
            f"or max by (probe, phase) (oversight_probe_phase_duration_seconds{{{PROBES}}})",
            "{{probe}} {{phase}}",
        ),
        Query(f"max by (probe) (probe_duration_seconds{{{PROBES}}})", "{{probe}} total"),
        Query(
            threshold(PROBES, "latency"),
            "{{probe}} {{severity}} threshold",
        ),
        w=16,
        h=9,
    ).axis_soft_min(0)
    for matcher, properties in threshold_line_overrides(["C"]):
        phases = phases.with_override(matcher, properties)
    percentiles = panel(
        timeseries.Panel(),
        "Run duration percentiles (5m)",
        "50th, 95th and 99th percentile over 5 minutes of the last-run durations "
        "(probe_duration_seconds) the scrapes saw, of the integration's slowest probe "
        "(recording rules integration:probe_duration_seconds:p95_5m and p99_5m). They need no "
        "histogram: the agent exports one only where agent.histograms or a probe's histogram "
        "asks for it.",
        "s",
        Query(
            f"max(quantile_over_time(0.5, probe_duration_seconds{{{SEL}}}[5m]))",
            "p50",
        ),
        Query(f"max(integration:probe_duration_seconds:p95_5m{{{SEL}}})", "p95"),
        Query(f"max(integration:probe_duration_seconds:p99_5m{{{SEL}}})", "p99"),
        w=8,
        h=9,
    ).axis_soft_min(0)
    return [phases, percentiles]


def http_tls() -> list[Any]:
    status = (
        panel(
            statetimeline.Panel(),
            "HTTP status code",
            "Status code of each HTTP probe's last response: 2xx green, 3xx blue, 4xx orange, "
            "5xx red.",
            "none",
            Query(f"max by (probe) (probe_http_status_code{{{PROBES}}})", "{{probe}}"),
            w=8,
            h=7,
        )
        .mappings(status_code_mappings())
        .show_value(cm.VisibilityMode.AUTO)
        .merge_values(True)
        .thresholds(thresholds("red", (100, "text")))
        .legend(cb.VizLegendOptions().show_legend(False))
        .no_value("no HTTP probe")
    )
    days_left = (
        stat_panel(
            "Certificate expires in",
            "Days until the earliest certificate in the chain each TLS-speaking probe saw "
            "expires (probe_ssl_earliest_cert_expiry). Red under 7 days, orange under 30.",
            "d",
            Query(
                f"min by (probe) (probe_ssl_earliest_cert_expiry{{{PROBES}}} - time()) / {DAY}",
                "{{probe}}",
                instant=True,
            ),
            w=4,
            h=7,
        )
        .decimals(1)
        .thresholds(thresholds("red", (7, "orange"), (30, "green")))
        .no_value("no TLS")
    )
    expiry = (
        panel(
            timeseries.Panel(),
            "Certificate days left",
            "Days until the earliest certificate expires, per probe, with the integration's "
            "warning and critical cert_expiry thresholds as the agent was configured (dashed).",
            "d",
            Query(
                f"min by (probe) (probe_ssl_earliest_cert_expiry{{{PROBES}}} - time()) / {DAY}",
                "{{probe}}",
            ),
            Query(
                f"{threshold(SEL, 'cert_expiry', 'severity')} / {DAY}",
                "{{severity}} threshold",
            ),
            w=8,
            h=7,
        )
        .axis_soft_min(0)
        .no_value("no TLS")
    )
    for matcher, properties in threshold_line_overrides(["B"]):
        expiry = expiry.with_override(matcher, properties)
    tls = (
        stat_panel(
            "TLS version",
            "TLS version each probe negotiated on its last run; red for TLS 1.0 and 1.1.",
            "none",
            Query(
                f"max by (probe, version) (probe_tls_version_info{{{PROBES}}})",
                "{{probe}}: {{version}}",
                instant=True,
            ),
            w=4,
            h=7,
        )
        .text_mode(cm.BigValueTextMode.NAME)
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .thresholds(thresholds("green"))
        .override_by_regexp(".*TLS 1\\.[01]$|.*SSL.*", [fixed_color("red")])
        .no_value("no TLS")
    )
    return [status, days_left, expiry, tls]


def probes() -> Any:
    organize = {
        "excludeByName": {"Time": True, "Value #A": True},
        "renameByName": {
            "interval": "Interval (s)",
            "Value #B": "Last run",
            "Value #C": "Last run took",
        },
        "indexByName": {
            "probe": 0,
            "kind": 1,
            "target": 2,
            "Interval (s)": 3,
            "Last run": 4,
            "Last run took": 5,
        },
    }
    return (
        panel(
            table.Panel(),
            "Probes",
            "What each probe checks (kind and target, secrets removed), how often (seconds), "
            "whether its last run succeeded and how long it took.",
            "s",
            Query(
                f"max by (probe, kind, target, interval) (oversight_probe_info{{{PROBES}}})",
                instant=True,
                table=True,
            ),
            Query(
                f"min by (probe) (probe_success{{{PROBES}}})",
                instant=True,
                table=True,
            ),
            Query(
                f"max by (probe) (probe_duration_seconds{{{PROBES}}})",
                instant=True,
                table=True,
            ),
            w=24,
            h=6,
        )
        .with_transformation(model.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(model.DataTransformerConfig(id_val="organize", options=organize))
        .override_by_name(
            "Last run",
            [
                prop("unit", "none"),
                prop("mappings", value_text(("1", "success", "green"), ("0", "failure", "red"))),
                prop("custom.cellOptions", {"type": "color-text"}),
            ],
        )
    )
