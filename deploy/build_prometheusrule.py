"""Write deploy/kubernetes/rules/prometheusrule.yaml from alerts/rules; ``--check`` for drift.

prometheus-operator loads rules from PrometheusRule objects, not files. The object carries
exactly the groups of alerts/rules/*.yml (file by file, in name order), so the rules have one
source: change alerts/rules, then run ``python -m deploy.build_prometheusrule``. The test (and
``--check``) fails when the committed file differs from what this writes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "alerts" / "rules"
OUTPUT = ROOT / "deploy" / "kubernetes" / "rules" / "prometheusrule.yaml"

HEADER = """\
# GENERATED from alerts/rules/*.yml by `python -m deploy.build_prometheusrule`: do not edit.
# The rules are documented (and tested with promtool) in alerts/; change them there.
# Your Prometheus must select this object: add the labels its ruleSelector wants
# (kube-prometheus-stack: `release: <its release name>`). The agent alerts expect the scrape
# job "oversight" (the sidecar's PodMonitor and the prober's ServiceMonitor set it).
"""

METADATA = {"name": "oversight", "labels": {"app.kubernetes.io/name": "oversight"}}


class _Dumper(yaml.SafeDumper):
    """Plain YAML: no anchors for the rules' shared label blocks; multi-line text as blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def rule_groups(rules: Path = RULES) -> list[dict[str, Any]]:
    """Every group of every ``*.yml`` under ``rules``, files in name order."""
    groups: list[dict[str, Any]] = []
    for path in sorted(rules.glob("*.yml")):
        groups.extend(yaml.safe_load(path.read_text(encoding="utf-8"))["groups"])
    return groups


def render(rules: Path = RULES) -> str:
    """The PrometheusRule manifest, as text."""
    document = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": METADATA,
        "spec": {"groups": rule_groups(rules)},
    }
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.build_prometheusrule", description=__doc__
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the file is stale"
    )
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUTPUT.is_file() or OUTPUT.read_text(encoding="utf-8") != text:
            print(
                f"{OUTPUT.relative_to(ROOT)} is stale: python -m deploy.build_prometheusrule",
                file=sys.stderr,
            )
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
