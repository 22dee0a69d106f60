"""A Deployment's Settings (label, description, executor, component sizes with a preview of the namespace's quota,
Airflow upgrade with a confirmation) and Variables pages.

Every rule is the services' (the sizes an admin allows, the versions offered, who may change what); these pages
turn a form into the same calls the API makes, show the services' refusal on the form as typed, and after a
successful change redirect to the Deployment's page with a notice (post/redirect/get). Secret variable values are
write-only: the page never receives them, and a secret left empty keeps its stored value.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import Response

from airpool.domain import errors, rollouts, sizes
from airpool.domain.deployments import Executor
from airpool.services import deployments, people, upgrades, variables, views
from airpool.services.platform import Platform
from airpool.ui import rollout_view
from airpool.ui.framework import Ctx
from airpool.ui.pages import Pages

#: Empty rows the Variables form offers for new variables.
NEW_VARIABLE_ROWS = 3
#: ResourceQuota keys shown in the preview, in this order.
QUOTA_KEYS = ("pods", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory")


class DeploymentPages:
    def __init__(self, platform: Platform, pages: Pages) -> None:
        self.platform = platform
        self.pages = pages

    def _deployment(self, ctx: Ctx) -> tuple[views.DeploymentView, bool]:
        """The Deployment (NotFound unless the user may see it) and whether the user may change it."""
        d = deployments.get(self.platform, ctx.user, ctx.request.path_params["id"])
        self.pages._workspace(ctx, d.workspace_id)
        return d, people.deployment_abilities(self.platform, ctx.user, d.id).can_update

    # -- settings ---------------------------------------------------------------------------------------------

    def settings(self, ctx: Ctx) -> Response:
        d, can_update = self._deployment(ctx)
        action = ctx.field("action") if ctx.request.method == "POST" else ""
        if action and not can_update:
            raise errors.Forbidden()
        error: str | None = None
        general = {
            "label": ctx.field("label", d.label) if action == "general" else d.label,
            "description": ctx.form.get("description", d.description) if action == "general" else d.description,
            "executor": ctx.field("executor", d.executor.value) if action == "general" else d.executor.value,
        }
        current = deployments.effective_sizes(self.platform.config, d)
        form_sizes = self._size_form(ctx, current) if action in ("preview", "resources") else _size_rows(current)
        preview: dict[str, dict[str, str]] | None = None
        if action == "general":
            try:
                deployments.update(
                    self.platform,
                    ctx.user,
                    d.id,
                    label=general["label"],
                    description=general["description"],
                    executor=general["executor"],
                )
            except errors.InvalidInput as exc:
                error = exc.message
            else:
                ctx.session.notify(_saved(d, general["executor"]))
                return ctx.redirect(f"/deployments/{d.id}")
        elif action in ("preview", "resources"):
            try:
                payload = _changed_sizes(form_sizes, current)
                preview = deployments.quota_preview(self.platform, ctx.user, d.id, payload or None)
                if action == "resources":
                    if not payload:
                        raise errors.InvalidInput("nothing changed: the sizes are the ones the Deployment has")
                    deployments.update(self.platform, ctx.user, d.id, config=payload)
                    ctx.session.notify(
                        f"Saved the new sizes of {', '.join(sorted(payload))}; commander applies them now."
                    )
                    return ctx.redirect(f"/deployments/{d.id}")
            except errors.InvalidInput as exc:
                error, preview = exc.message, None
        now = deployments.quota_preview(self.platform, ctx.user, d.id)
        return ctx.render(
            "deployment_settings.html",
            status=400 if error else 200,
            title=f"{d.label}: settings",
            nav="deployments",
            deployment=d,
            can_update=can_update,
            error=error,
            general=general,
            executors=[e.value for e in Executor],
            sizes=form_sizes,
            limits=dict(self.platform.config.deployment_sizes),
            quota_keys=QUOTA_KEYS,
            quota_now=now,
            preview=preview,
            rollout=rollout_view.rollout(self.platform, d),
        )

    def _size_form(self, ctx: Ctx, current: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
        rows = []
        for name in sizes.COMPONENTS:
            now = _size_rows({name: current[name]})[0]
            rows.append(
                {
                    "name": name,
                    "replicas": ctx.field(f"{name}.replicas", now["replicas"]),
                    "cpu": ctx.field(f"{name}.cpu", now["cpu"]),
                    "memory": ctx.field(f"{name}.memory", now["memory"]),
                }
            )
        return rows

    # -- upgrade ----------------------------------------------------------------------------------------------

    def upgrade(self, ctx: Ctx) -> Response:
        d, can_update = self._deployment(ctx)
        if not can_update:
            raise errors.Forbidden()
        version = ctx.field("version") if ctx.request.method == "POST" else ctx.request.query_params.get("version", "")
        error: str | None = None
        try:
            rollouts.check_upgrade(d.airflow_version, version, upgrades.supported_versions(self.platform))
        except errors.InvalidInput as exc:
            error = exc.message
        if ctx.request.method == "POST" and error is None:
            try:
                done = upgrades.update_airflow(self.platform, ctx.user, d.id, version)
            except (errors.InvalidInput, errors.Conflict) as exc:
                error = exc.message
            else:
                if done.rollout_phase == "awaiting-image":
                    ctx.session.notify(
                        f"Upgrade to Airflow {version} recorded: this Deployment runs its own image, so it waits for "
                        f"an image deploy of Airflow {version}."
                    )
                else:
                    ctx.session.notify(
                        f"Upgrade to Airflow {version} started: commander migrates the database first while "
                        f"Airflow {d.airflow_version} keeps running."
                    )
                return ctx.redirect(f"/deployments/{d.id}")
        return ctx.render(
            "deployment_upgrade.html",
            status=400 if error else 200,
            title=f"Upgrade {d.label}?",
            nav="deployments",
            deployment=d,
            version=version,
            major=version.split(".", 1)[0] != d.airflow_version.split(".", 1)[0],
            error=error,
        )

    def cancel_upgrade(self, ctx: Ctx) -> Response:
        d, can_update = self._deployment(ctx)
        if not can_update:
            raise errors.Forbidden()
        pending = d.desired_airflow_version
        try:
            upgrades.update_airflow(self.platform, ctx.user, d.id, d.airflow_version)
        except errors.Conflict as exc:
            ctx.session.notify(exc.message)
        else:
            ctx.session.notify(
                f"Upgrade to Airflow {pending} cancelled; the Deployment keeps running Airflow {d.airflow_version}."
            )
        return ctx.redirect(f"/deployments/{d.id}/settings")

    # -- variables --------------------------------------------------------------------------------------------

    def variables(self, ctx: Ctx) -> Response:
        d, can_update = self._deployment(ctx)
        listed = variables.list_for(self.platform, ctx.user, d.id)
        error: str | None = None
        rows = [{"key": v.key, "value": v.value or "", "is_secret": v.is_secret, "remove": False} for v in listed]
        if ctx.request.method == "POST":
            if not can_update:
                raise errors.Forbidden()
            rows = self._variable_form(ctx, len(listed))
            # A secret left empty is sent without a value: the stored one is kept.
            sent = [i for i, r in enumerate(rows) if r["key"] and not r["remove"]]
            items = [
                {"key": rows[i]["key"], "value": _sent_value(rows[i]), "is_secret": rows[i]["is_secret"]} for i in sent
            ]
            try:
                variables.replace(self.platform, ctx.user, d.id, items)
            except errors.InvalidInput as exc:
                error = _named_by_row(exc.message, sent)
                for r in rows:
                    if r["is_secret"]:
                        r["value"] = ""  # never sent back to the browser, even as typed
            else:
                ctx.session.notify(
                    f"Saved {len(items)} variable(s); commander delivers them to every Airflow component now."
                )
                return ctx.redirect(f"/deployments/{d.id}/variables")
        return ctx.render(
            "deployment_variables.html",
            status=400 if error else 200,
            title=f"{d.label}: variables",
            nav="deployments",
            deployment=d,
            can_update=can_update,
            error=error,
            rows=rows,
            existing=len(listed),
            blank=NEW_VARIABLE_ROWS,
        )

    def _variable_form(self, ctx: Ctx, existing: int) -> list[dict[str, Any]]:
        rows = []
        for i in range(existing + NEW_VARIABLE_ROWS):
            rows.append(
                {
                    "key": ctx.field(f"key.{i}"),
                    "value": ctx.form.get(f"value.{i}", ""),
                    "is_secret": ctx.form.get(f"secret.{i}") == "on",
                    "remove": ctx.form.get(f"remove.{i}") == "on",
                }
            )
        return rows


def _named_by_row(message: str, sent: list[int]) -> str:
    """The services name a refused variable by its place in the list sent (``environmentVariables[1].key``), which
    skips empty and removed rows; name it by the form's row, as its fields are labelled (``Key 3``)."""
    found = re.match(r"environmentVariables\[(\d+)\]\.(key|value) ", message)
    if found is None or int(found[1]) >= len(sent):
        return message
    return f"{found[2].capitalize()} {sent[int(found[1])] + 1}: {message[found.end() :]}"


