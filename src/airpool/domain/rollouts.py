"""Rules of Airflow upgrades and image deploys (Houston's ``updateDeploymentAirflow`` / ``updateDeploymentImage``),
independent of where the request comes from.

A Deployment runs one Airflow version from one image: the platform's image of that version
(``airpool.images.airflow``), or the image of its last image deploy. Changing either is a *rollout*: commander runs
the new image's database migration first, as a Job, while the old version keeps running, and rolls the Airflow
components only once it succeeded; a migration that fails (or an image that cannot be pulled) leaves the old version
running and the reason on the Deployment.

Phases of a pending rollout (``deployments.rollout_phase``):

- ``awaiting-image``: an upgrade was asked for on a Deployment that runs its own image; it waits for an image deploy
  of the new version (what the astro CLI tells the user: "add an Airflow X image to your Dockerfile and deploy").
- ``queued``: commander has the rollout queued (or is preparing it). Cancelling is still possible.
- ``migrating``: commander runs the new version's database migration. Airflow does not reverse migrations, so from
  here on the rollout cannot be cancelled.
"""

from __future__ import annotations

import re
from enum import StrEnum

from airpool.domain.errors import InvalidInput

#: Longest image reference accepted (Docker's own limit on a whole reference is 255 for the name part).
IMAGE_MAX = 512


class RolloutPhase(StrEnum):
    AWAITING_IMAGE = "awaiting-image"
    QUEUED = "queued"
    MIGRATING = "migrating"


_VERSION = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{1,2})$")

# registry host (with an optional port) / path components, a tag, and optionally a digest.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::\d{1,5})?"
_IMAGE = re.compile(
    rf"^(?:(?P<host>{_HOST})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r":(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


def version_key(version: str) -> tuple[int, int, int]:
    """``"2.11.2"`` -> ``(2, 11, 2)``; raises InvalidInput for anything else."""
    found = _VERSION.match(version.strip())
    if not found:
        raise InvalidInput(f"airflow version {version[:40]!r} is not a version like 3.3.2")
    major, minor, patch = (int(part) for part in found.groups())
    return major, minor, patch


def check_upgrade(current: str, desired: str, supported: tuple[str, ...]) -> str:
    """The version to upgrade to: one of ``supported`` (``airpool.airflow.versions``) and newer than ``current``
    (Airflow's migrations only go forward)."""
    desired = desired.strip()
    if desired not in supported:
        raise InvalidInput(
            f"desiredAirflowVersion {desired[:40]!r} is not offered on this installation; allowed: "
            + ", ".join(sorted(supported, key=version_key))
            + " (values.yaml airpool.airflow.versions)"
        )
    if version_key(desired) < version_key(current):
        raise InvalidInput(
            f"desiredAirflowVersion {desired} is older than the running Airflow {current}; Airflow's database "
            "migrations only go forward, so a downgrade is not possible"
        )
    return desired


def check_image(reference: str) -> str:
    """An image reference ``[registry[:port]/]path:tag[@sha256:<64 hex>]``; a tag is required (an untagged
    reference would silently mean ``latest``)."""
    reference = reference.strip()
    if not reference:
        raise InvalidInput("image must not be empty; give a reference like registry.example.com/team/airflow:1.0")
    if len(reference) > IMAGE_MAX:
        raise InvalidInput(f"image is {len(reference)} characters long; at most {IMAGE_MAX} are allowed")
    if _IMAGE.match(reference):
        return reference
    shown = reference if len(reference) <= 80 else reference[:77] + "..."
    last = reference.rsplit("/", 1)[-1]
    odd = sorted({ch for ch in reference if not (ch.isascii() and (ch.isalnum() or ch in "._-/:@"))})
    if any(ch.isspace() for ch in reference):
        why = "contains white space"
    elif odd:
        why = "contains " + ", ".join(repr(ch) for ch in odd) + ", which no image reference has"
    elif ":" not in last.split("@", 1)[0]:
        why = "names no tag; add one (an untagged image would silently mean latest)"
    else:
        why = "is not an image reference"
    raise InvalidInput(
        f"image {shown!r} {why}; allowed: [registry[:port]/]name:tag[@sha256:digest] with a lower-case name, "
        "e.g. registry.example.com/team/airflow:1.0"
    )


def split_image(reference: str) -> tuple[str, str]:
    """``registry/name:tag[@digest]`` -> (``registry/name``, ``tag[@digest]``) of a reference ``check_image``
    accepted (the digest rides on the tag so that ``repository:tag`` stays the whole reference)."""
    found = _IMAGE.match(reference)
    if not found:
        raise InvalidInput(f"image {reference[:80]!r} is not an image reference")
    repository = f"{found['host']}/{found['path']}" if found["host"] else found["path"]
    tag = found["tag"] + (f"@{found['digest']}" if found["digest"] else "")
    return repository, tag


_DEPLOY_TAG = re.compile(r"^deploy-(\d{1,9})$")


def deploy_tags(image: str | None, platform_tag: str) -> tuple[str, str]:
    """Houston's ``deployInfo``: (``current``, ``nextCli``). ``current`` is the tag of the image the Deployment
    runs: its last image deploy's (``image``), else the platform's image tag of its Airflow version
    (``platform_tag``, e.g. ``3.3.2``); the astro CLI prints it in the TAG column of ``deployment list`` and
    ``deployment update``. ``nextCli`` is the tag the CLI gives the next image it builds: ``deploy-<n+1>`` after an
    image tagged ``deploy-<n>``, else ``deploy-1``."""
    current = split_image(image)[1].split("@", 1)[0] if image else platform_tag
    counted = _DEPLOY_TAG.match(current)
    return current, f"deploy-{int(counted[1]) + 1 if counted else 1}"
