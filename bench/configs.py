"""Agent configs with N HTTP integrations on one interval, every feature on."""

from __future__ import annotations

PATTERNS = ("bill_pay", "account", "client")


def agent_yaml(
    listen: str, target_urls: list[str], interval: float, timeout: float, histograms: bool = False
) -> str:
    """One http probe per integration, spread over the three patterns, with conditions
    (status and body, what blackbox's module checks), latency thresholds, an owner and a
    runbook: phases, conditions, thresholds, state, store and metrics all do their work.
    ``histograms`` adds every probe's run-duration histogram (agent.histograms)."""
    lines = [
        "agent:",
        f'  listen: "{listen}"',
        f"  interval: {round(interval * 1000)}ms",
        f"  timeout: {round(timeout * 1000)}ms",
        "  concurrency: 1024",
        "  name: bench",
        "  labels: {cluster: bench}",
        *(["  histograms: true"] if histograms else []),
        "patterns:",
    ]
    per_pattern: dict[str, list[tuple[int, str]]] = {p: [] for p in PATTERNS}
    for index, url in enumerate(target_urls):
        per_pattern[PATTERNS[index % len(PATTERNS)]].append((index, url))
    for pattern, members in per_pattern.items():
        if not members:
            continue
        lines += [f"  {pattern}:", f"    owner: {pattern}-team", "    integrations:"]
        for index, url in members:
            lines += [
                f"      i{index}:",
                f"        scope: {'external' if index % 2 else 'internal'}",
                "        criticality: high",
                f"        runbook: https://runbooks.example.com/{pattern}/i{index}",
                "        probes:",
                "          health:",
                f"            http: {{url: '{url}'}}",
                '            conditions: ["[STATUS] == 200", "[BODY] contains ok"]',
                "            thresholds: {latency: {warning: 300ms, critical: 1s}}",
            ]
    return "\n".join(lines) + "\n"
