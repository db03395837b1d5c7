"""Write the dashboards' JSON beside their code: ``python -m dashboards.build [--check]``.

The JSON is committed so Grafana can provision it as it is; ``--check`` (and the test) fails
when it differs from what the code generates, so the two never drift apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from dashboards import agent, compliance, integration, overview

HERE = Path(__file__).resolve().parent
# The SDK's Grafana flavour the JSON is generated with; pip picks the 10.1 one unless pinned.
FLAVOUR = "11.6.0"
BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "overview": overview.build,
    "integration": integration.build,
    "compliance": compliance.build,
    "agent": agent.build,
}


def render() -> dict[str, str]:
    """File name -> JSON text, for every dashboard."""
    installed = version("grafana-foundation-sdk")
    if not installed.endswith(f"!{FLAVOUR}"):
        raise RuntimeError(
            f"grafana-foundation-sdk {installed} is not the Grafana {FLAVOUR} flavour: "
            'pip install -e ".[dashboards]"'
        )
    return {
        f"{name}.json": json.dumps(build(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        for name, build in BUILDERS.items()
    }


def stale(directory: Path = HERE) -> list[str]:
    """Names of the JSON files that are missing or differ from the generated ones."""
    return [
        name
        for name, text in render().items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards.build", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a JSON file is stale"
    )
    args = parser.parse_args(argv)
    if args.check:
        names = stale()
        for name in names:
            print(f"dashboards/{name} is stale: run python -m dashboards.build", file=sys.stderr)
        return 1 if names else 0
    for name, text in render().items():
        (HERE / name).write_text(text)
        print(f"wrote dashboards/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
