"""A Deployment's upgrade as its pages show it, from one place: the Deployment page's Upgrade box and the Settings
page's *Airflow version* section render it at load (so it is right without JavaScript), and both pages refresh it
from ``/deployments/<id>/live`` with the status (``rollout`` in static/app.js sets the texts and shows the parts
whose ``data-rollout-when`` is among ``actions``)."""

from __future__ import annotations

from typing import Any

from airpool.domain import errors, rollouts
from airpool.domain.rollouts import RolloutPhase
from airpool.services import upgrades, views
from airpool.services.platform import Platform

#: Phases in which a pending upgrade can still be withdrawn (not once commander migrates the database).
CANCELLABLE = frozenset({RolloutPhase.QUEUED.value, RolloutPhase.AWAITING_IMAGE.value})


def newer(version: str, than: str) -> bool:
    try:
        return rollouts.version_key(version) > rollouts.version_key(than)
    except errors.InvalidInput:
        return False


def rollout(platform: Platform, d: views.DeploymentView) -> dict[str, Any]:
    """``notice`` and ``error`` (empty when there is none), the running ``airflow_version`` and ``image``, the
    ``offered`` versions it may be upgraded to, and ``actions``: ``cancel`` while a pending upgrade can be
    withdrawn, ``upgrade`` when none is pending and a newer version is offered, ``none-offered`` when none is."""
    phase = d.rollout_phase or ""
    target = d.desired_image or f"Airflow {d.desired_airflow_version}"
    notice = ""
    if phase == RolloutPhase.AWAITING_IMAGE:
        notice = f"Upgrade to Airflow {d.desired_airflow_version} waits for an image deploy of that version."
    elif phase == RolloutPhase.MIGRATING:
        notice = f"Commander is migrating the database to {target}; this can no longer be cancelled."
    elif phase:
        notice = f"{target} is queued for commander."
    offered = [v for v in upgrades.supported_versions(platform) if newer(v, d.airflow_version)]
    actions = []
    if phase in CANCELLABLE:
        actions.append("cancel")
    if not phase and offered:
        actions.append("upgrade")
    if not offered:
        actions.append("none-offered")
    return {
        "notice": notice,
        "error": f"Last upgrade failed: {d.rollout_error}" if d.rollout_error else "",
        "airflow_version": d.airflow_version,
        "image": d.image,
        "offered": offered,
        "actions": actions,
    }
