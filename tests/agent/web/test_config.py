"""The web config file: exporter-toolkit's format, every valid file also passing Prometheus'
own ``promtool check web-config``, every invalid one refused with file, line and key."""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path

import bcrypt
import pytest
import yaml

from agent.cli import main
from agent.config import ConfigError
from agent.web.config import load_web_config
from tests.agent.web.conftest import Certs, agent_config
from tests.alerts.tools import binary, run

HERE = Path(__file__).parent
VALID = sorted((HERE / "valid").glob("*.yml"))
HOW = "make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n'"
INVALID = {
    "unknown_key": [
        "unknown_key.yml:4: tls_server_config: unknown key 'min_verison'; "
        "did you mean 'min_version'?"
    ],
    "unknown_top_key": [
        "unknown_top_key.yml:1: unknown key 'basic_auth_user'; did you mean 'basic_auth_users'?"
    ],
    "top_level_list": [
        "top_level_list.yml:1: the top level must be a mapping of keys "
        "(tls_server_config, http_server_config, basic_auth_users)"
    ],
    "not_bcrypt": [f"not_bcrypt.yml:2: basic_auth_users.prometheus: is not a bcrypt hash; {HOW}"],
    "duplicate_user": [
        "duplicate_user.yml:3: basic_auth_users: duplicate key 'prometheus' (first at line 2)"
    ],
    "missing_key_file": [
        "missing_key_file.yml:1: tls_server_config: missing required key 'key_file'"
    ],
    "unreadable_cert": [
        "unreadable_cert.yml:2: tls_server_config.cert_file: cannot read tls/missing.crt: "
        "No such file or directory"
    ],
    "not_a_certificate": [
        "not_a_certificate.yml:2: tls_server_config.cert_file: cert_file tls/agent.key and "
        "key_file tls/agent.key are not a PEM certificate and its private key"
    ],
    "header_value": [
        "header_value.yml:1: http_server_config: headers.X-Frame-Options must be one of deny, "
        "sameorigin, not 'allow'"
    ],
    "header_name": [
        "header_name.yml:3: http_server_config.headers: invalid name 'X-Powered-By': Input "
        "should be 'Content-Security-Policy', 'Strict-Transport-Security', "
        "'X-Content-Type-Options', 'X-Frame-Options' or 'X-XSS-Protection'"
    ],
    "client_ca_without_auth": [
        "client_ca_without_auth.yml:1: tls_server_config: client_ca_file is set but "
        "client_auth_type is NoClientCert; set client_auth_type: RequireAndVerifyClientCert"
    ],
    "unverified_client_auth": [
        "unverified_client_auth.yml:4: tls_server_config.client_auth_type: RequireAnyClientCert "
        "takes a client certificate without verifying it, which oversight does not do; use "
        "RequireAndVerifyClientCert with client_ca_file"
    ],
    "cipher_suite": [
        "cipher_suite.yml:4: tls_server_config.cipher_suites[0]: unknown cipher suite "
        "'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA265'; did you mean "
        "'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'?"
    ],
    "versions": ["versions.yml:1: tls_server_config: min_version TLS13 is above max_version TLS12"],
    "rate_limit": [
        "rate_limit.yml:1: rate_limit: not implemented by oversight (exporter-toolkit has it); "
        "leave it out, or put a rate-limiting proxy in front"
    ],
    "several": [
        "several.yml:4: tls_server_config.client_auth_type: 'Sometimes' is not one of "
        "NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert",
        "several.yml:5: tls_server_config.curve_preferences: not implemented by oversight "
        "(exporter-toolkit has it); leave it out; OpenSSL chooses the curves",
        f"several.yml:7: basic_auth_users.prometheus: is not a bcrypt hash; {HOW}",
    ],
}


def placed(source: Path, certs: Certs) -> Path:
    """The file beside the test's ``tls/`` directory, where its relative paths point."""
    target = certs.directory.parent / source.name
    shutil.copy(source, target)
    return target


