"""FAULTS.md and the README's reliability table from one fault run's figures."""

from __future__ import annotations

import math
from typing import Any

# The goals the run is held to (the figures): the report judges, the run measures.
GOAL_LAG = 0.25  # s, healthy probes' schedule lag p99
GOAL_HEALTHZ = 0.1  # s, /healthz p99
GOAL_OVERRUN = 1.0  # s, a run past its timeout
GOAL_LINGER = 5.0  # s, anything of a run after it ended
GOAL_RELOAD = 1.0  # s, a failed reload in the metric
GOAL_STOP = 10.0  # s, SIGTERM to exit

WINDOWS = (
    ("steady", "steady"),
    ("abuse", "1,000 idle and 200 slow clients on the listener"),
    ("reload", "broken reloads (SIGHUP, POST, 20 in a second)"),
    ("audit", "audit trail unwritable (disk full)"),
    ("otlp_closed", "OTLP collector port closed"),
    ("otlp_black_hole", "OTLP collector black-holed (accepts, never answers)"),
    ("scale", "scale"),
)


def _ms(seconds: Any) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    return f"{1000 * float(seconds):.0f} ms"


def _s(seconds: Any) -> str:
    return "never" if seconds is None else f"{float(seconds):.2f} s"


def _ok(met: bool) -> str:
    return "met" if met else "**not met**"


