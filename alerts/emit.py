"""A rule file as YAML a person can read: comments kept, expressions as blocks, no anchors."""

from __future__ import annotations

import re
import shlex
from typing import Any

import yaml

from alerts.common import Folded, Rule, RuleFile
from alerts.params import Params

WIDTH = 100  # where descriptions wrap; nothing else does
RULE_INDENT = 8  # a rule's keys sit this far in: its YAML is made at column 0, then indented


def fold(text: str, width: int) -> list[str]:
    """``text`` (one line) in lines of at most ``width`` where it can be: broken at spaces, never
    inside a ``{{ ... }}`` template action; the lines joined by spaces are ``text``."""
    words = re.findall(r"(?:\{\{.*?\}\}|[^ {]|\{(?!\{))+", text)
    if " ".join(words) != text:
        raise ValueError(f"cannot fold text with runs of spaces: {text!r}")
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


class _Dumper(yaml.SafeDumper):
    """PyYAML, but only folded text wraps (a PromQL line stays whole), Go template actions stay
    whole, and nothing is aliased."""

    def write_folded(self, text: str) -> None:
        self.write_indicator(">-", True)
        self.write_line_break()
        for line in fold(text, self.best_width - (self.indent or 0)):
            self.write_indent()
            self.stream.write(line)
            self.column += len(line)
            self.write_line_break()

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def write_plain(self, text: str, split: bool = True) -> None:
        super().write_plain(text, split=False)

    def write_single_quoted(self, text: str, split: bool = True) -> None:
        super().write_single_quoted(text, split=False)

    def write_double_quoted(self, text: str, split: bool = True) -> None:
        super().write_double_quoted(text, split=False)


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None  # a multi-line expression, as written
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _folded(dumper: yaml.SafeDumper, value: Folded) -> yaml.ScalarNode:
    if "\n" in value or value != value.strip():
        raise ValueError(f"folded text is one line without outer spaces: {value!r}")
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style=">")


_Dumper.add_representer(str, _text)
_Dumper.add_representer(Folded, _folded)


def _yaml(value: Any) -> str:
    width = WIDTH - RULE_INDENT
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, width=width, allow_unicode=True)


def _indent(text: str, prefix: str) -> str:
    return "".join(prefix + line if line.strip() else line for line in text.splitlines(True))


def _comment(text: str, indent: str) -> str:
    return "".join(f"{indent}# {line}".rstrip() + "\n" for line in text.splitlines())


def _rule(rule: Rule) -> str:
    body = _yaml(dict(rule.body))
    first, _, rest = body.partition("\n")
    return _indent(f"- {first}\n" + _indent(rest, "  "), "      ")


def generated_by(file: RuleFile, params: Params) -> str:
    """The first line of every rule file: where it comes from and how to make it again."""
    options = [
        f"--{name.replace('_', '-')} {shlex.quote(str(value))}"
        for name, value in params.changed().items()
    ]
    command = " ".join(["python -m alerts.build", *options])
    return (
        f"GENERATED from {file.source} by `{command}`: do not edit.\n"
        "Change the code or the options (alerts/README.md, \"Your Grafana, runbooks and job\")\n"
        "and run it again."
    )


def render(file: RuleFile, params: Params) -> str:
    """The text of one rule file."""
    out = [_comment(generated_by(file, params), ""), "#\n", _comment(file.header, ""), "groups:\n"]
    for number, group in enumerate(file.groups):
        if number:
            out.append("\n")
        out.append(f"  - name: {group.name}\n    rules:\n")
        for index, rule in enumerate(group.rules):
            if rule.comment:
                if index:
                    out.append("\n")
                out.append(_comment(rule.comment, "      "))
            out.append(_rule(rule))
    text = "".join(out)
    groups = [{"name": g.name, "rules": [dict(r.body) for r in g.rules]} for g in file.groups]
    if yaml.safe_load(text) != {"groups": groups}:  # the writing above must change no value
        raise AssertionError(f"{file.name}: the YAML written does not read back as the rules")
    return text
