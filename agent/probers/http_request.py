"""The settings of one HTTP request, shared by the http kind and each step of a flow."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ByteSize,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from yarl import URL

from agent.fields import Token
from agent.probers.http_client import HttpUrlText
from agent.probers.tlsconf import TlsClientConfig
from agent.redact import MASK, is_secret_header

CONFIG = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)  # inputs hold secrets


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


class BasicAuth(BaseModel):
    model_config = CONFIG

    username: str
    password: str | None = None
    password_file: str | None = Field(None, description="read at every probe, so rotation works")

    @model_validator(mode="after")
    def _one_password(self) -> BasicAuth:
        if (self.password is None) == (self.password_file is None):
            raise ValueError("basic_auth needs exactly one of password and password_file")
        return self


class HttpRequest(BaseModel):
    """One HTTP request: where, how, with which credentials and TLS settings."""

    model_config = CONFIG

    url: HttpUrlText
    method: Annotated[Token, BeforeValidator(_upper)] = "GET"
    headers: dict[Token, str] = Field(default_factory=dict)
    body: str | None = None
    follow_redirects: bool = True
    max_redirects: int = Field(10, ge=0, le=100)
    max_body_bytes: Annotated[ByteSize, Field(gt=0)] = ByteSize(1 << 20)
    tls: TlsClientConfig = TlsClientConfig()
    ip_protocol: Literal["auto", "ip4", "ip6"] = "auto"
    basic_auth: BasicAuth | None = None
    bearer_token: str | None = None
    bearer_token_file: str | None = Field(None, description="read at every probe")
    secret_headers: tuple[str, ...] = Field((), description="more header names to redact")
    trace_context: bool = Field(True, description="send W3C traceparent with the request")

    @field_validator("headers")
    @classmethod
    def _no_line_breaks(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if "\r" in text or "\n" in text:
                raise ValueError(f"header {name} has a line break in its value")
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> HttpRequest:
        sources = [
            name
            for name, present in (
                ("user:password in url", URL(self.url).user is not None),
                ("basic_auth", self.basic_auth is not None),
                ("bearer_token", self.bearer_token is not None),
                ("bearer_token_file", self.bearer_token_file is not None),
                ("an Authorization header", "authorization" in map(str.lower, self.headers)),
            )
            if present
        ]
        if len(sources) > 1:
            raise ValueError(f"give one credential, not {' and '.join(sources)}")
        return self

    def secret_header(self, name: str) -> bool:
        """Whether a header of this request carries a secret (credentials, or a named extra)."""
        return is_secret_header(name, self.secret_headers)

    def shown_headers(self) -> tuple[tuple[str, str], ...]:
        """The headers as configured and the Authorization a credential adds, every secret
        value masked: what a person may see of the request."""
        shown = [(k, MASK if self.secret_header(k) else h) for k, h in self.headers.items()]
        if self.basic_auth is not None or "@" in urlsplit(self.url).netloc:
            shown.append(("Authorization", f"Basic {MASK}"))
        elif self.bearer_token is not None or self.bearer_token_file is not None:
            shown.append(("Authorization", f"Bearer {MASK}"))
        return tuple(shown)
