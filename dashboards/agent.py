"""Agent: the watcher watched — scheduler, probe runs, exports, config and the process."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.models import common as cm

from dashboards.common import (
    Query,
    agent_variable,
    datasource_variable,
    finish,
    label_variable,
    new_dashboard,
    panel,
    stat_panel,
    with_sections,
)
from dashboards.fields import thresholds, value_text

AGENT = 'agent=~"$agent"'
INSTANCE = 'instance=~"$instance"'  # process_* and up carry no agent label, only the target's


def _now() -> list[Any]:
    version = (
        stat_panel(
            "Version",
            "Agent and Python version of each agent (oversight_build_info).",
            "none",
            Query(
                f"max by (agent, version, python_version) (oversight_build_info{{{AGENT}}})",
                "{{agent}}: {{version}} (Python {{python_version}})",
                instant=True,
            ),
            w=6,
            h=4,
        )
        .text_mode(cm.BigValueTextMode.NAME)
        .color_mode(cm.BigValueColorMode.NONE)
    )
    ready = (
        stat_panel(
            "Ready",
            "Agents ready (config loaded, scheduler running, every probe run once) out of those "
            "reporting. It speaks of the agent only, never of the integrations it watches.",
            "short",
            Query(f"sum(oversight_agent_ready{{{AGENT}}})", "ready", instant=True),
            Query(f"count(oversight_agent_ready{{{AGENT}}})", "reporting", instant=True),
            w=4,
            h=4,
        )
        .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
        .thresholds(thresholds("blue"))
    )
    reload = stat_panel(
        "Last config load",
        "Whether every agent's last config (re)load succeeded; a failed reload keeps the "
        "running config (oversight check -c FILE lists the problems).",
        "none",
        Query(f"min(oversight_config_last_reload_successful{{{AGENT}}})", "reload", instant=True),
        w=3,
        h=4,
    ).mappings(value_text(("1", "succeeded", "green"), ("0", "failed", "red")))
    loaded = stat_panel(
        "Config age",
        "Time since the oldest of the agents' configs was last loaded successfully.",
        "s",
        Query(
            f"time() - min(oversight_config_last_reload_success_timestamp_seconds{{{AGENT}}})",
            "age",
            instant=True,
        ),
        w=3,
        h=4,
    ).thresholds(thresholds("blue"))
    configured = (
        stat_panel(
            "Probes configured",
            "Configured probes by kind, all selected agents together.",
            "short",
            Query(
                f"sum by (kind) (oversight_probes_configured{{{AGENT}}})", "{{kind}}", instant=True
            ),
            w=5,
            h=4,
        )
        .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
        .thresholds(thresholds("blue"))
    )
    up = stat_panel(
        "Scraped",
        "Whether Prometheus reaches each agent's /metrics (up).",
        "none",
        Query(f"min(up{{{INSTANCE}}})", "up", instant=True),
        w=3,
        h=4,
    ).mappings(value_text(("1", "up", "green"), ("0", "down", "red")))
    return [version, ready, reload, loaded, configured, up]


def _scheduler() -> list[Any]:
    lag = panel(
        timeseries.Panel(),
        "Scheduler lag",
        "Delay between a run's scheduled time and its start, including the wait for a "
        "concurrency slot (p50 and p99). Growing lag: too many probes for the host, or "
        "concurrency too low.",
        "s",
        Query(
            "histogram_quantile(0.5, sum by (agent, le) "
            f"(rate(oversight_scheduler_lag_seconds_bucket{{{AGENT}}}[$__rate_interval])))",
            "{{agent}} p50",
        ),
        Query(
            "histogram_quantile(0.99, sum by (agent, le) "
            f"(rate(oversight_scheduler_lag_seconds_bucket{{{AGENT}}}[$__rate_interval])))",
            "{{agent}} p99",
        ),
        w=12,
        h=8,
    ).axis_soft_min(0)
    skipped = panel(
        timeseries.Panel(),
        "Skipped runs",
        "Runs the scheduler skipped per minute: overlap (the previous run still going at its "
        "next turn) or missed (started too late). Should stay at 0.",
        "opm",
        Query(
            "60 * sum by (agent, reason) "
            f"(rate(oversight_scheduler_skipped_runs_total{{{AGENT}}}[$__rate_interval]))",
            "{{agent}} {{reason}}",
        ),
        w=12,
        h=8,
    ).axis_soft_min(0)
    in_flight = panel(
        timeseries.Panel(),
        "Probes in flight",
        "Probe runs in progress at scrape time, per agent.",
        "short",
        Query(f"sum by (agent) (oversight_probes_in_flight{{{AGENT}}})", "{{agent}}"),
        w=8,
        h=8,
    ).axis_soft_min(0)
    runs = panel(
        timeseries.Panel(),
        "Probe runs",
        "Probe runs per minute, and the failed ones by reason, all integrations together.",
        "opm",
        Query(
            f"60 * sum by (agent) (rate(oversight_probe_runs_total{{{AGENT}}}[$__rate_interval]))",
            "{{agent}} runs",
        ),
        Query(
            "60 * sum by (agent, reason) "
            f"(rate(oversight_probe_failures_total{{{AGENT}}}[$__rate_interval]))\n"
            'or on () label_replace(vector(0), "reason", "none", "", "")',
            "{{agent}} failed: {{reason}}",
        ),
        w=8,
        h=8,
    ).axis_soft_min(0)
    exports = panel(
        timeseries.Panel(),
        "Export failures",
        "Exports that failed or were dropped per minute, by exporter and signal (OTLP metrics "
        "and traces); a flat 'none' line when no exporter is configured.",
        "opm",
        Query(
            "60 * sum by (agent, exporter, signal) "
            f"(rate(oversight_export_failures_total{{{AGENT}}}[$__rate_interval]))\n"
            'or on () label_replace(vector(0), "exporter", "none", "", "")',
            "{{agent}} {{exporter}} {{signal}}",
        ),
        w=8,
        h=8,
    ).axis_soft_min(0)
    return [lag, skipped, in_flight, runs, exports]


def _process() -> list[Any]:
    cpu = panel(
        timeseries.Panel(),
        "CPU",
        "CPU the agent process uses, as a share of one core.",
        "percentunit",
        Query(f"rate(process_cpu_seconds_total{{{INSTANCE}}}[$__rate_interval])", "{{instance}}"),
        w=8,
        h=8,
    ).axis_soft_min(0)
    memory = panel(
        timeseries.Panel(),
        "Memory",
        "Resident memory of the agent process.",
        "bytes",
        Query(f"process_resident_memory_bytes{{{INSTANCE}}}", "{{instance}}"),
        w=8,
        h=8,
    ).axis_soft_min(0)
    fds = panel(
        timeseries.Panel(),
        "File descriptors",
        "Open file descriptors (sockets included) as a share of the process limit.",
        "percentunit",
        Query(f"process_open_fds{{{INSTANCE}}} / process_max_fds{{{INSTANCE}}}", "{{instance}}"),
        w=8,
        h=8,
    ).axis_soft_min(0)
    return [cpu, memory, fds]


def build() -> dict[str, Any]:
    dashboard = (
        new_dashboard(
            "agent",
            "Oversight / Agent",
            "The watcher watched: readiness, config, scheduler, probe runs, exports, and the "
            "agent's own CPU, memory and file descriptors.",
        )
        .with_variable(datasource_variable())
        .with_variable(agent_variable())
        .with_variable(
            label_variable(
                "instance",
                'label_values(oversight_build_info{agent=~"$agent"}, instance)',
                "The agents' scrape targets (process metrics carry no agent label).",
                multi=True,
            )
        )
    )
    sections = (
        ("Now", _now()),
        ("Scheduler and runs", _scheduler()),
        ("Process", _process()),
    )
    return finish(with_sections(dashboard, sections))
