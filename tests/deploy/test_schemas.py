"""Every object every kustomization renders is valid against the Kubernetes API schemas (offline,
kubernetes-validate, strict: an unknown field fails) at the oldest Kubernetes the manifests
support and at the newest the pinned package knows; prometheus-operator's objects against
the partial CRD schemas in crd_schemas.yaml."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from tests.deploy.manifests import KUSTOMIZATIONS, LOCATIONS, PROBER_BASE, load, name, render

# Native sidecars (init containers with restartPolicy: Always) are on by default from 1.29, and
# the StatefulSet pod-index label from 1.28: 1.29 is the oldest the manifests work on.
OLDEST = "1.29"
VERSIONS = (OLDEST, kubernetes_validate.latest_version())
CRD_SCHEMAS = Path(__file__).with_name("crd_schemas.yaml")
CUSTOM = {"monitoring.coreos.com/v1": ("PodMonitor", "ServiceMonitor", "PrometheusRule")}


@functools.cache
def _crd_validators() -> dict[str, jsonschema.protocols.Validator]:
    schemas = load(CRD_SCHEMAS)
    validators = {}
    for kinds in CUSTOM.values():
        for kind in kinds:
            schema = {**schemas[kind], "$defs": schemas["$defs"]}  # "#/$defs/..." resolve here
            jsonschema.Draft202012Validator.check_schema(schema)
            validators[kind] = jsonschema.Draft202012Validator(schema)
    return validators


def problems(doc: dict[str, Any], version: str) -> list[str]:
    """What is wrong with one object, as messages naming the object and the field."""
    label = f"{doc['kind']}/{doc.get('metadata', {}).get('name')}"
    if doc["kind"] in CUSTOM.get(doc["apiVersion"], ()):
        validator = _crd_validators()[doc["kind"]]
        return [
            f"{label}: {'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(doc)
        ]
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{label}: {'.'.join(map(str, error.path))}: {error.message}"]
    return []


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=[name(d) for d in KUSTOMIZATIONS])
def test_every_rendered_object_is_valid(directory: Path, version: str) -> None:
    docs = render(directory)
    assert docs
    found = [problem for doc in docs for problem in problems(doc, version)]
    assert not found, f"{name(directory)} at Kubernetes {version}:\n" + "\n".join(found)


def test_every_kind_has_a_schema() -> None:
    """A kind neither bundle knows would not be checked at all: kubernetes-validate raises for
    it, and the CRD schemas must name it."""
    kinds = {(d["apiVersion"], d["kind"]) for k in KUSTOMIZATIONS for d in render(k)}
    custom = {(v, kind) for v, names in CUSTOM.items() for kind in names}
    assert custom <= kinds, "a CRD schema no manifest uses"
    for api_version, kind in kinds - custom:
        doc = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}
        # A schema that finds the minimal object lacking exists; SchemaNotFoundError (no schema
        # for the kind) propagates and fails the test.
        with contextlib.suppress(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(doc, OLDEST, strict=True)


@pytest.mark.parametrize(
    ("kind", "path", "field"),
    [
        ("StatefulSet", ("spec", "template", "spec", "securityContext"), "runAsNonroot"),
        ("StatefulSet", ("spec",), "podManagmentPolicy"),
        ("PodDisruptionBudget", ("spec",), "maxUnavailble"),
        ("ServiceMonitor", ("spec", "endpoints", 0), "intervall"),
        ("ServiceMonitor", ("spec",), "selectr"),
        ("PrometheusRule", ("spec", "groups", 0, "rules", 0), "fro"),
    ],
)
def test_a_misspelt_field_fails(kind: str, path: tuple[str | int, ...], field: str) -> None:
    """The validation is not vacuous: a typo the API server would drop is caught."""
    (doc,) = [d for d in render(LOCATIONS[0]) if d["kind"] == kind]
    assert not problems(doc, OLDEST)
    node: Any = doc
    for key in path:
        node = node[key]
    node[field] = "x"
    (problem,) = problems(doc, OLDEST)
    assert repr(field) in problem, problem


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        ("ServiceMonitor", ("spec", "endpoints", 0, "interval"), "15 seconds"),
        ("ServiceMonitor", ("spec", "endpoints", 0, "scheme"), "tcp"),
        ("StatefulSet", ("spec", "replicas"), "four"),
        ("PodDisruptionBudget", ("spec", "unhealthyPodEvictionPolicy"), 1),
    ],
)
def test_a_wrong_value_fails(kind: str, path: tuple[str | int, ...], value: object) -> None:
    (doc,) = [d for d in render(PROBER_BASE) if d["kind"] == kind]
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert problems(doc, OLDEST), f"{kind} accepted {path[-1]}={value!r}"
