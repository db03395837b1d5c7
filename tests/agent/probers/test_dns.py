"""The dns kind against a real DNS server on loopback (tests/peers/dns_server.py)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from agent import vocabulary as v
from agent.probers.base import ProbeFailed
from agent.probers.dns import SPEC, DnsProbe
from agent.probers.dns_query import system_nameserver
from agent.results import Reason
from agent.vocabulary import Detail
from tests.agent.probers.conftest import RunProbe
from tests.peers.dns_server import DnsServer, Mode, closed_port

ZONE = {
    "www.bank.test.": {
        "A": ["10.0.0.1", "10.0.0.2"],
        "AAAA": ["2001:db8::1"],
        "MX": ["10 mail.bank.test."],
        "TXT": ['"v=spf1 -all"'],
    },
    "bank.test.": {"SOA": ["ns1.bank.test. hostmaster.bank.test. 2024060101 3600 600 86400 60"]},
    "1.0.0.10.in-addr.arpa.": {"PTR": ["www.bank.test."]},
}


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture
async def server() -> AsyncIterator[DnsServer]:
    async with DnsServer(ZONE) as running:
        yield running


@pytest.mark.parametrize(
    ("name", "qtype", "conditions", "answers", "authority"),
    [
        ("www.bank.test", "A", ["[ANSWER] contains 10.0.0.1", "[ANSWER_COUNT] == 2"], 2, 0),
        ("www.bank.test", "AAAA", ["[ANSWER] contains 2001:db8::1"], 1, 0),
        ("www.bank.test", "MX", [r"[ANSWER] matches IN MX 10 mail\.bank\.test\.$"], 1, 0),
        ("www.bank.test", "TXT", ['[ANSWER] contains "v=spf1 -all"'], 1, 0),
        ("bank.test", "SOA", ["[ANSWER] contains hostmaster.bank.test."], 1, 0),
        ("10.0.0.1", "PTR", ["[ANSWER] == 1.0.0.10.in-addr.arpa. 300 IN PTR www.bank.test."], 1, 0),
        ("nowhere.bank.test", "A", ["[RCODE] == NXDOMAIN", "[ANSWER_COUNT] == 0"], 0, 1),
        ("www.bank.test", "SRV", ["[RCODE] == NOERROR", "[ANSWER_COUNT] == 0"], 0, 1),
    ],
)
async def test_answers_and_counts(
    run_probe: RunProbe,
    server: DnsServer,
    name: str,
    qtype: str,
    conditions: list[str],
    answers: int,
    authority: int,
) -> None:
    settings = {"server": server.address, "query_name": name, "query_type": qtype}
    result = await run_probe("dns", settings, conditions=conditions)
    assert result.success, result.message
    assert [c.success for c in result.conditions] == [True] * len(conditions)
    assert result.value(v.DNS_ANSWER_RRS) == answers
    assert result.value(v.DNS_AUTHORITY_RRS) == authority
    assert result.value(v.DNS_ADDITIONAL_RRS) == 0
    assert result.info_value(Detail.DNS_TRANSPORT) == "udp"
    assert dict(result.phases)["resolve"] > 0


async def test_soa_serial_is_a_value(run_probe: RunProbe, server: DnsServer) -> None:
    settings = {"server": server.address, "query_name": "bank.test", "query_type": "SOA"}
    result = await run_probe("dns", settings)
    assert result.value(v.DNS_SERIAL) == 2024060101
    other = await run_probe("dns", {"server": server.address, "query_name": "www.bank.test"})
    assert other.value(v.DNS_SERIAL) is None  # the SOA in an authority section does not count


@pytest.mark.parametrize(
    ("name", "conditions", "observed"),
    [
        ("nowhere.bank.test", None, "[RCODE] (NXDOMAIN) == NOERROR"),
        ("www.bank.test", ["[ANSWER] contains 10.9.9.9"], "[ANSWER]"),
        ("www.bank.test", ["[ANSWER_COUNT] == 3"], "[ANSWER_COUNT] (2) == 3"),
    ],
)
async def test_answer_mismatch(
    run_probe: RunProbe,
    server: DnsServer,
    name: str,
    conditions: list[str] | None,
    observed: str,
) -> None:
    """NXDOMAIN is an answer, not a prober failure: the default condition fails on it."""
    settings = {"server": server.address, "query_name": name}
    result = await run_probe("dns", settings, conditions=conditions)
    assert not result.success
    assert result.reason is Reason.ANSWER_MISMATCH
    assert observed in result.message
    assert result.value(v.DNS_ANSWER_RRS) is not None  # the counts are still reported


async def test_default_condition_is_noerror() -> None:
    assert SPEC.default_conditions == ("[RCODE] == NOERROR",)


@pytest.mark.parametrize(
    ("settings", "seen"),
    [
        ({}, [("udp", True)]),
        ({"recursion_desired": False}, [("udp", False)]),
        ({"transport": "tcp"}, [("tcp", True)]),
    ],
)
async def test_transport_and_flags_reach_the_server(
    run_probe: RunProbe, server: DnsServer, settings: dict[str, Any], seen: list[tuple[str, bool]]
) -> None:
    result = await run_probe(
        "dns", {"server": server.address, "query_name": "www.bank.test", **settings}
    )
    assert result.success, result.message
    assert [(q.transport, q.recursion_desired) for q in server.queries] == seen
    assert result.info_value(Detail.DNS_TRANSPORT) == seen[0][0]


async def test_truncated_udp_answer_is_retried_over_tcp(run_probe: RunProbe) -> None:
    async with DnsServer(ZONE, mode="truncate") as server:
        settings = {"server": server.address, "query_name": "www.bank.test"}
        result = await run_probe("dns", settings, conditions=["[ANSWER_COUNT] == 2"])
    assert result.success, result.message
    assert [q.transport for q in server.queries] == ["udp", "tcp"]
    assert result.info_value(Detail.DNS_TRANSPORT) == "tcp"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_silent_server_times_out(run_probe: RunProbe, transport: str) -> None:
    async with DnsServer(ZONE, mode="silent") as server:
        settings = {"server": server.address, "query_name": "www.bank.test", "transport": transport}
        result = await run_probe("dns", settings, timeout=0.5)
    assert result.reason is Reason.TIMEOUT
    assert result.message.startswith("no answer")
    assert result.duration < 0.5 + 1
    assert len(server.queries) == 1


@pytest.mark.parametrize(
    ("mode", "transport", "message"),
    [
        ("malformed", "udp", "malformed response: "),
        ("malformed", "tcp", "malformed response: "),
        ("wrong_id", "udp", "the response does not answer the query"),
        ("wrong_id", "tcp", "the response does not answer the query"),
    ],
)
async def test_bad_responses_are_protocol_errors(
    run_probe: RunProbe, mode: Mode, transport: str, message: str
) -> None:
    async with DnsServer(ZONE, mode=mode) as server:
        settings = {"server": server.address, "query_name": "www.bank.test", "transport": transport}
        result = await run_probe("dns", settings)
    assert result.reason is Reason.PROTOCOL_ERROR
    assert result.message.startswith(message)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_nothing_listening_is_refused(run_probe: RunProbe, transport: str) -> None:
    port = closed_port()
    settings = {
        "server": f"127.0.0.1:{port}",
        "query_name": "www.bank.test",
        "transport": transport,
    }
    result = await run_probe("dns", settings, timeout=2)
    assert result.reason is Reason.CONNECT_REFUSED
    assert result.message == f"connection refused (127.0.0.1 port {port})"


@pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback")
async def test_ipv6_server(run_probe: RunProbe) -> None:
    async with DnsServer(ZONE, host="::1") as server:
        assert server.address.startswith("[::1]:")
        result = await run_probe("dns", {"server": server.address, "query_name": "www.bank.test"})
    assert result.success, result.message
    assert result.info_value(Detail.REMOTE_ADDRESS) == "::1"


async def test_unresolvable_server_name_is_a_dns_error(run_probe: RunProbe) -> None:
    # A label longer than 63 characters fails in the IDNA codec, before any lookup is sent.
    settings = {"server": "x" * 64 + ".example", "query_name": "www.bank.test"}
    result = await run_probe("dns", settings)
    assert result.reason is Reason.DNS_ERROR
    assert result.message.startswith(f"cannot resolve DNS server {'x' * 64}.example")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"query_name": "www.bank.test", "server": "ns1:"}, "is not host:port"),
        ({"query_name": "www.bank.test", "server": "ns1:70000"}, "from 1 to 65535"),
        ({"query_name": "www.bank.test", "server": "[::1"}, "is not host:port"),
        ({"query_name": "www.bank.test", "server": "[::1]x"}, "is not host:port"),
        ({"query_name": "www..bank.test"}, "is not a DNS name"),
        ({"query_name": "www.bank.test", "query_type": "ANY"}, "'A', 'AAAA', 'CNAME'"),
        ({"query_name": "www.bank.test", "transport": "doh"}, "'udp' or 'tcp'"),
        ({"query_name": "www.bank.test", "retries": 3}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_config(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[")):
        DnsProbe.model_validate(settings)


@pytest.mark.parametrize(
    ("settings", "target"),
    [
        ({"query_name": "www.bank.test", "server": "10.0.0.53"}, "dns://10.0.0.53/www.bank.test/A"),
        ({"query_name": "bank.test", "query_type": "MX"}, "dns://system/bank.test/MX"),
    ],
)
def test_target(settings: dict[str, Any], target: str) -> None:
    assert SPEC.target(DnsProbe.model_validate(settings)) == target


def test_system_nameserver_is_the_first_in_resolv_conf(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("search bank.test\nnameserver 10.0.0.53\nnameserver 10.0.0.54\n")
    assert system_nameserver(str(conf)) == "10.0.0.53"


@pytest.mark.parametrize("content", [None, "search bank.test\n"])
def test_no_system_nameserver_is_a_dns_error(tmp_path: Path, content: str | None) -> None:
    conf = tmp_path / "resolv.conf"
    if content is not None:
        conf.write_text(content)
    with pytest.raises(ProbeFailed) as raised:
        system_nameserver(str(conf))
    assert raised.value.reason is Reason.DNS_ERROR
    assert raised.value.message.startswith("no system nameserver: ")