@pytest.mark.parametrize("source", VALID, ids=lambda p: p.stem)
def test_a_valid_file_loads_and_passes_promtool(source: Path, certs: Certs) -> None:
    path = placed(source, certs)
    load_web_config(path)
    checked = run(binary("promtool"), "check", "web-config", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout + checked.stderr


def test_what_a_full_file_sets(certs: Certs) -> None:
    config = load_web_config(placed(HERE / "valid" / "tls_basic_auth.yml", certs))
    assert config.tls is not None
    assert (config.tls.minimum_version, config.tls.maximum_version) == (
        ssl.TLSVersion.TLSv1_2,
        ssl.TLSVersion.TLSv1_3,
    )
    assert config.tls.verify_mode == ssl.CERT_NONE
    assert config.tls.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    tls12 = {c["name"] for c in config.tls.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 == {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"}
    assert set(config.users) == {"prometheus"}
    assert config.users["prometheus"].startswith(b"$2b$04$")
    assert dict(config.headers) == {
        "Strict-Transport-Security": "max-age=31536000",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "deny",
        "Content-Security-Policy": "default-src 'self'",
    }
    assert config.summary == "TLS, basic auth (1 user)"


def test_client_certificates_are_required_and_verified(certs: Certs) -> None:
    config = load_web_config(placed(HERE / "valid" / "mtls.yml", certs))
    assert config.tls is not None
    assert config.tls.verify_mode == ssl.CERT_REQUIRED
    assert config.tls.minimum_version == ssl.TLSVersion.TLSv1_3
    assert config.summary == "TLS, client certificates required"


@pytest.mark.parametrize("name", ["empty", "nulls"])
def test_an_empty_file_guards_nothing(name: str, certs: Certs) -> None:
    config = load_web_config(placed(HERE / "valid" / f"{name}.yml", certs))
    assert (config.tls, dict(config.users), config.headers) == (None, {}, ())


@pytest.mark.parametrize("name", sorted(INVALID))
def test_an_invalid_file_is_refused_with_file_line_and_key(name: str, certs: Certs) -> None:
    path = placed(HERE / "invalid" / f"{name}.yml", certs)
    with pytest.raises(ConfigError) as caught:
        load_web_config(path)
    assert [str(p).replace(f"{path.parent}/", "") for p in caught.value.problems] == INVALID[name]


def test_every_invalid_file_has_its_expected_problems() -> None:
    assert {p.stem for p in (HERE / "invalid").glob("*.yml")} == set(INVALID)


def test_a_missing_file_is_a_problem_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_web_config(tmp_path / "web.yml")
    assert [p.message for p in caught.value.problems] == [
        "cannot read the web config: No such file or directory"
    ]


def test_check_reads_the_web_config_the_config_names(
    certs: Certs, capsys: pytest.CaptureFixture[str]
) -> None:
    web = placed(HERE / "valid" / "mtls.yml", certs)
    config = web.with_name("oversight.yaml")
    config.write_text(agent_config("http://127.0.0.1:1/", extra=f"  web_config: {web.name}\n"))
    assert main(["check", "-c", str(config)]) == 0
    assert (
        capsys.readouterr()
        .out.rstrip()
        .endswith("; web config mtls.yml: TLS, client certificates required")
    )
    placed(HERE / "invalid" / "versions.yml", certs).rename(web)
    assert main(["check", "-c", str(config)]) == 1
    assert capsys.readouterr().err == (
        f"{web}:1: tls_server_config: min_version TLS13 is above max_version TLS12\n"
    )


def documented_blocks() -> list[str]:
    """The YAML blocks of docs/listener.md's "Securing the listener" section, in order."""
    text = (HERE.parents[2] / "docs" / "listener.md").read_text()
    section = text.split("## Securing the listener", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0] for block in section.split("```yaml\n")[1:]]


def test_the_documented_example_and_its_scrape_config_agree(certs: Certs) -> None:
    web_block, scrape_block = documented_blocks()
    path = certs.directory.parent / "web.yml"  # its tls/ paths are the fixture's files
    path.write_text(web_block)
    config = load_web_config(path)
    assert config.summary == "TLS, client certificates required, basic auth (1 user)"
    checked = run(binary("promtool"), "check", "web-config", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (job,) = yaml.safe_load(scrape_block)["scrape_configs"]
    assert job["scheme"] == "https"
    assert set(job["tls_config"]) == {"ca_file", "cert_file", "key_file"}
    assert job["basic_auth"]["username"] in config.users
    assert bcrypt.checkpw(b"change-me", config.users[job["basic_auth"]["username"]])