def goals(raw: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(figure, measured, goal, met) for every goal of the issue."""
    r = raw["results"]
    mix, scale = r["mix"], r["scale_mix"]
    rows: list[tuple[str, str, str, bool]] = []
    for key, which in (("steady", mix), ("scale", scale)):
        lag = r[key]["healthy_lag_p99"]
        rows.append(
            (
                f"healthy probes' schedule lag p99, {which['name']}, every {which['interval']:g} s",
                _ms(lag),
                f"<= {_ms(GOAL_LAG)}",
                lag <= GOAL_LAG,
            )
        )
    for key in ("abuse", "otlp_closed", "otlp_black_hole"):
        lag = r[key]["healthy_lag_p99"]
        rows.append(
            (
                f"healthy probes' schedule lag p99, {_label(key)}",
                _ms(lag),
                f"<= {_ms(GOAL_LAG)}",
                lag <= GOAL_LAG,
            )
        )
    worst = max(r[key]["healthz_p99"] for key, _ in WINDOWS)
    which = max(WINDOWS, key=lambda w: r[w[0]]["healthz_p99"])[0]
    rows.append(
        (
            "/healthz p99, worst of every case (" + _label(which) + ")",
            _ms(worst),
            f"<= {_ms(GOAL_HEALTHZ)}",
            worst <= GOAL_HEALTHZ,
        )
    )
    overrun = max(r[key]["overrun_max"] for key, _ in WINDOWS)
    rows.append(
        (
            "longest hostile run past its timeout, every case",
            _s(overrun),
            f"<= {GOAL_OVERRUN:g} s",
            overrun <= GOAL_OVERRUN,
        )
    )
    drain = r["drain"]
    gone = drain["sockets_gone_s"]
    limit = mix["timeout"] + GOAL_LINGER
    rows.append(
        (
            "hostile probes removed: their sockets gone after (runs in flight end at their "
            "timeout)",
            _s(gone),
            f"<= timeout + {GOAL_LINGER:g} s = {limit:g} s",
            gone is not None and gone <= limit,
        )
    )
    rows.append(
        (
            "then: asyncio tasks, threads, child processes",
            f"{drain['tasks_before']} -> {drain['tasks_after']}, {drain['threads_before']} -> "
            f"{drain['threads_after']}, {drain['children_after']}",
            "fewer or as many; 0 children",
            (drain["tasks_after"] or 0) <= (drain["tasks_before"] or 0)
            and drain["threads_after"] <= drain["threads_before"]
            and drain["children_after"] == 0,
        )
    )
    reload = r["reload"]
    seen = (
        max(x for x in (reload["sighup_seen_s"], reload["post_seen_s"]) if x is not None)
        if (reload["sighup_seen_s"] is not None and reload["post_seen_s"] is not None)
        else None
    )
    rows.append(
        (
            "broken reload (SIGHUP, POST) in oversight_config_last_reload_successful after",
            _s(seen),
            f"<= {GOAL_RELOAD:g} s",
            seen is not None and seen <= GOAL_RELOAD,
        )
    )
    rows.append(
        (
            "runs lost while reloading (broken, valid, 20 SIGHUPs in a second)",
            str(reload["healthy_missed"]),
            "0",
            reload["healthy_missed"] == 0,
        )
    )
    for key in ("otlp_closed", "otlp_black_hole"):
        o = r[key]
        interval = o["export_interval_s"]
        first = o["first_failure_s"]
        rows.append(
            (
                f"{_label(key)}: first failure counted after start (export every {interval:g} s)",
                _s(first),
                "<= 2 intervals + 1 s (one after the first export is due)",
                first is not None and first <= 2 * interval + 1,
            )
        )
        rows.append(
            (
                f"{_label(key)}: failed exports, spans dropped, RSS over the window",
                f"{o['failures']:.0f}, {o['dropped']:.0f}, {o['rss_start_mib']:.0f} -> "
                f"{o['rss_end_mib']:.0f} MiB",
                "counted; bounded",
                (o["failures"] or 0) > 0 and o["rss_end_mib"] <= o["rss_start_mib"] * 1.2 + 5,
            )
        )
        rows.append(
            (
                f"{_label(key)}: SIGTERM to exit",
                _s(o["stop_s"]),
                f"<= {GOAL_STOP:g} s",
                o["stop_s"] <= GOAL_STOP,
            )
        )
    audit = r["audit"]
    rows.append(
        (
            "audit trail unwritable: /readyz 503 after; write failures; runs lost; ready "
            "again after",
            f"{_s(audit['not_ready_after_s'])}; {audit['write_failures']:.0f}; "
            f"{audit['healthy_missed']}; {_s(audit['ready_again_after_s'])}",
            "says so; counted; 0; ready",
            audit["not_ready_after_s"] is not None
            and (audit["write_failures"] or 0) >= 1
            and audit["healthy_missed"] == 0
            and audit["ready_again_after_s"] is not None,
        )
    )
    for key, what in (("stop_s", mix["name"] + ", hostile runs in flight"),):
        rows.append(
            (f"SIGTERM to exit, {what}", _s(r[key]), f"<= {GOAL_STOP:g} s", r[key] <= GOAL_STOP)
        )
    return rows


def _load(meta: dict[str, Any], key: str) -> str:
    values = meta.get(key) or ()
    return " ".join(f"{v:.2f}" for v in values) or "-"


def _label(key: str) -> str:
    return dict(WINDOWS).get(key, key)


def all_met(raw: dict[str, Any]) -> bool:
    return all(met for *_, met in goals(raw))


def markdown(raw: dict[str, Any]) -> str:
    meta, r = raw["meta"], raw["results"]
    lines = [
        "# Faults: the agent among hostile targets, clients and outages",
        "",
        f"Generated by `{meta['command']}` ({meta['suite']} suite) on {meta['started']}, "
        f"{meta['minutes']:.1f} min. The tests in `tests/faults/` assert each behaviour; this "
        "run measures it, from outside the agent's process. Regenerate with "
        "`python -m bench faults` (about 10 minutes); it also rewrites the README's "
        "reliability table.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in meta["machine"].items()),
        f"| load average (1, 5, 15 min) | before {_load(meta, 'load_before')}, after "
        f"{_load(meta, 'load_after')} |",
        "",
        "The machine is shared with other work: latencies are the figures it moves most.",
        "",
        "## Method",
        "",
        f"- **Mix**: {r['mix']['name']} (every {r['mix']['interval']:g} s, timeout "
        f"{r['mix']['timeout']:g} s); **scale**: {r['scale_mix']['name']} (every "
        f"{r['scale_mix']['interval']:g} s). Healthy targets are nginx paths; the hostile ones "
        f"cycle through {len(r['behaviours'])} behaviours, each a server of its own in another "
        "process: " + ", ".join(r["behaviours"]) + ".",
        "- **Healthy probes' schedule lag**: each healthy target's hits in nginx's access log "
        "against its own interval grid (phase fitted per target), so hostile probes are left "
        "out without a series per probe. The agent's own `oversight_scheduler_lag_seconds` "
        "(every probe, healthy or not) is beside it.",
        "- **/healthz**: a GET on a fresh connection every 100 ms through every window.",
        "- **Runs past their timeout**: `probe_duration_seconds` of the hostile probes, scraped "
        "every 10 s, minus the timeout.",
        "- **Leftovers**: the hostile probes removed by a reload; the agent's sockets to the "
        "hostile servers (`/proc`), its asyncio tasks (status API), threads and children.",
        "- **Reloads**: a broken file by SIGHUP, then by `POST /-/reload`; the time until "
        "`oversight_config_last_reload_successful` says 0 (/metrics polled every 20 ms); then 20 "
        "SIGHUPs in a second, broken and valid files in turn; runs lost from nginx's log.",
        "- **OTLP**: the agent started with its collector on a closed port, or on a server that "
        "accepts and never answers; metrics every 10 s, span queue 256.",
        "- **Audit**: the audit file swapped for `/dev/full` for 20 s, then restored.",
        "",
        "## Goals",
        "",
        "| figure | measured | goal | |",
        "| --- | --- | --- | --- |",
        *(f"| {f} | {m} | {g} | {_ok(ok)} |" for f, m, g, ok in goals(raw)),
        "",
        "## Every window",
        "",
        "| case | healthy lag p99 | max | missed | agent lag p99 (all probes) | /healthz p99 | max "
        "| longest run past timeout | RSS | fds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, what in WINDOWS:
        w = r[key]
        name = r["scale_mix"]["name"] if key == "scale" else what
        lines.append(
            f"| {name} | {_ms(w['healthy_lag_p99'])} | {_ms(w['healthy_lag_max'])} | "
            f"{w['healthy_missed']} | {_ms(w['agent_lag_p99_all'])} (bucket edge) | "
            f"{_ms(w['healthz_p99'])} | {_ms(w['healthz_max'])} | {_s(w['overrun_max'])} | "
            f"{w['rss_mib']:.0f} MiB | {w['fds']} |"
        )
    lines += [
        "",
        "Reload details: "
        + ", ".join(f"{k} {v}" for k, v in r["reload"].items() if k.endswith(("_s", "status"))),
        "",
        f"Audit readiness said: `{r['audit'].get('readyz', '')}`",
        "",
    ]
    return "\n".join(lines)


def readme_lines(raw: dict[str, Any]) -> list[str]:
    """The README's reliability table (between its markers, bench/readme.py)."""
    meta = raw["meta"]
    return [
        f"Measured by `{meta['command']}` on {meta['started']} "
        f"({meta['machine'].get('cpu', '?')}); method and every window in "
        "[`bench/FAULTS.md`](bench/FAULTS.md).",
        "",
        "| figure | measured | goal | |",
        "| --- | --- | --- | --- |",
        *(f"| {f} | {m} | {g} | {_ok(ok)} |" for f, m, g, ok in goals(raw)),
    ]
