"""A plan and the results of its runs hold no reference cycle.

The agent freezes its long-lived objects out of the collector (agent/app.py) and, after a
reload, lets the old plan go by reference counting alone: a cycle in a plan would stay in
memory for good at every reload.
"""

from __future__ import annotations

import gc
from pathlib import Path

from agent.config.loader import load_config_text
from agent.demo import start_services
from agent.planning import build_plan
from agent.runner import run_once


async def test_a_dropped_plan_and_its_results_leave_nothing_for_the_collector(
    tmp_path: Path,
) -> None:
    demo = await start_services(tmp_path)
    try:
        plan = build_plan(load_config_text(demo.config_yaml(), name="demo.yaml"))
        results = await run_once(plan)
    finally:
        await demo.stop()
    kinds = {plan.probes[probe_id].kind for probe_id in results}
    assert {"http", "tcp", "tls", "flow", "host", "scrape", "credential"} <= kinds
    assert any(result.findings for result in results.values())  # compliance judged too
    gc.collect()  # what loading and probing left behind
    del plan, results
    assert gc.collect() == 0
