"""A Deployment's size: replicas and resources per Airflow component, checked against an admin's limits.

The request shape is Houston's ``config`` payload of ``updateDeployment``::

    {"scheduler": {"replicas": 1, "resources": {"limits": {"cpu": "1", "memory": "2Gi"},
                                                "requests": {"cpu": "100m", "memory": "256Mi"}}},
     "webserver": {...}, "workers": {"replicas": 2, "resources": {...}}, "triggerer": {"replicas": 0}}

Pure: quantities are Kubernetes quantities (``500m``, ``2``; ``512Mi``, ``4Gi``), compared exactly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from airpool.domain.errors import InvalidInput

#: Houston's component names in the ``config`` payload, in the order forms and answers show them.
COMPONENTS = ("scheduler", "webserver", "workers", "triggerer")

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
_FACTORS = {
    None: Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
}


def quantity(value: object, where: str) -> Decimal:
    """A Kubernetes quantity as a number (cores or bytes); ``where`` names the field in the error."""
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    match = _QUANTITY.match(text) if text else None
    if text is None or match is None:
        raise InvalidInput(
            f"{where} {value!r} is not a Kubernetes quantity; allowed: e.g. 500m or 2 (CPU), 512Mi or 4Gi (memory)"
        )
    try:
        return Decimal(match.group(1)) * _FACTORS[match.group(2)]
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise InvalidInput(f"{where} {value!r} is not a number") from None


@dataclass(frozen=True)
class Resources:
    cpu: str
    memory: str


@dataclass(frozen=True)
class ComponentSize:
    replicas: int
    requests: Resources
    limits: Resources

    def as_config(self) -> dict[str, Any]:
        return {
            "replicas": self.replicas,
            "resources": {
                "requests": {"cpu": self.requests.cpu, "memory": self.requests.memory},
                "limits": {"cpu": self.limits.cpu, "memory": self.limits.memory},
            },
        }


@dataclass(frozen=True)
class ComponentLimits:
    """What an admin allows for one component (values.yaml ``airpool.deploymentSizes.<component>``)."""

    default: ComponentSize
    max_replicas: int
    min_replicas: int
    max_limits: Resources


def _check_resources(given: object, where: str, base: Resources) -> Resources:
    if given is None:
        return base
    if not isinstance(given, Mapping):
        raise InvalidInput(f"{where} must be an object with cpu and memory")
    unknown = sorted(set(given) - {"cpu", "memory"})
    if unknown:
        raise InvalidInput(f"{where}.{unknown[0]} is not a resource airpool sizes; allowed: cpu, memory")
    cpu = str(given.get("cpu", base.cpu)).strip()
    memory = str(given.get("memory", base.memory)).strip()
    quantity(cpu, f"{where}.cpu")
    quantity(memory, f"{where}.memory")
    return Resources(cpu=cpu, memory=memory)


def check_component(
    name: str, given: object, current: ComponentSize, limits: ComponentLimits, *, path: str = "config"
) -> ComponentSize:
    """``current`` changed by the request's fields, within ``limits``; errors name ``config.<name>.<field>``."""
    where = f"{path}.{name}"
    if not isinstance(given, Mapping):
        raise InvalidInput(f"{where} must be an object with replicas and/or resources")
    unknown = sorted(set(given) - {"replicas", "resources"})
    if unknown:
        raise InvalidInput(f"{where}.{unknown[0]} is not supported; allowed: replicas, resources")
    replicas = current.replicas
    if "replicas" in given and given["replicas"] is not None:
        raw = given["replicas"]
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise InvalidInput(f"{where}.replicas {raw!r} is not a whole number")
        if not limits.min_replicas <= raw <= limits.max_replicas:
            raise InvalidInput(
                f"{where}.replicas {raw} is outside what this installation allows: "
                f"{limits.min_replicas} to {limits.max_replicas}"
            )
        replicas = raw
    resources = given.get("resources")
    size = replace(current, replicas=replicas)
    if resources is not None:
        if not isinstance(resources, Mapping):
            raise InvalidInput(f"{where}.resources must be an object with limits and/or requests")
        unknown = sorted(set(resources) - {"limits", "requests"})
        if unknown:
            raise InvalidInput(f"{where}.resources.{unknown[0]} is not supported; allowed: limits, requests")
        new_limits = _check_resources(resources.get("limits"), f"{where}.resources.limits", current.limits)
        new_requests = _check_resources(resources.get("requests"), f"{where}.resources.requests", current.requests)
        size = replace(size, limits=new_limits, requests=new_requests)
    for field in ("cpu", "memory"):
        limit = getattr(size.limits, field)
        largest = getattr(limits.max_limits, field)
        if quantity(limit, field) > quantity(largest, field):
            raise InvalidInput(
                f"{where}.resources.limits.{field} {limit} is larger than this installation allows: at most {largest}"
            )
        request = getattr(size.requests, field)
        if quantity(request, field) > quantity(limit, field):
            raise InvalidInput(
                f"{where}.resources.requests.{field} {request} is larger than its limit {limit}; "
                "a request may be at most the limit"
            )
    return size


def check_config(
    given: object,
    current: Mapping[str, ComponentSize],
    limits: Mapping[str, ComponentLimits],
    *,
    path: str = "config",
) -> dict[str, ComponentSize]:
    """The whole ``config`` payload against ``current`` sizes; unknown components are refused by name."""
    if given is None:
        return dict(current)
    if not isinstance(given, Mapping):
        raise InvalidInput(f"{path} must be an object keyed by component ({', '.join(COMPONENTS)})")
    unknown = sorted(set(given) - set(COMPONENTS))
    if unknown:
        raise InvalidInput(
            f"{path}.{unknown[0]} is not a component whose size can be set; allowed: {', '.join(COMPONENTS)}"
        )
    out = dict(current)
    for name in COMPONENTS:
        if name in given and given[name] is not None:
            out[name] = check_component(name, given[name], current[name], limits[name], path=path)
    return out


def from_stored(stored: Mapping[str, Any] | None, defaults: Mapping[str, ComponentSize]) -> dict[str, ComponentSize]:
    """Sizes as stored on the Deployment (``as_config`` per component); missing components take the defaults."""
    out = dict(defaults)
    for name, raw in (stored or {}).items():
        if name not in out or not isinstance(raw, Mapping):
            continue
        res = raw.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        base = out[name]
        out[name] = ComponentSize(
            replicas=int(raw.get("replicas", base.replicas)),
            requests=Resources(str(req.get("cpu", base.requests.cpu)), str(req.get("memory", base.requests.memory))),
            limits=Resources(str(lim.get("cpu", base.limits.cpu)), str(lim.get("memory", base.limits.memory))),
        )
    return out
