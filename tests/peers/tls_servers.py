"""A trustme CA, certificates good and bad, and loopback TCP/TLS servers that use them."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SERVICE_NAME = "service.oversight.test"
OTHER_NAME = "other.oversight.test"
ORG = "Oversight Test"
CA_ORG = "Oversight Test CA"

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Pem:
    """A server certificate as files, and the dates it was issued with."""

    cert_file: Path
    key_file: Path
    not_before: dt.datetime
    not_after: dt.datetime


@dataclass(frozen=True)
class TlsPki:
    """Built once per session: ``ca_file`` is what a client trusts; ``certs[name]`` are:

    ``valid`` (SANs service.oversight.test and 127.0.0.1, expires in 90 days),
    ``expiring`` (same names, expires in 10 days), ``expired``, ``not_yet_valid``,
    ``wrong_host`` (other.oversight.test only), ``untrusted`` (issued by another CA) and
    ``self_signed``. All subjects carry ``O=Oversight Test``; ``CN`` is the first name.
    """

    directory: Path
    ca_file: Path
    certs: dict[str, Pem]

    @classmethod
    def create(cls, directory: Path) -> TlsPki:
        ca = trustme.CA(organization_name=CA_ORG)
        stranger = trustme.CA(organization_name="Somebody Else CA")
        ca_file = directory / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        now, day = _now(), dt.timedelta(days=1)
        both = (SERVICE_NAME, "127.0.0.1")
        plan: dict[str, tuple[trustme.CA, tuple[str, ...], dt.datetime, dt.datetime]] = {
            "valid": (ca, both, now - day, now + 90 * day),
            "expiring": (ca, both, now - day, now + 10 * day),
            "expired": (ca, both, now - 30 * day, now - day),
            "not_yet_valid": (ca, both, now + day, now + 30 * day),
            "wrong_host": (ca, (OTHER_NAME,), now - day, now + 90 * day),
            "untrusted": (stranger, both, now - day, now + 90 * day),
        }
        certs: dict[str, Pem] = {}
        for name, (issuer, names, not_before, not_after) in plan.items():
            leaf = issuer.issue_cert(
                *names,
                common_name=names[0],
                organization_name=ORG,
                not_before=not_before,
                not_after=not_after,
            )
            pem = Pem(directory / f"{name}.crt", directory / f"{name}.key", not_before, not_after)
            with pem.cert_file.open("wb") as out:
                for blob in leaf.cert_chain_pems:
                    out.write(blob.bytes())
            leaf.private_key_pem.write_to_path(str(pem.key_file))
            certs[name] = pem
        certs["self_signed"] = _self_signed(directory, now - day, now + 90 * day)
        return cls(directory, ca_file, certs)

    def server_context(
        self, name: str, *, max_version: ssl.TLSVersion | None = None
    ) -> ssl.SSLContext:
        """A server context presenting ``certs[name]``, optionally capped at a TLS version."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        pem = self.certs[name]
        context.load_cert_chain(pem.cert_file, pem.key_file)
        if max_version is not None:
            context.maximum_version = max_version
        return context


def _self_signed(directory: Path, not_before: dt.datetime, not_after: dt.datetime) -> Pem:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
            x509.NameAttribute(NameOID.COMMON_NAME, SERVICE_NAME),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(SERVICE_NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = Pem(directory / "self_signed.crt", directory / "self_signed.key", not_before, not_after)
    pem.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pem


@dataclass
class Listener:
    """A running server: where it listens and what its connections did."""

    host: str
    port: int
    accepted: int = 0
    closed_by_client: int = 0
    received: list[bytes] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


async def echo(
    listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Answer the first chunk with ``echo: <chunk>`` and close."""
    data = await reader.read(4096)
    listener.received.append(data)
    if data:
        writer.write(b"echo: " + data)
        await writer.drain()


async def silent(
    listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Read everything, answer nothing, until the client goes away."""
    while data := await reader.read(4096):
        listener.received.append(data)
    listener.closed_by_client += 1


@contextlib.asynccontextmanager
async def serve(
    context: ssl.SSLContext | None = None,
    handler: Callable[
        [Listener, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]
    ] = echo,
    host: str = "127.0.0.1",
) -> AsyncIterator[Listener]:
    """A server on ``host`` port 0: TLS with ``context``, plain TCP without.

    A plain ``serve(handler=silent)`` accepts and never completes a TLS handshake.
    Handshake failures (the client rejecting our certificate) are the point of most tests
    and end the connection quietly.
    """
    listener = Listener(host, 0)
    writers: set[asyncio.StreamWriter] = set()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            await handler(listener, reader, writer)
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writers.discard(writer)
            writer.close()

    def protocol() -> asyncio.StreamReaderProtocol:
        listener.accepted += 1  # on accept, before the handshake: rejected ones count too
        return asyncio.StreamReaderProtocol(asyncio.StreamReader(), connection)

    server = await asyncio.get_running_loop().create_server(protocol, host, 0, ssl=context)
    listener.port = server.sockets[0].getsockname()[1]
    try:
        yield listener
    finally:
        server.close()
        for writer in list(writers):
            writer.close()
        await server.wait_closed()
