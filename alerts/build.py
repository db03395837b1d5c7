"""Write the Prometheus rules, alerts/rules/*.yml, from the code beside them:
``python -m alerts.build [--check] [--out DIR] [parameters]``.

The rules are committed as generated with the default parameters, so Prometheus can load them as
they are; ``--check`` (and the test) fails when they differ from what the code generates. A site
generates its own with its Grafana, runbooks and job, into a directory of its own (``--out``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from alerts import agent, capacity, compliance, integrations, recording, shards, slo
from alerts.common import RuleFile
from alerts.emit import render as render_file
from alerts.params import Params

HERE = Path(__file__).resolve().parent
RULES = HERE / "rules"
BUILDERS: tuple[Callable[[Params], RuleFile], ...] = (
    agent.build,
    capacity.build,
    compliance.build,
    integrations.build,
    recording.build,
    shards.build,
    slo.build,
)


def render(params: Params | None = None) -> dict[str, str]:
    """File name -> YAML text, for every rule file."""
    params = params or Params()
    files = [build(params) for build in BUILDERS]
    return {file.name: render_file(file, params) for file in files}


def stale(directory: Path = RULES, params: Params | None = None) -> list[str]:
    """Names of the rule files that are missing, differ from the generated ones, or are not
    generated at all (a rule file left behind would still be loaded by Prometheus)."""
    texts = render(params)
    differ = [
        name
        for name, text in texts.items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]
    extra = [path.name for path in sorted(directory.glob("*.yml")) if path.name not in texts]
    return differ + extra


def _options(parser: argparse.ArgumentParser) -> None:
    """One option per field of Params, with its default."""
    for field in fields(Params):
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            type=type(field.default),
            default=field.default,
            metavar=field.metadata["metavar"],
            help=f"{field.metadata['help']} (default: {field.default})".replace("%", "%%"),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m alerts.build",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a rule file is stale"
    )
    parser.add_argument(
        "--out", type=Path, default=RULES, metavar="DIR", help="where the rule files go "
        "(default: alerts/rules)"
    )
    _options(parser)
    args = parser.parse_args(argv)
    try:
        params = Params(**{f.name: getattr(args, f.name) for f in fields(Params)})
    except ValueError as error:
        parser.error(str(error))
    if args.check:
        names = stale(args.out, params)
        for name in names:
            print(f"{args.out / name} is stale: run python -m alerts.build", file=sys.stderr)
        return 1 if names else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in render(params).items():
        (args.out / name).write_text(text)
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
