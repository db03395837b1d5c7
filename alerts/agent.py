"""alerts/rules/agent.yml: Oversight watching itself."""

from __future__ import annotations

from alerts.common import Group, RuleFile, about_the_agent, alert, comment, fill
from alerts.params import Params

HEADER = """
    Oversight watching itself (Prometheus >= 2.42): the agent's scrape target, its scheduler, its
    config reloads and its exporters.

    Agents: the scrape targets ${up} (--agent-selector); nothing else here depends on the job.
    Owner: these alerts belong to whoever runs the agents, here ${owner} (--agent-owner); it
    needs receivers in alerts/alertmanager.yml.
"""


def build(p: Params) -> RuleFile:
    critical = about_the_agent(p.agent_owner, "critical")
    warning = about_the_agent(p.agent_owner, "warning")
    rules = (
        alert(
            "OversightAgentDown",
            f"{p.agent_up} == 0",
            for_="2m",
            labels=critical,
            summary="Oversight agent {{ $labels.instance }} cannot be scraped",
            description="""
                Prometheus has failed to scrape the oversight agent at {{ $labels.instance }}
                (job {{ $labels.job }}) for 2 minutes: the integrations it watches are unobserved
                from there.
            """,
            runbook_url=p.runbook("agent-down"),
            dashboard_url=p.agent_dashboard,
        ),
        alert(
            "OversightAgentAbsent",
            f"absent({p.agent_up})",
            for_="5m",
            labels=critical,
            summary="No oversight agent is scraped",
            description=fill(
                """
                Prometheus has no target in ${targets} for 5 minutes: no agent is discovered, so
                no integration is watched. Check service discovery and the job name
                (alerts/README.md).
                """,
                targets=p.agent_targets,
            ),
            runbook_url=p.runbook("agent-absent"),
            dashboard_url=p.agent_dashboard,
        ),
        alert(
            "OversightSchedulerSkippingRuns",
            """
            (
                sum without (reason) (rate(oversight_scheduler_skipped_runs_total[10m]))
              /
                sum without (pattern, integration, scope, probe) (rate(oversight_probe_runs_total[10m]))
            ) > 0.01
            """,
            for_="10m",
            labels=warning,
            summary="Oversight agent {{ $labels.agent }} skips probe runs",
            description="""
                Agent {{ $labels.agent }} skipped {{ $value | humanizePercentage }} of its probe
                runs over the last 10 minutes: probes run late or not at all (too many probes,
                timeouts close to intervals, or a starved host).
            """,
            runbook_url=p.runbook("skipped-runs"),
            dashboard_url=p.agent_dashboard,
            comment="""
                More than 1% of the runs the scheduler should have started were skipped (a run
                still going at its next turn, or the event loop too busy to start it in time).
                Value: the skipped share. All runs skipped (none run) is +Inf and fires too.
            """,
        ),
        alert(
            "OversightConfigReloadFailed",
            "oversight_config_last_reload_successful == 0",
            for_="5m",
            labels=warning,
            summary="Oversight agent {{ $labels.agent }} rejected its new config",
            description="""
                The last config reload of agent {{ $labels.agent }} failed; it keeps running the
                previous config. `oversight check -c FILE` lists every problem.
            """,
            runbook_url=p.runbook("config-reload"),
            dashboard_url=p.agent_dashboard,
        ),
        alert(
            "OversightExportFailing",
            "rate(oversight_export_failures_total[5m]) > 0",
            for_="10m",
            labels=warning,
            summary=(
                "Oversight agent {{ $labels.agent }} fails to export {{ $labels.signal }} "
                "({{ $labels.exporter }})"
            ),
            description="""
                The {{ $labels.exporter }} exporter of agent {{ $labels.agent }} has failed to
                deliver {{ $labels.signal }} for 10 minutes; the agent itself keeps probing.
            """,
            runbook_url=p.runbook("export-failing"),
            dashboard_url=p.agent_dashboard,
            comment="""
                oversight_export_failures_total{exporter,signal}: an exporter (OTLP push, audit
                sink, ...) failing to deliver, every 5m window for 10 minutes. Value: failures
                per second.
            """,
        ),
    )
    return RuleFile(
        "agent.yml",
        "alerts/agent.py",
        comment(HEADER, up=p.agent_up, owner=p.agent_owner),
        (Group("oversight.agent", rules),),
    )
