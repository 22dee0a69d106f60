"""What a Deployment request may contain, independent of where it comes from (GraphQL, UI form, CLI)."""

from __future__ import annotations

import random
from enum import StrEnum

from airpool.domain.errors import InvalidInput
from airpool.domain.names import dns1123_label_problem

LABEL_MAX = 64
#: Room for suffixes such as ``-pgbouncer-stats`` in object names derived from the release name.
RELEASE_NAME_MAX = 40


class Executor(StrEnum):
    LOCAL = "LocalExecutor"
    CELERY = "CeleryExecutor"
    KUBERNETES = "KubernetesExecutor"


class DeploymentStatus(StrEnum):
    """Phase of a Deployment as commander last reported it."""

    DEPLOYING = "deploying"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    #: Commander could not look (its namespace deleted, access lost, the API server down): the message says why.
    UNKNOWN = "unknown"
    FAILED = "failed"
    DELETING = "deleting"
    DELETED = "deleted"


def parse_executor(value: str) -> Executor:
    try:
        return Executor(value)
    except ValueError:
        allowed = ", ".join(e.value for e in Executor)
        raise InvalidInput(f"executor {value!r} is not supported; allowed: {allowed}") from None


def check_label(label: str) -> str:
    label = label.strip()
    if not label:
        raise InvalidInput("label must not be empty")
    if len(label) > LABEL_MAX:
        raise InvalidInput(f"label is {len(label)} characters long; at most {LABEL_MAX} are allowed")
    return label


def check_release_name(name: str) -> str:
    problem = dns1123_label_problem(name)
    if problem is None and len(name) > RELEASE_NAME_MAX:
        problem = f"must be at most {RELEASE_NAME_MAX} characters (got {len(name)})"
    if problem:
        raise InvalidInput(f"release name {name!r} {problem}")
    return name


_ADJECTIVES = (
    "amber",
    "brisk",
    "calm",
    "dusty",
    "eager",
    "frosty",
    "gentle",
    "hollow",
    "icy",
    "jolly",
    "keen",
    "lunar",
    "misty",
    "noble",
    "orbital",
    "polar",
    "quiet",
    "rapid",
    "solar",
    "tidal",
)
_NOUNS = (
    "asteroid",
    "comet",
    "crater",
    "eclipse",
    "galaxy",
    "horizon",
    "meteor",
    "nebula",
    "nova",
    "orbit",
    "planet",
    "pulsar",
    "quasar",
    "rocket",
    "satellite",
    "star",
    "sun",
    "telescope",
    "universe",
    "zenith",
)


def generate_release_name() -> str:
    """Houston-style ``adjective-noun-1234`` names: readable, DNS-safe, and rarely colliding. Not secret (they are
    shown to everyone with access), so the module-level PRNG (reseeded in each forked ``serve --workers`` process)
    instead of ``secrets``, whose three reads of the OS's random source per name were 3% of a create's CPU."""
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randrange(1000, 10000)}"
