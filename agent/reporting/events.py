"""Audit events as one line a person can read, for the Markdown, CSV and HTML reports."""

from __future__ import annotations

from typing import Any

from agent.durations import format_duration


def describe_event(event: dict[str, Any]) -> str:
    """One line a person can read for an audit event's details."""
    d = event.get("details") or {}
    kind = event.get("type", "")
    if kind == "state_changed":
        return f"{d.get('old')} → {d.get('new')}" + (f": {d['reason']}" if d.get("reason") else "")
    if kind == "compliance_changed":
        old = d.get("old") or "first check"
        return f"{d.get('policy')}: {old} → {d.get('new')}: {d.get('reason', '')}"
    if kind == "security_event":
        return f"{d.get('kind')} ({d.get('policy')}): {d.get('reason', '')}"
    if kind in ("certificate_changed", "certificate_seen"):
        fingerprint = str(d.get("fingerprint_sha256") or "")[:16]
        return f"fingerprint {fingerprint}…, issuer {d.get('issuer')}, expires {d.get('expires')}"
    if kind == "config_loaded":
        count = len(d.get("integrations", []))
        return f"digest {str(d.get('digest', ''))[:12]}…, {count} integrations"
    if kind == "config_reloaded":
        parts = [f"digest {str(d.get('digest', ''))[:12]}…"]
        for key in ("added", "removed", "changed"):
            if d.get(key):
                parts.append(f"{key} {', '.join(d[key])}")
        return "; ".join(parts)
    if kind == "agent_started":
        return f"version {d.get('version')}"
    if kind == "agent_stopped":
        return f"after {format_duration(float(d.get('uptime_seconds', 0)))}"
    return ", ".join(f"{k}={v}" for k, v in d.items())
