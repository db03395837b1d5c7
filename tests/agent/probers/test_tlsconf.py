"""Client TLS settings are read when the config loads, so a wrong path names its line."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from agent.config import ConfigError, load_config_text
from agent.probers.tlsconf import TlsClientConfig

CONFIG = """\
patterns:
  p:
    integrations:
      i:
        scope: external
        probes:
          cert:
            tls:
              address: 127.0.0.1:443
              tls:
                ca_file: {ca_file}
"""


def test_a_readable_ca_file_loads(tmp_path: Path) -> None:
    ca = trustme.CA()
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    assert TlsClientConfig(ca_file=str(path)).ca_file == str(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot load the TLS files: [Errno 2] No such file or directory"),
        ("not a certificate", "cannot load the TLS files: "),
    ],
)
def test_a_wrong_ca_file_is_a_config_error_at_its_line(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_config_text(CONFIG.format(ca_file=path), name="oversight.yaml")
    (problem,) = caught.value.problems
    assert (problem.line, problem.path) == (10, "patterns.p.integrations.i.probes.cert.tls.tls")
    assert problem.message.startswith(message)


def test_key_file_needs_cert_file() -> None:
    with pytest.raises(ValueError, match="key_file needs cert_file"):
        TlsClientConfig(key_file="/dev/null")
