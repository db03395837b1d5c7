"""Integration state: hysteresis, impacted with its root cause, staleness, flapping."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from agent.config import load_config_text
from agent.evaluation.state import State, StateTracker
from agent.plan import Plan
from agent.planning import build_plan
from agent.results import Breach, Reason, Result, Severity
from agent.store import ResultStore

CONFIG = """\
agent:
  state: {failures_to_down: 3, successes_to_recover: 2, flapping_window: 10m, flapping_changes: 4}
patterns:
  account:
    integrations:
      ledger:
        scope: external
        probes: {port: {interval: 10s, timeout: 1s, tcp: {address: "127.0.0.1:1"}}}
      service:
        scope: internal
        depends_on: [account/ledger]
        probes: {port: {interval: 10s, timeout: 1s, tcp: {address: "127.0.0.1:1"}}}
  bill_pay:
    integrations:
      workflow:
        scope: internal
        depends_on: [account/service]
        probes: {port: {interval: 10s, timeout: 1s, tcp: {address: "127.0.0.1:1"}}}
"""


class World:
    """A plan, a store and a tracker, fed results by hand at chosen times."""

    def __init__(self, text: str = CONFIG) -> None:
        self.plan: Plan = build_plan(load_config_text(text))
        self.store = ResultStore()
        self.now = 1000.0
        self.tracker = StateTracker(self.plan, self.store.latest, self.now)

    def feed(self, integration: str, ok: bool, *breaches: Breach) -> list:
        self.now += 1
        result = Result(
            probe_id=f"{integration}/port",
            started=self.now,
            duration=0.01,
            success=ok,
            reason=None if ok else Reason.CONNECT_REFUSED,
            message="" if ok else "connection refused",
            breaches=breaches,
        )
        self.store.record(result)
        return self.tracker.observe(result, self.now)

    def state(self, integration: str) -> State:
        return self.tracker.status(integration).state


def test_unknown_until_the_first_result_which_decides_at_once() -> None:
    world = World()
    assert world.state("account/ledger") is State.UNKNOWN
    world.feed("account/ledger", False)
    assert world.state("account/ledger") is State.DOWN
    world.feed("account/service", True)
    assert world.state("account/service") is State.OK


def test_hysteresis_three_failures_to_go_down_two_successes_to_recover() -> None:
    world = World()
    world.feed("account/ledger", True)
    states = []
    for ok in (False, False, False, True, True):
        world.feed("account/ledger", ok)
        states.append(world.state("account/ledger"))
    assert states == [State.OK, State.OK, State.DOWN, State.DOWN, State.OK]
    # A single failure between successes never flips it.
    for ok in (False, True, False, True):
        world.feed("account/ledger", ok)
        assert world.state("account/ledger") is State.OK


def test_a_dependant_failing_with_its_dependency_down_is_impacted_with_the_root_cause() -> None:
    world = World()
    for integration in ("account/ledger", "account/service", "bill_pay/workflow"):
        world.feed(integration, False)
    ledger, service, workflow = (
        world.tracker.status(k) for k in ("account/ledger", "account/service", "bill_pay/workflow")
    )
    assert ledger.state is State.DOWN and ledger.root_cause is None
    assert service.state is State.IMPACTED and service.root_cause == "account/ledger"
    assert workflow.state is State.IMPACTED and workflow.root_cause == "account/ledger"
    assert service.reason.startswith("account/ledger is down; port: connect_refused")

    # The ledger recovers while the service still fails: now the service is the root cause.
    world.feed("account/ledger", True)
    transitions = world.feed("account/ledger", True)
    assert world.state("account/ledger") is State.OK
    assert world.state("account/service") is State.DOWN
    assert world.tracker.status("bill_pay/workflow").root_cause == "account/service"
    assert [(t.integration, t.old, t.new) for t in transitions] == [
        ("account/ledger", State.DOWN, State.OK),
        ("account/service", State.IMPACTED, State.DOWN),
    ]


def test_a_dependency_held_by_another_shard_is_not_seen() -> None:
    """A shard holding the service and the workflow but not the ledger cannot see the
    ledger's state: the service is down on its own word (the recording rules combine shards)
    and the workflow, depending on the service held here, is impacted by it."""
    world = World()
    whole = world.plan
    part = dataclasses.replace(
        whole,
        integrations=MappingProxyType(
            {k: v for k, v in whole.integrations.items() if k != "account/ledger"}
        ),
        probes=MappingProxyType(
            {k: v for k, v in whole.probes.items() if not k.startswith("account/ledger/")}
        ),
    )
    world.tracker.set_plan(part, world.now)
    world.feed("account/service", False)
    world.feed("bill_pay/workflow", False)
    service = world.tracker.status("account/service")
    assert (service.state, service.root_cause) == (State.DOWN, None)
    workflow = world.tracker.status("bill_pay/workflow")
    assert (workflow.state, workflow.root_cause) == (State.IMPACTED, "account/service")


def test_a_healthy_dependant_of_a_down_dependency_stays_ok() -> None:
    world = World()
    world.feed("account/ledger", False)
    world.feed("account/service", True)
    assert world.state("account/service") is State.OK


def test_a_threshold_breach_degrades() -> None:
    world = World()
    world.feed("account/ledger", True, Breach("latency", Severity.WARNING, 0.4, 0.3))
    status = world.tracker.status("account/ledger")
    assert status.state is State.DEGRADED
    assert status.reason == "port: latency warning (400ms vs 300ms)"


def test_results_that_stop_arriving_become_unknown() -> None:
    world = World()
    world.feed("account/ledger", True)
    world.now += 3 * 10 + 1 + 1  # three intervals and the timeout have passed
    transitions = world.tracker.sweep(world.now)
    assert world.state("account/ledger") is State.UNKNOWN
    assert world.tracker.status("account/ledger").reason == "port: no result for 32s"
    assert [(t.old, t.new) for t in transitions] == [(State.OK, State.UNKNOWN)]


def test_flapping_after_too_many_changes_in_the_window() -> None:
    world = World(
        CONFIG.replace(
            "failures_to_down: 3, successes_to_recover: 2",
            "failures_to_down: 1, successes_to_recover: 1",
        )
    )
    world.feed("account/ledger", True)  # unknown -> ok is the first change
    flags = []
    for ok in (False, True, False, True, False):
        world.feed("account/ledger", ok)
        flags.append(world.tracker.status("account/ledger").flapping)
    assert flags == [False, False, True, True, True]  # the fourth change within 10m flaps
    assert world.tracker.status("account/ledger").changes == 6
    world.now += 601  # the window passes with no change
    world.feed("account/ledger", False)
    assert world.tracker.status("account/ledger").flapping is False


def test_reload_keeps_known_states_and_drops_removed_integrations() -> None:
    world = World()
    world.feed("account/ledger", False)
    smaller = CONFIG.split("  bill_pay:")[0]
    world.tracker.set_plan(build_plan(load_config_text(smaller)), world.now)
    assert world.state("account/ledger") is State.DOWN
    assert set(world.tracker.statuses()) == {"account/ledger", "account/service"}


FLOW_CONFIG = """\
agent:
  state: {failures_to_down: 1, successes_to_recover: 1}
