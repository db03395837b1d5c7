"""Field types every config model shares: names, durations, percentages, host:port, TLS versions.

Each rule is written once here, so that ``90`` means the same in a threshold as in a policy and
an address parses the same way for a probe as for the listener.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from agent.durations import parse_duration

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
"""A pattern, integration or probe name: it becomes a label value and part of an id."""

LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]
Token = Annotated[str, Field(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")]
"""An RFC 9110 token: header names and methods."""

TlsVersionName = Literal["TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3"]

Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


def parse_percent(value: object) -> float:
    """A share from ``90%``, ``90`` or ``0.9`` (all 90 %): numbers up to 1 are ratios, numbers
    above 1 are percentages, and ``%`` always means a percentage."""
    if isinstance(value, bool):
        raise ValueError("expected a percentage like 90% or a ratio like 0.9")
    if isinstance(value, str):
        text = value.strip()
        try:
            if text.endswith("%"):
                return _bounded(float(text[:-1]) / 100, value)
            value = float(text)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a percentage; write it like 90%, 90 or 0.9"
            ) from None
    if not isinstance(value, int | float):
        raise ValueError("expected a percentage like 90% or a ratio like 0.9")
    return _bounded(value / 100 if value > 1 else float(value), value)


def _bounded(share: float, written: object) -> float:
    if not 0 <= share <= 1:
        raise ValueError(f"{written!r} is not between 0% and 100%")
    return share


Percent = Annotated[float, BeforeValidator(parse_percent)]
"""A share of 1: ``90%``, ``90`` and ``0.9`` all load as 0.9."""


def split_host_port(
    address: str, *, default_port: int | None = None, listen: bool = False
) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` -> (host, port); a ValueError says what is wrong.

    ``default_port`` allows a bare host (``ns1.example`` -> port 53). A ``listen`` address may
    leave the host empty (``:9469``: every interface, returned as "") and ask for port 0 (any).
    """
    text = address.strip()
    host, port = text, ""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"{address!r} is not host:port ([v6 address]:port for IPv6)")
        port = rest[1:]
        _ip6(host, address)
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    elif ":" in text:  # a bare IPv6 address, only where the port may be left out
        _ip6(text, address)
    if not port:
        if default_port is None or text.endswith(":"):
            raise ValueError(f"{address!r} is not host:port")
        port = str(default_port)
    if not port.isdigit() or not (0 if listen else 1) <= int(port) < 65536:
        raise ValueError(f"{address!r}: the port must be a number from 1 to 65535")
    if not host and not listen:
        raise ValueError(f"{address!r} has no host")
    return host, int(port)


def _ip6(host: str, address: str) -> None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise ValueError(f"{address!r}: {host!r} is not an IPv6 address") from None


def _host_port(value: str) -> str:
    split_host_port(value)
    return value


HostPort = Annotated[str, AfterValidator(_host_port), Field(description="host:port")]
"""An address checked as the config loads, kept as written (``split_host_port`` reads it)."""
