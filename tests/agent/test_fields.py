"""The shared field types: one host:port parser, one percentage rule."""

from __future__ import annotations

import pytest

from agent.fields import parse_percent, split_host_port


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        ("pay.bank.test:443", ("pay.bank.test", 443)),
        ("[::1]:8443", ("::1", 8443)),
        ("[2001:db8::1]:1", ("2001:db8::1", 1)),
    ],
)
def test_host_port(address: str, expected: tuple[str, int]) -> None:
    assert split_host_port(address) == expected


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("10.0.0.53", ("10.0.0.53", 53)),
        ("10.0.0.53:5353", ("10.0.0.53", 5353)),
        ("ns1.bank.test", ("ns1.bank.test", 53)),
        ("ns1.bank.test:54", ("ns1.bank.test", 54)),
        ("::1", ("::1", 53)),
        ("[::1]", ("::1", 53)),
        ("[2001:db8::53]:5353", ("2001:db8::53", 5353)),
    ],
)
def test_host_with_a_default_port(server: str, expected: tuple[str, int]) -> None:
    assert split_host_port(server, default_port=53) == expected


def test_a_listen_address_may_leave_host_and_port_open() -> None:
    assert split_host_port(":9469", listen=True) == ("", 9469)
    assert split_host_port("[::1]:9469", listen=True) == ("::1", 9469)
    assert split_host_port("127.0.0.1:0", listen=True) == ("127.0.0.1", 0)


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("bank.test", "is not host:port"),
        ("bank.test:", "is not host:port"),
        (":9469", "has no host"),
        ("bank.test:0", "the port must be a number from 1 to 65535"),
        ("bank.test:70000", "the port must be a number from 1 to 65535"),
        ("bank.test:http", "the port must be a number from 1 to 65535"),
        ("a:b:c", "is not an IPv6 address"),
        ("[::1", "is not host:port"),
    ],
)
def test_bad_addresses_say_what_is_wrong(address: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_host_port(address)


@pytest.mark.parametrize(
    ("written", "share"),
    [
        ("90%", 0.9),
        ("90", 0.9),
        (90, 0.9),
        (0.9, 0.9),
        ("0.9", 0.9),
        ("99.95%", 0.9995),
        (1, 1.0),
        ("0%", 0.0),
        ("0.5%", 0.005),
    ],
)
def test_one_percentage_rule(written: object, share: float) -> None:
    assert parse_percent(written) == pytest.approx(share)


@pytest.mark.parametrize("written", ["150%", 101, -1, "ninety", True, None])
def test_bad_percentages_are_refused(written: object) -> None:
    with pytest.raises(ValueError):
        parse_percent(written)
