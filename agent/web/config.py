"""The web config file (``--web.config.file``): exporter-toolkit's format, checked like ours.

The same file Prometheus and its exporters read (``promtool check web-config`` passes it):
TLS with optional client certificates, basic auth with bcrypt hashes, and response headers.
Unknown keys, keys of the format this agent does not implement, and unusable files are
errors naming file, line and key. Relative paths are read from the file's own directory.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from agent.config import ConfigError, Problem
from agent.config.errors import format_path, sort_problems, validation_problems
from agent.config.loader import read_document
from agent.web.tls import (
    CIPHER_SUITES,
    CLIENT_AUTH,
    UNVERIFIED_CLIENT_AUTH,
    VERSIONS,
    ServerTls,
    TlsFileError,
    server_context,
)

TOP_KEYS = "tls_server_config, http_server_config, basic_auth_users"
_BCRYPT = re.compile(r"^\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}$")
# exporter-toolkit lets these headers be set, some only to these values
HEADERS: dict[str, tuple[str, ...]] = {
    "Content-Security-Policy": (),
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# keys of the exporter-toolkit format this agent does not implement, and what to do instead
_INSTEAD = {
    "cert": "write the certificate to a file and name it in cert_file",
    "key": "write the key to a file and name it in key_file",
    "client_ca": "write the CA certificates to a file and name it in client_ca_file",
    "client_allowed_sans": "issue the allowed clients' certificates from a CA of their own",
    "curve_preferences": "leave it out; OpenSSL chooses the curves",
    "rate_limit": "leave it out, or put a rate-limiting proxy in front",
}


def _refuse(_: object, info: ValidationInfo) -> None:
    instead = _INSTEAD.get(info.field_name or "", "leave it out")
    raise ValueError(f"not implemented by oversight (exporter-toolkit has it); {instead}")


Unsupported = Annotated[Any, AfterValidator(_refuse)]


def _empty_if_none(value: object) -> object:
    return {} if value is None else value


def _client_auth(value: str) -> str:
    if value in CLIENT_AUTH:
        return value
    if value in UNVERIFIED_CLIENT_AUTH:
        raise ValueError(
            f"{value} takes a client certificate without verifying it, which oversight "
            "does not do; use RequireAndVerifyClientCert with client_ca_file"
        )
    raise ValueError(f"{value!r} is not one of {', '.join(CLIENT_AUTH)}")


def _cipher_suite(value: str) -> str:
    if value in CIPHER_SUITES:
        return value
    close = difflib.get_close_matches(value, CIPHER_SUITES, n=1, cutoff=0.8)
    hint = f"; did you mean {close[0]!r}?" if close else " (Go's tls.CipherSuites() names)"
    raise ValueError(f"unknown cipher suite {value!r}{hint}")


def _bcrypt_hash(value: str) -> str:
    if not _BCRYPT.match(value):
        raise ValueError(
            "is not a bcrypt hash; make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n'"
        )
    return value


TlsVersion = Literal["TLS10", "TLS11", "TLS12", "TLS13"]
HeaderName = Literal[
    "Content-Security-Policy",
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
]


class TlsServerConfig(_Frozen):
    cert_file: str
    key_file: str
    client_auth_type: Annotated[str, AfterValidator(_client_auth)] = "NoClientCert"
    client_ca_file: str | None = None
    min_version: TlsVersion = "TLS12"
    max_version: TlsVersion = "TLS13"
    cipher_suites: tuple[Annotated[str, AfterValidator(_cipher_suite)], ...] = ()
    prefer_server_cipher_suites: bool = True
    cert: Unsupported = None
    key: Unsupported = None
    client_ca: Unsupported = None
    client_allowed_sans: Unsupported = None
    curve_preferences: Unsupported = None

    @model_validator(mode="after")
    def _consistent(self) -> TlsServerConfig:
        if self.client_ca_file is not None and self.client_auth_type == "NoClientCert":
            raise ValueError(
                "client_ca_file is set but client_auth_type is NoClientCert; "
                "set client_auth_type: RequireAndVerifyClientCert"
            )
        if VERSIONS[self.min_version] > VERSIONS[self.max_version]:
            raise ValueError(
                f"min_version {self.min_version} is above max_version {self.max_version}"
            )
        return self


class HttpServerConfig(_Frozen):
    http2: bool = True  # accepted; the listener speaks HTTP/1.1, which every client falls back to
    headers: Annotated[dict[HeaderName, str], BeforeValidator(_empty_if_none)] = {}

    @model_validator(mode="after")
    def _header_values(self) -> HttpServerConfig:
        for name, value in self.headers.items():
            allowed = HEADERS[name]
            if allowed and value not in allowed:
                raise ValueError(
                    f"headers.{name} must be one of {', '.join(allowed)}, not {value!r}"
                )
        return self


class WebConfigFile(_Frozen):
    tls_server_config: TlsServerConfig | None = None
    http_server_config: Annotated[HttpServerConfig, BeforeValidator(_empty_if_none)] = (
        HttpServerConfig()
    )
    basic_auth_users: Annotated[
        dict[str, Annotated[str, AfterValidator(_bcrypt_hash)]], BeforeValidator(_empty_if_none)
    ] = {}
    rate_limit: Unsupported = None


@dataclass(frozen=True)
class WebConfig:
    """What the listener enforces. ``tls`` None is plain HTTP; no ``users``, no basic auth."""

    source: str = ""  # the file as named; empty when there is none
    tls: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)  # user -> bcrypt hash
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def summary(self) -> str:
        parts = ["TLS" if self.tls else "plain HTTP"]
        if self.tls is not None and self.tls.verify_mode == ssl.CERT_REQUIRED:
            parts.append("client certificates required")
        if self.users:
            users = len(self.users)
            parts.append(f"basic auth ({users} user{'s' if users > 1 else ''})")
        return ", ".join(parts)


def load_web_config(path: str | Path) -> WebConfig:
    """Read and check a web config file; raise ConfigError listing every problem."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "the file is not UTF-8 text"
        raise ConfigError(
            [Problem(name, None, "", f"cannot read the web config: {reason}")]
        ) from None
    if all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
        return WebConfig(name)  # as exporter-toolkit: an empty file guards nothing
    data, source, problems = read_document(text, name, TOP_KEYS)
    if problems or not isinstance(data, dict):
        raise ConfigError(sort_problems(problems))
    try:
        model = WebConfigFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            sort_problems(
                validation_problems(
                    exc, file=name, model=WebConfigFile, data=data, line_for=source.line_for
                )
            )
        ) from None
    context = None
    if model.tls_server_config is not None:
        settings = model.tls_server_config
        fields = {f.name for f in dataclasses.fields(ServerTls)}
        tls = ServerTls(**settings.model_dump(include=fields))
        try:
            context = server_context(tls, Path(path).parent)
        except TlsFileError as exc:
            key = ("tls_server_config", exc.key)
            raise ConfigError(
                [Problem(name, source.line_for(key), format_path(key), str(exc))]
            ) from None
    return WebConfig(
        source=name,
        tls=context,
        users={user: hashed.encode() for user, hashed in model.basic_auth_users.items()},
        headers=tuple(model.http_server_config.headers.items()),
    )
