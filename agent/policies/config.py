"""The ``compliance:`` config block: every policy with its defaults, overridable per pattern and
integration. The set of policies comes from the registry; no list of them is written here.

A pattern's or integration's ``compliance:`` block has the same policies as the top level;
only the keys written there override, so ``security_headers: {headers: [X-Frame-Options]}``
on an integration keeps the policy's ``enabled`` from above.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from agent.fields import PositiveDuration
from agent.policies import REGISTRY


class _Policies(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def block(self, policy: str) -> Any:
        return getattr(self, policy)


PolicySet: type[_Policies] = create_model(  # type: ignore[call-overload]
    "PolicySet",
    __base__=_Policies,
    __doc__="Every policy; in an override block only the keys written there apply.",
    **{name: (spec.block, spec.block()) for name, spec in REGISTRY.items()},
)


class ComplianceConfig(PolicySet):  # type: ignore[valid-type,misc]
    """The top-level ``compliance:`` block: the defaults every integration starts from."""

    enabled: bool = True
    window: PositiveDuration = Field(
        default=3600.0, description="rolling window of the SLA/SLO policies"
    )


# A contract written below replaces one from above: ``schema`` drops an inherited ``openapi``
# and ``operation``, and the other way round.
_EXCLUSIVE = {"json_schema": ("openapi", "operation"), "openapi": ("json_schema",)}


def merge(base: Any, override: Any | None) -> Any:
    """``base`` with the keys written in ``override`` (a pattern's or integration's block)."""
    if override is None:
        return base
    blocks: dict[str, Any] = {}
    for name in override.model_fields_set:
        if name not in REGISTRY:
            continue
        block, over = getattr(base, name), getattr(override, name)
        update = {field: getattr(over, field) for field in over.model_fields_set}
        for field in list(update):
            for dropped in _EXCLUSIVE.get(field, ()):
                update.setdefault(dropped, None)
        blocks[name] = block.model_copy(update=update)
    return base.model_copy(update=blocks)


def set_where(
    levels: list[tuple[tuple[str | int, ...], Any]], policy: str, key: str | None
) -> tuple[str | int, ...] | None:
    """The config path of the most specific level that wrote ``policy.key`` (for errors)."""
    for path, block in reversed(levels):
        if block is not None and policy in block.model_fields_set:
            settings = getattr(block, policy)
            if key is None:
                return (*path, policy)
            if key in settings.model_fields_set:
                field = type(settings).model_fields[key]
                return (*path, policy, field.alias or key)
    return None
