"""The grpc kind's run: a grpc.aio channel, the Health Check call, its failures as reasons."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agent.probers.base import ProbeContext
from agent.probers.grpc import GrpcProbe
from agent.results import ProbeFailed, Reason

_CONNECT_PREFIX = re.compile(
    r"^failed to connect to all addresses; last error: \w+: (ipv[46]:\S+: )?"
)
_SERVING = {
    health_pb2.HealthCheckResponse.SERVING: "SERVING",
    health_pb2.HealthCheckResponse.NOT_SERVING: "NOT_SERVING",
    health_pb2.HealthCheckResponse.SERVICE_UNKNOWN: "SERVICE_UNKNOWN",
}
_TLS_WORDS = ("ssl", "tls", "handshake", "certificate", "verification")
_CHANNEL_OPTIONS: tuple[tuple[str, str | int], ...] = (
    ("grpc.enable_retries", 0),  # one attempt: a probe reports, it does not retry
    ("grpc.enable_http_proxy", 0),  # connect directly, like the tcp kind
)


async def probe(config: GrpcProbe, ctx: ProbeContext) -> None:
    ctx.secrets.update(v for v in config.metadata.values() if v)  # a server may echo them
    async with _channel(config, ctx.remaining()) as channel:
        with ctx.phase("connect"):
            state = channel.get_state(try_to_connect=True)
            while state not in (
                grpc.ChannelConnectivity.READY,
                grpc.ChannelConnectivity.TRANSIENT_FAILURE,
                grpc.ChannelConnectivity.SHUTDOWN,
            ):
                await channel.wait_for_state_change(state)
                state = channel.get_state(try_to_connect=True)
        # A channel that failed to connect fails the call at once, with the connect error.
        stub = health_pb2_grpc.HealthStub(channel)
        with ctx.phase("rpc"):
            try:
                response = await stub.Check(
                    health_pb2.HealthCheckRequest(service=config.service),
                    timeout=max(ctx.remaining(), 0.001),
                    metadata=_metadata(config, ctx),
                    wait_for_ready=False,
                )
            except grpc.aio.AioRpcError as exc:
                ctx.facts["GRPC_STATUS"] = exc.code().name
                _record_failure(ctx, config, exc)
                return
    ctx.facts["GRPC_STATUS"] = grpc.StatusCode.OK.name
    ctx.facts["SERVING_STATUS"] = _SERVING.get(response.status, "UNKNOWN")


def _channel(config: GrpcProbe, seconds: float) -> grpc.aio.Channel:
    """A channel whose connection attempt (TCP, TLS and the HTTP/2 handshake) gives up within
    ``seconds``: closing a channel does not end an attempt in progress, which otherwise holds
    its socket for gRPC's 20 s minimum connect timeout after the run has ended."""
    options: list[tuple[str, str | int]] = list(_CHANNEL_OPTIONS)
    options.append(("grpc.min_reconnect_backoff_ms", max(100, int(seconds * 1000))))
    if config.authority:
        options.append(("grpc.default_authority", config.authority))
    if not config.tls:
        return grpc.aio.insecure_channel(config.address, options=options)
    cfg = config.tls_config
    if cfg.server_name:
        options.append(("grpc.ssl_target_name_override", cfg.server_name))
    try:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_read(cfg.ca_file),
            private_key=_read(cfg.key_file or cfg.cert_file),
            certificate_chain=_read(cfg.cert_file),
        )
    except OSError as exc:
        raise ProbeFailed(Reason.TLS_ERROR, f"cannot read the TLS files: {exc}") from exc
    return grpc.aio.secure_channel(config.address, credentials, options=options)


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


def _metadata(config: GrpcProbe, ctx: ProbeContext) -> tuple[tuple[str, str | bytes], ...]:
    """Configured metadata plus the trace context; ``-bin`` keys carry bytes."""
    pairs = {key.lower(): value for key, value in ctx.trace_headers.items()}
    pairs.update(config.metadata)
    return tuple((k, v.encode() if k.endswith("-bin") else v) for k, v in pairs.items())


def _record_failure(ctx: ProbeContext, config: GrpcProbe, exc: grpc.aio.AioRpcError) -> None:
    """Map a failed Check to facts (NOT_FOUND) or to the reason it stands for; the runner
    masks any metadata value the server echoes in its details."""
    code, details = exc.code(), exc.details() or ""
    if code is grpc.StatusCode.NOT_FOUND:
        ctx.facts["SERVING_STATUS"] = "SERVICE_UNKNOWN"
        return
    if code is grpc.StatusCode.UNIMPLEMENTED:
        raise ProbeFailed(Reason.PROTOCOL_ERROR, "the server does not implement grpc.health.v1")
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        raise TimeoutError  # the runner words it: no answer within the probe's timeout
    if code is grpc.StatusCode.UNAVAILABLE:
        raise _unavailable(details, config)
    raise ProbeFailed(Reason.PROTOCOL_ERROR, f"the health check failed: {code.name}: {details}")


def _unavailable(details: str, config: GrpcProbe) -> ProbeFailed:
    details = _CONNECT_PREFIX.sub("", details)
    lowered = details.lower()
    if "connection refused" in lowered:
        return ProbeFailed(Reason.CONNECT_REFUSED, "connection refused")
    if config.tls and any(w in lowered for w in _TLS_WORDS):
        return ProbeFailed(Reason.TLS_ERROR, f"TLS handshake failed: {details}")
    if "dns resolution failed" in lowered or "name resolution" in lowered:
        return ProbeFailed(Reason.DNS_ERROR, f"cannot resolve: {details}")
    return ProbeFailed(Reason.CONNECT_ERROR, f"UNAVAILABLE: {details}")
