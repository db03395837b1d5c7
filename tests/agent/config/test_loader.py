"""The config loader: valid files load with defaults; each invalid file gives its exact problems."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import AfterValidator, BaseModel, ValidationError

from agent.config import ConfigError, LoadedConfig, Problem, load_config, load_config_text
from agent.config.errors import format_path, validation_problems
from agent.config.loader import SourceMap, lines_of
from agent.probers import REGISTRY

HERE = Path(__file__).parent
VALID = HERE / "valid"
INVALID = HERE / "invalid"
PROBE = "patterns.bill_pay.integrations.processor.probes.port"
KINDS = f"a probe needs exactly one kind block, one of {', '.join(REGISTRY)}"
NOT_DURATION = "is not a duration; write it like 250ms, 15s, 5m, 1h30m or 30d"
FULL_ENV = {"REGION": "eu-west-1", "PROCESSOR_HOST": "processor.internal", "CLUSTER": ""}


def problems_of(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env or {})
    return [str(p).replace(f"{path.parent}/", "") for p in caught.value.problems]


def test_minimal_config_gets_defaults() -> None:
    loaded = load_config(VALID / "minimal.yaml", env={})
    config = loaded.config
    assert (config.agent.interval, config.agent.timeout) == (30.0, 10.0)
    assert config.agent.listen == ":9469"
    assert config.exporters.otlp.enabled is None  # on only when an endpoint is set
    integration = config.patterns["bill_pay"].integrations["processor"]
    assert (integration.scope, integration.criticality, integration.depends_on) == (
        "external",
        "medium",
        (),
    )
    probe = integration.probes["port"]
    assert probe.kind == "tcp"
    assert (probe.interval, probe.timeout, probe.conditions) == (None, None, ())
    assert (probe.settings.address, probe.settings.tls, probe.settings.read_bytes) == (
        "127.0.0.1:1",
        False,
        4096,
    )
    assert loaded.secrets == frozenset()


def test_full_config_values_durations_and_env() -> None:
    loaded = load_config(VALID / "full.yaml", env=FULL_ENV)
    config = loaded.config
    assert (config.agent.interval, config.agent.timeout, config.agent.concurrency) == (
        60.0,
        2.5,
        64,
    )
    # ${CLUSTER:-local} takes the default when the variable is set but empty, as a shell does.
    assert config.agent.labels == {"cluster": "local", "region": "eu-west-1"}
    assert config.exporters.otlp.enabled is False
    processor = config.patterns["bill_pay"].integrations["processor"]
    assert (processor.criticality, processor.depends_on) == ("critical", ("account/ledger",))
    port = processor.probes["port"]
    assert (port.interval, port.timeout) == (15.0, 1.0)
    assert port.settings.address == "processor.internal:443"
    assert port.settings.tls_config.min_version == "TLS1.2"
    assert (port.thresholds["latency"].warning, port.thresholds["latency"].critical) == (0.3, 1.0)
    assert port.thresholds["cert_expiry"].critical == 7 * 86400
    # A merged anchor: its keys apply unless written beside the merge.
    banner = processor.probes["banner"]
    assert (banner.interval, banner.timeout) == (5400.0, 1.0)
    assert [condition.text for condition in banner.conditions] == ["[CONNECTED] == true"]
    assert banner.settings.send == "price: ${NOT_A_VARIABLE}"
    ledger = config.patterns["account"].integrations["ledger"]
    assert ledger.probes["port"].settings.address == "[::1]:5432"
    assert loaded.secrets == frozenset({"eu-west-1", "processor.internal"})
    assert loaded.digest == hashlib.sha256((VALID / "full.yaml").read_bytes()).hexdigest()
    assert loaded.path == str(VALID / "full.yaml")


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ((), 2),
        (("agent", "labels", "region"), 9),
        (("patterns", "bill_pay", "integrations", "processor", "depends_on", 0), 23),
        (("patterns", "bill_pay", "integrations", "processor", "probes", "port", "tcp"), 33),
        (("patterns", "bill_pay", "integrations", "processor", "probes", "banner", "interval"), 41),
        # Merged keys point at the anchor they came from.
        (("patterns", "bill_pay", "integrations", "processor", "probes", "banner", "timeout"), 27),
        # Not written: the nearest ancestor that was.
        (("patterns", "account", "integrations", "ledger", "owner"), 47),
        (("patterns", "nowhere", "at", "all"), 13),
    ],
)
def test_source_map_lines(path: tuple[str | int, ...], line: int) -> None:
    loaded = load_config(VALID / "full.yaml", env=FULL_ENV)
    assert loaded.source.line_for(path) == line


def test_problem_helper_for_later_checks() -> None:
    loaded = load_config(VALID / "full.yaml", env=FULL_ENV)
    problem = loaded.problem(
        ("patterns", "bill_pay", "integrations", "processor", "depends_on", 0),
        "'account/ledgr' is not a configured integration",
    )
    assert problem == Problem(
        str(VALID / "full.yaml"),
        23,
        "patterns.bill_pay.integrations.processor.depends_on[0]",
        "'account/ledgr' is not a configured integration",
    )
    assert str(problem).endswith(
        "full.yaml:23: patterns.bill_pay.integrations.processor.depends_on[0]: "
        "'account/ledgr' is not a configured integration"
    )


INVALID_CASES = {
    "unknown_key_agent": ["2: agent: unknown key 'intervl'; did you mean 'interval'?"],
    "unknown_key_root": [
        "1: missing required key 'patterns'",
        "1: unknown key 'pattern'; did you mean 'patterns'?",
    ],
    "unknown_key_integration": [
        "6: patterns.bill_pay.integrations.processor: "
        "unknown key 'critcality'; did you mean 'criticality'?",
    ],
    "unknown_key_probe": [f"8: {PROBE}: unknown key 'timout'; did you mean 'timeout'?"],
    "unknown_key_kind_block": [
        f"8: {PROBE}.tcp: missing required key 'address'",
        f"9: {PROBE}.tcp: unknown key 'adress'; did you mean 'address'?",
    ],
    "unknown_key_tls": [
        f"12: {PROBE}.tcp.tls_config: unknown key 'server_nme'; did you mean 'server_name'?",
    ],
    "unknown_key_no_match": [
        "3: patterns.bill_pay: unknown key 'colour'; "
        "allowed keys: owner, description, compliance, integrations",
    ],
    "misspelt_kind": [f"8: {PROBE}: unknown key 'tpc'; did you mean 'tcp'?"],
    "duplicate_key": [
        "9: patterns.bill_pay.integrations.processor: duplicate key 'scope' (first at line 5)",
    ],
    "yaml_syntax": ["6: invalid YAML: mapping values are not allowed here"],
    "yaml_unclosed": [
        "7: invalid YAML: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence started at line 6)",
    ],
    "wrong_scope": [
        "5: patterns.bill_pay.integrations.processor.scope: "
        "Input should be 'external' or 'internal' (got 'partner')",
    ],
    "bad_duration": [f"8: {PROBE}.interval: '5 minutes' {NOT_DURATION}"],
    "two_kinds": [f"7: {PROBE}: {KINDS}; found http, tcp"],
    "no_kind": [f"7: {PROBE}: {KINDS}; found none"],
    "missing_env": [f"9: {PROBE}.tcp.address: environment variable PROCESSOR_HOST is not set"],
    "malformed_env": [
        f"9: {PROBE}.tcp.address: malformed reference '${{PROCESSOR HOST}}'; "
        "write ${NAME} or ${NAME:-default}, or $${ for a literal ${",
    ],
    "empty": [": the file is empty; it needs at least a 'patterns' section"],
    "only_comments": [": the file is empty; it needs at least a 'patterns' section"],
    "not_a_mapping": ["1: the top level must be a mapping of keys (agent, exporters, patterns)"],
    "patterns_missing": ["1: missing required key 'patterns'"],
    "no_integrations": [
        "4: patterns.bill_pay.integrations: Dictionary should have at least 1 item, not 0",
    ],
    "bad_name": [
        "2: patterns: invalid name 'bill pay': must match ^[A-Za-z][A-Za-z0-9_.-]{0,62}$",
    ],
    "null_section": ["1: agent: expected a mapping of keys, got nothing (null)"],
    "wrong_type": [
        "2: agent.concurrency: Input should be a valid integer, "
        "unable to parse string as an integer (got 'lots')",
        "8: patterns.bill_pay.integrations.processor.depends_on: expected a list, got a string",
        f"13: {PROBE}.conditions[1]: a condition is text like '[STATUS] == 200'",
    ],
    "multi_error": [
        "3: agent: unknown key 'concurency'; did you mean 'concurrency'?",
        "8: patterns.bill_pay.integrations.processor.scope: "
        "Input should be 'external' or 'internal' (got 'partner')",
        f"12: {PROBE}.interval: 'soon' {NOT_DURATION}",
        f"13: {PROBE}.tcp: missing required key 'address'",
        f"14: {PROBE}.tcp: unknown key 'adress'; did you mean 'address'?",
        f"15: patterns.bill_pay.integrations.processor.probes.both: {KINDS}; found tcp, dns",
        "18: patterns.bill_pay.integrations.workflow: missing required key 'scope'",
        "21: patterns.bill_pay.integrations.workflow.probes.port.tcp.address: "
        "environment variable WORKFLOW_ADDRESS is not set",
        "23: patterns.bill_pay: duplicate key 'owner' (first at line 22)",
    ],
}


@pytest.mark.parametrize("case", sorted(INVALID_CASES))
def test_invalid_config(case: str) -> None:
    expected = [
        f"{case}.yaml{'' if text.startswith(':') else ':'}{text}" for text in INVALID_CASES[case]
    ]
    assert problems_of(INVALID / f"{case}.yaml") == expected


def test_every_invalid_file_has_a_case() -> None:
    assert sorted(p.stem for p in INVALID.glob("*.yaml")) == sorted(INVALID_CASES)


def test_config_error_text_is_one_problem_per_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(INVALID / "multi_error.yaml", env={})
    error = caught.value
    lines = str(error).splitlines()
    assert len(lines) == len(error.problems) == 9
    assert [p.line for p in error.problems] == sorted(p.line or 0 for p in error.problems)
    assert lines[0] == (
        f"{INVALID}/multi_error.yaml:3: agent: "
        "unknown key 'concurency'; did you mean 'concurrency'?"
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "absent.yaml", "cannot read the config file: No such file or directory"),
        (lambda tmp: tmp, "cannot read the config file: Is a directory"),
    ],
)
def test_unreadable_file(tmp_path: Path, make: object, message: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == (Problem(str(path), None, "", message),)
    assert str(caught.value) == f"{path}: {message}"


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("patterns:\n  caf\xe9: {}\n".encode("latin-1"))
    assert problems_of(path) == ["latin1.yaml:2: the file is not UTF-8 text"]


def test_character_yaml_forbids() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text("patterns:\n  p: \x07\n", name="bell.yaml")
    assert str(caught.value) == (
        "bell.yaml:2: invalid YAML: "
        "unacceptable character #x0007: special characters are not allowed"
    )


def test_env_value_is_not_echoed_in_errors() -> None:
    text = "patterns:\n  p:\n    integrations:\n      i:\n        scope: ${SCOPE}\n"
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, env={"SCOPE": "s3cr3t-token"})
    assert "s3cr3t-token" not in str(caught.value)
    assert caught.value.problems[1].message == (
        "Input should be 'external' or 'internal' (got '<hidden>')"
    )


@pytest.mark.parametrize(
    ("value", "env", "expected"),
    [
        ("${A}", {"A": "x"}, "x"),
        ("${A}-${B}", {"A": "x", "B": "y"}, "x-y"),
        ("${A:-fallback}", {}, "fallback"),
        ("${A:-fallback}", {"A": ""}, "fallback"),
        ("${A:-}", {}, ""),
        ("${A}", {"A": ""}, ""),
        ("$${A}", {"A": "x"}, "${A}"),
        ("cost: $5", {}, "cost: $5"),
        ("${A:-a:-b}", {}, "a:-b"),
    ],
)
def test_env_expansion(value: str, env: dict[str, str], expected: str) -> None:
    text = f"agent:\n  labels:\n    v: '{value}'\npatterns:\n{_ONE_PROBE}\n"
    loaded = load_config_text(text, env=env)
    assert loaded.config.agent.labels == {"v": expected}
    assert loaded.secrets == frozenset(v for v in env.values() if v and v in expected)


_ONE_PROBE = """  p:
    integrations:
      i:
        scope: internal
        probes:
          x: {tcp: {address: "127.0.0.1:1"}}"""


def test_text_loader_name_and_digest() -> None:
    text = f"patterns:\n{_ONE_PROBE}\n"
    loaded = load_config_text(text, name="demo.yaml")
    assert isinstance(loaded, LoadedConfig)
    assert loaded.path == "demo.yaml"
    assert loaded.digest == hashlib.sha256(text.encode()).hexdigest()
    assert loaded.source.line_for(("patterns", "p", "integrations", "i", "probes", "x")) == 7


def test_source_map_falls_back_to_ancestor() -> None:
    source = SourceMap({(): 1, ("a",): 2, ("a", "b", 0): 4})
    assert source.line_for(("a", "b", 0, "c")) == 4
    assert source.line_for(("a", "b", 1)) == 2
    assert source.line_for(("z",)) == 1
    assert SourceMap().line_for(("a",)) is None


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), ""),
        (("agent",), "agent"),
        (("patterns", "bp", "probes", 0, "tcp"), "patterns.bp.probes[0].tcp"),
        (("thresholds", "odd key", "x.y"), "thresholds['odd key']['x.y']"),
    ],
)
def test_format_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text


@pytest.mark.parametrize(
    ("problem", "text"),
    [
        (Problem("o.yaml", 42, "a.b", "bad"), "o.yaml:42: a.b: bad"),
        (Problem("o.yaml", None, "a.b", "bad"), "o.yaml: a.b: bad"),
        (Problem("o.yaml", 3, "", "bad"), "o.yaml:3: bad"),
        (Problem("o.yaml", None, "", "bad"), "o.yaml: bad"),
    ],
)
def test_problem_text(problem: Problem, text: str) -> None:
    assert str(problem) == text


def _even(value: int) -> int:
    if value % 2:
        raise ValueError("must be even")
    return value


class _Unions(BaseModel):
    value: Annotated[int, AfterValidator(_even)] | list[int]


def test_pydantic_internal_loc_parts_are_dropped() -> None:
    data = {"value": 3}
    with pytest.raises(ValidationError) as caught:
        _Unions.model_validate(data)
    assert {e["loc"][1] for e in caught.value.errors()} == {
        "function-after[_even(), int]",
        "list[int]",
    }
    found = validation_problems(
        caught.value,
        file="u.yaml",
        model=_Unions,
        data=data,
        line_for=lambda path: 7 if path == ("value",) else None,
    )
    assert [str(p) for p in found] == [
        "u.yaml:7: value: must be even",
        "u.yaml:7: value: expected a list, got a number",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"patterns:\n{_ONE_PROBE}\n---\npatterns: {{}}\n",
            "t.yaml:8: the file holds more than one YAML document (---)",
        ),
        (
            f"agent:\n  interval: !seconds 10\npatterns:\n{_ONE_PROBE}\n",
            "t.yaml:2: agent.interval: cannot read '10': could not determine a constructor "
            "for the tag '!seconds'",
        ),
        (
            f"agent:\n  labels: *nowhere\npatterns:\n{_ONE_PROBE}\n",
            "t.yaml:2: agent.labels: unknown alias *nowhere",
        ),
        (
            "- one\n- two\n",
            "t.yaml:1: the top level must be a mapping of keys (agent, exporters, patterns)",
        ),
    ],
)
def test_documents_the_reader_refuses_name_their_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, name="t.yaml")
    assert str(caught.value).splitlines()[0] == expected


def test_an_alias_keeps_the_lines_of_its_anchor() -> None:
    text = (
        "agent:\n"
        "  labels: &labels\n"
        "    team: payments\n"
        "exporters:\n"
        "  prometheus:\n"
        "    labels: *labels\n"
        f"patterns:\n{_ONE_PROBE}\n"
    )
    source = SourceMap(read=lambda: lines_of(text, "t.yaml"))
    assert source.line_for(("exporters", "prometheus", "labels", "team")) == 3
    assert source.line_for(("exporters", "prometheus", "labels")) == 6


def test_both_parsers_read_the_same_data_lines_and_problems(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """libyaml reads when PyYAML has it; the pure-Python parser must agree with it."""
    text = (VALID / "full.yaml").read_text()
    broken = (INVALID / "multi_error.yaml").read_text() + (
        INVALID / "duplicate_key.yaml"
    ).read_text()
    fast = (load_config_text(text, env=FULL_ENV), lines_of(text, "f"), _problems(broken))
    monkeypatch.setattr("agent.config.loader._FAST", None)
    slow = (load_config_text(text, env=FULL_ENV), lines_of(text, "f"), _problems(broken))
    assert fast[0].config == slow[0].config
    assert fast[1] == slow[1] and len(fast[1]) > 40
    assert fast[2] == slow[2] and fast[2]


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, env=FULL_ENV)
    return [str(p) for p in caught.value.problems]
