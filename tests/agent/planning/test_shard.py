"""A shard's share of the plan: disjoint shares that cover the config, each with only what it
holds; which shard an agent runs (flag, config, environment)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import ConfigError, load_config_text
from agent.plan import Plan
from agent.planning import build_plan, choose_shard, load_plan, share
from agent.planning.shard import ELSEWHERE
from agent.sharding import Shard

INTEGRATIONS = 60


def config(shard: str = "") -> str:
    """Integrations of three probes each (one protected: it adds a derived auth check), each
    depending on the one before it."""
    lines = ["agent:", f"  shard: {shard}" if shard else "  interval: 30s", "patterns:"]
    for pattern in ("bill_pay", "account", "client"):
        lines += [f"  {pattern}:", "    integrations:"]
        for n in range(INTEGRATIONS // 3):
            lines += [
                f"      i{n}:",
                "        scope: external",
                *([f"        depends_on: [{pattern}/i{n - 1}]"] if n else []),
                "        compliance: {auth_required: {probes: [api]}}",
                "        probes:",
                "          api: {http: {url: 'https://api.example.com/v1'}}",
                "          port: {tcp: {address: 'api.example.com:443'}}",
                "          cert: {tls: {address: 'api.example.com:443'}}",
            ]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def whole() -> Plan:
    return build_plan(load_config_text(config(), "oversight.yaml", env={}))


def test_three_agents_hold_disjoint_shares_that_cover_every_probe(whole: Plan) -> None:
    shares = [share(whole, Shard(i, 3)) for i in range(3)]
    probes = [set(s.probes) for s in shares]
    assert sum(len(p) for p in probes) == len(whole.probes) == INTEGRATIONS * 4
    assert set().union(*probes) == set(whole.probes)
    for s in shares:
        assert 0.25 < len(s.probes) / len(whole.probes) < 0.42, len(s.probes)
        for probe in s.probes.values():  # a derived auth check runs beside its probe
            if probe.derived_from is not None:
                assert probe.derived_from in s.probes


def test_reshard_from_three_to_four_moves_about_a_quarter(whole: Plan) -> None:
    def owners(total: int) -> dict[str, int]:
        return {p: i for i in range(total) for p in share(whole, Shard(i, total)).probes}

    before, after = owners(3), owners(4)
    moved = [p for p in before if before[p] != after[p]]
    assert all(after[p] == 3 for p in moved)  # only to the new shard
    assert 0.15 < len(moved) / len(before) < 0.35, len(moved)


def test_a_share_holds_only_the_integrations_and_patterns_it_probes(whole: Plan) -> None:
    part = share(whole, Shard(1, 7))
    assert part.shard == Shard(1, 7)
    held = {p.integration_key for p in part.probes.values()}
    assert set(part.integrations) == held
    assert 0 < len(held) < len(whole.integrations)
    for key, integration in part.integrations.items():
        assert set(integration.probes) <= set(part.probes)
        assert integration.probes, key
        assert integration.depends_on == whole.integrations[key].depends_on  # as configured
    assert set(part.pattern_owners) == {i.pattern for i in part.integrations.values()}
    assert set(part.compliance.integrations) == held
    assert sum(part.kinds.values()) == len(part.probes)


def test_a_policy_whose_probes_run_elsewhere_says_so(whole: Plan) -> None:
    for index in range(5):
        part = share(whole, Shard(index, 5))
        for key, settings in part.compliance.integrations.items():
            names = {part.probes[p].name for p in part.integrations[key].probes}
            attached = "api" in names  # auth_required judges the api probe's auth check
            reason = settings.unattached.get("auth_required")
            assert (reason == ELSEWHERE) is not attached, (key, names, reason)


def test_one_shard_of_one_is_the_whole_plan_with_its_label(whole: Plan) -> None:
    one = share(whole, Shard(0, 1))
    assert one.probes == whole.probes and one.integrations == whole.integrations
    assert one.shard == Shard(0, 1)
    assert share(whole, None) is whole


def test_the_flag_wins_over_the_config_and_the_config_over_the_environment(
    tmp_path: Path,
) -> None:
    path = tmp_path / "oversight.yaml"
    path.write_text(config("{index: 1, total: 3}"))
    env = {"OVERSIGHT_SHARDS": "4", "POD_NAME": "p-2"}
    assert load_plan(path, env=env).shard == Shard(1, 3)
    assert load_plan(path, shard=Shard(0, 2), env=env).shard == Shard(0, 2)
    path.write_text(config())
    assert load_plan(path, env=env).shard == Shard(2, 4)
    assert load_plan(path, env={}).shard is None


def test_a_broken_environment_is_a_config_error_naming_the_variable(whole: Plan) -> None:
    with pytest.raises(ConfigError) as caught:
        choose_shard(None, whole, {"OVERSIGHT_SHARDS": "2", "POD_NAME": "prober"})
    assert str(caught.value).startswith(
        "environment: OVERSIGHT_SHARDS is set but this pod's ordinal is unknown"
    )


@pytest.mark.parametrize(
    ("shard", "problem"),
    [
        (
            "{index: 3, total: 3}",
            "agent.shard.index: must be below total (3): shards are numbered 0 to 2",
        ),
        ("{index: 0, total: 0}", "agent.shard.total: Input should be greater than or equal to 1"),
        ("{index: 0}", "agent.shard: missing required key 'total'"),
        ("{index: 0, total: 2, of: 3}", "agent.shard: unknown key 'of'; allowed keys: total,"),
        ("3/4", "agent.shard: expected a mapping of keys, got a string"),
    ],
)
def test_a_bad_shard_in_the_config_names_file_line_and_key(shard: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(config(shard), "oversight.yaml", env={})
    (found,) = caught.value.problems
    assert str(found).startswith(f"oversight.yaml:2: {problem}"), found
