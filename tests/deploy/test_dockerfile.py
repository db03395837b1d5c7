"""deploy/Dockerfile, read (Docker cannot run here): what it installs, runs and exposes agrees
with the project and with the sidecar that runs it."""

from __future__ import annotations

import json
import re
import tomllib

from tests.deploy.manifests import DEPLOY, ROOT, config_text, sidecar

DOCKERFILE = DEPLOY / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    lines = [
        line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [
        (word.upper(), rest.strip())
        for word, _, rest in (
            line.strip().partition(" ") for line in joined.splitlines() if line.strip()
        )
    ]


def single(name: str) -> str:
    found = [args for word, args in instructions() if word == name]
    assert len(found) == 1, f"{len(found)} {name} instructions"
    return found[0]


def test_base_user_and_entrypoint() -> None:
    assert single("FROM") == "python:3.11-slim"
    user = single("USER").split(":")[0]
    assert user.isdigit() and user != "0", "a numeric non-root user, so runAsNonRoot can check it"
    assert int(user) == sidecar()["securityContext"]["runAsUser"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert json.loads(single("ENTRYPOINT")) == ["oversight"]
    assert "oversight" in scripts
    assert json.loads(single("CMD")) == sidecar()["args"]


def test_port_and_healthcheck() -> None:
    listen = re.search(r'listen: "(.*?)"', config_text())
    assert listen
    port = int(listen[1].rsplit(":", 1)[1])
    assert single("EXPOSE") == str(port)
    ports = {p["name"]: p["containerPort"] for p in sidecar()["ports"]}
    assert ports["metrics"] == port
    check = single("HEALTHCHECK")
    assert "curl" not in check and "wget" not in check
    command = json.loads(check[check.index("CMD") + 3 :])
    assert command[0] == "python"
    assert f"http://127.0.0.1:{port}/healthz" in command[-1]
    compile(command[-1], "HEALTHCHECK", "exec")  # valid Python


def test_installs_the_package_from_what_it_copies() -> None:
    copied = [args.split()[:-1] for word, args in instructions() if word == "COPY"]
    sources = {source for sources in copied for source in sources}
    assert {"pyproject.toml", "README.md"} <= sources  # README is the package's readme
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
    assert {p.rstrip("*") for p in packages} <= sources
    for source in sources:
        assert (ROOT / source).exists(), source
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    for source in sources:
        assert f"!{source}" in ignore, f"{source} is excluded from the build context"
    assert any(
        args.startswith("pip install /src") for word, args in instructions() if word == "RUN"
    )
