"""Field config shared by the dashboards: thresholds, value mappings, overrides, reductions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as model

from dashboards.promql import STATE_CODES, Codes


def thresholds(base: str, *steps: tuple[float, str]) -> db.ThresholdsConfig:
    """Absolute thresholds: ``base`` colour below the first step."""
    return (
        db.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps(
            [model.Threshold(value=None, color=base)]
            + [model.Threshold(value=v, color=c) for v, c in steps]
        )
    )


def thresholds_value(base: str, *steps: tuple[float, str]) -> dict[str, Any]:
    """The same, as an override property value."""
    return {
        "mode": "absolute",
        "steps": [{"color": base, "value": None}] + [{"color": c, "value": v} for v, c in steps],
    }


def code_mappings(codes: Codes) -> list[model.ValueMapping]:
    """Value mappings from codes (see dashboards.promql) to their names and colours."""
    return [
        model.ValueMap(
            options={
                str(code): model.ValueMappingResult(text=name, color=color, index=code)
                for name, code, color in codes
            }
        )
    ]


def state_mappings() -> list[model.ValueMapping]:
    return code_mappings(STATE_CODES)


def value_text(*pairs: tuple[str, str, str]) -> list[model.ValueMapping]:
    """Value mappings ``(value, text, colour)``, e.g. ``("1", "ready", "green")``."""
    return [
        model.ValueMap(
            options={
                value: model.ValueMappingResult(text=text, color=color, index=i)
                for i, (value, text, color) in enumerate(pairs)
            }
        )
    ]


def prop(name: str, value: Any) -> model.DynamicConfigValue:
    return model.DynamicConfigValue(id_val=name, value=value)


def fixed_color(color: str) -> model.DynamicConfigValue:
    return prop("color", {"mode": "fixed", "fixedColor": color})


DASHED = prop("custom.lineStyle", {"fill": "dash", "dash": [10, 10]})


def threshold_line_overrides(refs: Sequence[str]) -> list[tuple[model.MatcherConfig, list[Any]]]:
    """Series of the given queries drawn as dashed threshold lines: warning orange, critical
    red (by the ``severity`` in their legend)."""
    out: list[tuple[model.MatcherConfig, list[Any]]] = [
        (
            model.MatcherConfig(id_val="byFrameRefID", options=ref),
            [DASHED, prop("custom.fillOpacity", 0)],
        )
        for ref in refs
    ]
    out += [
        (model.MatcherConfig(id_val="byRegexp", options=".*warning.*"), [fixed_color("orange")]),
        (model.MatcherConfig(id_val="byRegexp", options=".*critical.*"), [fixed_color("red")]),
    ]
    return out


def status_code_mappings() -> list[model.ValueMapping]:
    """HTTP status classes as colours: 2xx green, 3xx blue, 4xx orange, 5xx red."""
    classes = ((200, "green"), (300, "blue"), (400, "orange"), (500, "red"))
    return [
        model.RangeMap(
            options=db.DashboardRangeMapOptions()
            .from_val(low)
            .to(low + 99)
            .result(model.ValueMappingResult(color=color, index=i))
            .build()
        )
        for i, (low, color) in enumerate(classes)
    ]


def last_value() -> cb.ReduceDataOptions:
    """Stats and bar gauges show the last value of each series, one per series."""
    return cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False).fields("")