patterns:
  account:
    integrations:
      ledger:
        scope: external
        probes: {port: {interval: 10s, timeout: 1s, tcp: {address: "127.0.0.1:1"}}}
      service:
        scope: internal
        depends_on: [account/ledger]
        probes: {port: {interval: 10s, timeout: 1s, tcp: {address: "127.0.0.1:1"}}}
  client:
    integrations:
      kyc:
        scope: external
        probes: {port: {interval: 10s, timeout: 1s, tcp: {address: "127.0.0.1:1"}}}
  bill_pay:
    integrations:
      workflow:
        scope: internal
        probes:
          port:
            interval: 10s
            timeout: 1s
            flow:
              steps:
                - {name: validate, integration: account/service, url: "http://127.0.0.1:1/v"}
                - {name: verify, integration: client/kyc, url: "http://127.0.0.1:1/k"}
                - {name: pay, url: "http://127.0.0.1:1/p"}
"""


def feed_flow(world: World, failing_at: str | None) -> list:
    """A run of the workflow's flow that fails at the step calling ``failing_at`` (None: ok)."""
    world.now += 1
    result = Result(
        probe_id="bill_pay/workflow/port",
        started=world.now,
        duration=0.01,
        success=failing_at is None,
        reason=None if failing_at is None else Reason.STATUS_MISMATCH,
        message="" if failing_at is None else f"step x ({failing_at}): [STATUS] (401) == 200",
        cause=failing_at,
    )
    world.store.record(result)
    return world.tracker.observe(result, world.now)


def test_a_flow_failing_at_a_healthy_partner_is_down_and_names_it() -> None:
    world = World(FLOW_CONFIG)
    for key in ("account/ledger", "account/service", "client/kyc"):
        world.feed(key, True)
    feed_flow(world, "client/kyc")
    status = world.tracker.status("bill_pay/workflow")
    assert (status.state, status.root_cause) == (State.DOWN, "client/kyc")
    assert status.reason == "port: status_mismatch: step x (client/kyc): [STATUS] (401) == 200"


def test_a_flow_failing_at_a_partner_that_is_down_is_impacted_by_its_root_cause() -> None:
    world = World(FLOW_CONFIG)
    for key in ("account/ledger", "account/service", "client/kyc"):
        world.feed(key, True)
    feed_flow(world, "client/kyc")
    changes = world.feed("client/kyc", False)  # the partner's own probe sees it too now
    workflow = world.tracker.status("bill_pay/workflow")
    assert (workflow.state, workflow.root_cause) == (State.IMPACTED, "client/kyc")
    assert [(t.integration, t.new) for t in changes] == [
        ("client/kyc", State.DOWN),
        ("bill_pay/workflow", State.IMPACTED),
    ]
    world.feed("account/ledger", False)
    world.feed("account/service", False)
    feed_flow(world, "account/service")  # the ledger behind the service is the root
    workflow = world.tracker.status("bill_pay/workflow")
    assert (workflow.state, workflow.root_cause) == (State.IMPACTED, "account/ledger")
    feed_flow(world, None)
    assert world.tracker.status("bill_pay/workflow").state is State.OK
    assert world.tracker.status("bill_pay/workflow").root_cause is None


def test_a_flow_failing_at_its_own_step_is_simply_down() -> None:
    world = World(FLOW_CONFIG)
    feed_flow(world, None)
    world.now += 1
    own = Result("bill_pay/workflow/port", world.now, 0.01, False, Reason.TIMEOUT, "no answer")
    world.store.record(own)
    world.tracker.observe(own, world.now)
    status = world.tracker.status("bill_pay/workflow")
    assert (status.state, status.root_cause) == (State.DOWN, None)


def test_a_flow_blaming_an_integration_that_depends_on_its_own_is_simply_down() -> None:
    text = FLOW_CONFIG.replace(
        "        depends_on: [account/ledger]", "        depends_on: [bill_pay/workflow]"
    )
    world = World(text)
    world.feed("account/service", False)  # down, and it depends on the workflow
    feed_flow(world, "account/service")
    status = world.tracker.status("bill_pay/workflow")
    assert (status.state, status.root_cause) == (State.DOWN, None)
    assert world.tracker.status("account/service").root_cause == "bill_pay/workflow"