def _sent_value(row: dict[str, Any]) -> str | None:
    return (row["value"] or None) if row["is_secret"] else str(row["value"])


def _size_rows(current: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {
            "name": name,
            "replicas": str(current[name]["replicas"]),
            "cpu": str(current[name]["resources"]["limits"]["cpu"]),
            "memory": str(current[name]["resources"]["limits"]["memory"]),
        }
        for name in sizes.COMPONENTS
        if name in current
    ]


def _changed_sizes(rows: list[dict[str, str]], current: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Houston's ``config`` payload of the components whose form values differ from what they are now."""
    out: dict[str, Any] = {}
    for row in rows:
        name = row["name"]
        now = _size_rows({name: current[name]})[0]
        if (row["replicas"], row["cpu"], row["memory"]) == (now["replicas"], now["cpu"], now["memory"]):
            continue
        try:
            replicas = int(row["replicas"])
        except ValueError:
            raise errors.InvalidInput(f"{name} replicas {row['replicas']!r} is not a whole number") from None
        out[name] = {"replicas": replicas, "resources": {"limits": {"cpu": row["cpu"], "memory": row["memory"]}}}
    return out


def _saved(d: views.DeploymentView, executor: str) -> str:
    if executor != d.executor.value:
        return f"Saved; commander changes the executor to {executor} now."
    return "Saved."
