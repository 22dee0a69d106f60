"""Teams: groups of users whose role in the system, a workspace or a Deployment applies to every member.

- A system admin manages teams locally (create, delete, members). With single sign-on, a user's teams follow
  the identity provider's groups claim at each login (``sync_from_groups``); such teams have ``source`` oidc.
- A team's roles: one system role (``SYSTEM_ADMIN`` makes its members system admins; editor and viewer give that
  role in every workspace), one role per workspace (workspace admins manage it), one per Deployment (Deployment
  admins manage it; only for a team that has a role in the Deployment's workspace, as for users).
- Who sees a team: system admins all; anyone else the teams bound to a workspace they may read, and their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from airpool.domain.errors import Conflict, InvalidInput, NotFound
from airpool.services import access, audit, people, views
from airpool.services.access import Actor, Role, Scope
from airpool.services.platform import Platform
from airpool.store import models

T = models.Team
TM = models.TeamMember
TRB = models.TeamRoleBinding
D = models.Deployment
NAME_MAX = 255
LOCAL = "local"
OIDC = "oidc"


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("team name must not be empty")
    if len(name) > NAME_MAX:
        raise InvalidInput(f"team name is {len(name)} characters long; at most {NAME_MAX} are allowed")
    return name


def _not_found(team_id: str) -> NotFound:
    return NotFound(f"team {access.shown(team_id)} not found")


def _bindings(s: Session, actor: Actor, teams: Sequence[models.Team]) -> dict[str, list[views.BindingView]]:
    found: dict[str, list[views.BindingView]] = {t.id: [] for t in teams}
    names = {t.id: t.name for t in teams}
    if not teams:
        return found
    rows = s.scalars(sa.select(TRB).where(TRB.team_id.in_(list(names))).order_by(TRB.created_at, TRB.id)).all()
    visible_ws: set[str] = set(s.scalars(access.visible_workspace_ids(actor)))
    dep_ids = [r.scope_id for r in rows if r.scope == Scope.DEPLOYMENT.value]
    deps = {
        d.id: d
        for d in s.scalars(
            sa.select(D).where(D.id.in_(dep_ids), D.deleted_at.is_(None), access.visible_deployments(actor))
        )
    }
    for r in rows:
        workspace_id: str | None = None
        deployment_id: str | None = None
        if r.scope == Scope.WORKSPACE.value:
            if r.scope_id not in visible_ws:
                continue
            workspace_id = r.scope_id
        elif r.scope == Scope.DEPLOYMENT.value:
            if r.scope_id not in deps:
                continue
            workspace_id, deployment_id = deps[r.scope_id].workspace_id, r.scope_id
        found[r.team_id].append(
            views.BindingView(
                id=r.id,
                role=access.houston_role(Scope(r.scope), r.role),
                team_id=r.team_id,
                team_name=names[r.team_id],
                workspace_id=workspace_id,
                deployment_id=deployment_id,
            )
        )
    return found


def _views(s: Session, actor: Actor, teams: Sequence[models.Team]) -> list[views.TeamView]:
    bindings = _bindings(s, actor, teams)
    counts = dict(
        s.execute(
            sa.select(TM.team_id, sa.func.count()).where(TM.team_id.in_([t.id for t in teams])).group_by(TM.team_id)
        ).all()
    )
    return [
        views.TeamView(
            id=t.id,
            name=t.name,
            source=t.source,
            created_at=t.created_at,
            updated_at=t.updated_at,
            role_bindings=tuple(bindings[t.id]),
            member_count=int(counts.get(t.id, 0)),
        )
        for t in teams
    ]


def _visible_team_ids(actor: Actor) -> sa.Select[tuple[str]] | None:
    """Teams the caller may read; None means all (system admin)."""
    if actor.is_system_admin:
        return None
    in_workspaces = sa.select(TRB.team_id).where(
        TRB.scope == Scope.WORKSPACE.value, TRB.scope_id.in_(access.visible_workspace_ids(actor))
    )
    if actor.service_account is not None:
        return sa.select(in_workspaces.subquery().c.team_id)
    return sa.select(sa.union(in_workspaces, sa.select(TM.team_id).where(TM.user_id == actor.user_id)).subquery().c[0])


def _team(s: Session, actor: Actor, team_id: str) -> models.Team:
    team = s.get(T, team_id) if team_id else None
    visible = _visible_team_ids(actor)
    if team is None or (
        visible is not None and s.scalar(sa.select(T.id).where(T.id == team.id, T.id.in_(visible))) is None
    ):
        raise _not_found(team_id)
    return team


def _record(
    s: Session, actor: Actor, action: str, team_id: str, at: datetime, *, workspace_id: str | None = None, **detail: str
) -> None:
    audit.record(
        s,
        actor=actor.username,
        action=action,
        target_kind="team",
        target_id=team_id,
        workspace_id=workspace_id,
        detail=dict(detail),
        at=at,
    )


# --- reading -------------------------------------------------------------------------------------------------------


def list_teams(
    platform: Platform,
    actor: Actor,
    *,
    workspace_id: str | None = None,
    take: int | None = None,
    cursor: str | None = None,
) -> tuple[int, list[views.TeamView]]:
    """Houston ``paginatedTeams``: (count of all matching teams, one page by name after ``cursor``).

    With ``workspace_id``: the teams bound to that workspace (workspace viewers); without: every team (system
    admins) or the teams the caller may see."""
    with platform.db.read() as s:
        q = sa.select(T).order_by(T.name, T.id)
        if workspace_id:
            access.require_role(s, actor, workspace_id, Role.VIEWER)
            q = q.where(
                T.id.in_(sa.select(TRB.team_id).where(TRB.scope == Scope.WORKSPACE.value, TRB.scope_id == workspace_id))
            )
        else:
            visible = _visible_team_ids(actor)
            if visible is not None:
                q = q.where(T.id.in_(visible))
        teams = list(s.scalars(q))
        total = len(teams)
        if cursor:
            position = next((i for i, t in enumerate(teams) if t.id == cursor), None)
            if position is not None:
                teams = teams[position + 1 :]
        if take is not None and take > 0:
            teams = teams[:take]
        return total, _views(s, actor, teams)


def get(platform: Platform, actor: Actor, team_id: str) -> views.TeamView:
    with platform.db.read() as s:
        return _views(s, actor, [_team(s, actor, team_id)])[0]


def members(platform: Platform, actor: Actor, team_id: str) -> list[views.MemberView]:
    """Houston ``teamUsers``: the team's users by username."""
    with platform.db.read() as s:
        _team(s, actor, team_id)
        ids = list(
            s.scalars(
                sa.select(models.User.id)
                .join(TM, TM.user_id == models.User.id)
                .where(TM.team_id == team_id)
                .order_by(models.User.username)
            )
        )
    return people.member_users(platform, actor, ids)


def workspace_teams(platform: Platform, actor: Actor, workspace_id: str) -> list[views.TeamView]:
    return list_teams(platform, actor, workspace_id=workspace_id)[1]


def deployment_teams(platform: Platform, actor: Actor, deployment_id: str) -> list[views.TeamView]:
    """Houston ``deploymentTeams``: teams holding a role on this Deployment."""
    with platform.db.read() as s:
        access.live_deployment(s, actor, deployment_id, Role.VIEWER)
        teams = list(
            s.scalars(
                sa.select(T)
                .join(TRB, TRB.team_id == T.id)
                .where(TRB.scope == Scope.DEPLOYMENT.value, TRB.scope_id == deployment_id)
                .order_by(T.name)
            )
        )
        return _views(s, actor, teams)


# --- managing teams (system admins) --------------------------------------------------------------------------------


def create(platform: Platform, actor: Actor, *, name: str, source: str = LOCAL) -> views.TeamView:
    access.require_system_admin(actor)
    name = _check_name(name)
    now = platform.now()
    with platform.db.write() as s:
        if s.scalar(sa.select(T.id).where(T.name == name)) is not None:
            raise Conflict(f"team {access.shown(name)} already exists")
        team = T(id=str(uuid.uuid4()), name=name, source=source, created_at=now, updated_at=now)
        s.add(team)
        s.flush()
        _record(s, actor, "team.create", team.id, now, name=name)
        return _views(s, actor, [team])[0]


def delete(platform: Platform, actor: Actor, team_id: str) -> views.TeamView:
    access.require_system_admin(actor)
    now = platform.now()
    with platform.db.write() as s:
        team = _team(s, actor, team_id)
        view = _views(s, actor, [team])[0]
        s.delete(team)
        _record(s, actor, "team.delete", team_id, now, name=view.name)
        return view


def add_member(platform: Platform, actor: Actor, team_id: str, *, email: str) -> views.TeamView:
    access.require_system_admin(actor)
    now = platform.now()
    with platform.db.write() as s:
        team = _team(s, actor, team_id)
        user = people.find_user(s, email)
        if s.get(TM, (team.id, user.id)) is not None:
            raise Conflict(f"user {access.shown(user.username)} is already a member of team {access.shown(team.name)}")
        s.add(TM(team_id=team.id, user_id=user.id, created_at=now))
        s.flush()
        _record(s, actor, "team.member.add", team.id, now, username=user.username)
        return _views(s, actor, [team])[0]


def remove_member(platform: Platform, actor: Actor, team_id: str, *, user_id: str) -> views.TeamView:
    access.require_system_admin(actor)
    now = platform.now()
    with platform.db.write() as s:
        team = _team(s, actor, team_id)
        member = s.get(TM, (team.id, user_id))
        if member is None:
            raise NotFound(f"user {access.shown(user_id)} is not a member of team {access.shown(team.name)}")
        s.delete(member)
        s.flush()
        _record(s, actor, "team.member.remove", team.id, now, user_id=user_id)
        return _views(s, actor, [team])[0]


def _binding(s: Session, team_id: str, scope: Scope, scope_id: str) -> models.TeamRoleBinding | None:
    return s.scalar(sa.select(TRB).where(TRB.team_id == team_id, TRB.scope == scope.value, TRB.scope_id == scope_id))


def set_system_role(platform: Platform, actor: Actor, team_id: str, *, role: str) -> str:
    """Houston ``createTeamSystemRoleBinding``: the team's system role (replacing an earlier one)."""
    access.require_system_admin(actor)
    wanted = access.parse_role(role, Scope.SYSTEM)
    now = platform.now()
    with platform.db.write() as s:
        team = _team(s, actor, team_id)
        binding = _binding(s, team.id, Scope.SYSTEM, "")
        if binding is None:
            s.add(
                TRB(
                    id=str(uuid.uuid4()),
                    team_id=team.id,
                    scope=Scope.SYSTEM.value,
                    scope_id="",
                    role=wanted.value,
                    created_at=now,
                )
            )
        else:
            binding.role = wanted.value
        _record(s, actor, "team.system_role.set", team.id, now, role=wanted.value)
        return access.houston_role(Scope.SYSTEM, wanted)


def remove_system_role(platform: Platform, actor: Actor, team_id: str, *, role: str) -> str:
    """Houston ``deleteTeamSystemRoleBinding``."""
    access.require_system_admin(actor)
    wanted = access.parse_role(role, Scope.SYSTEM)
    now = platform.now()
    with platform.db.write() as s:
        team = _team(s, actor, team_id)
        binding = _binding(s, team.id, Scope.SYSTEM, "")
        if binding is None or binding.role != wanted.value:
            raise NotFound(f"team {access.shown(team.name)} has no {access.houston_role(Scope.SYSTEM, wanted)} binding")
        s.delete(binding)
        _record(s, actor, "team.system_role.remove", team.id, now, role=wanted.value)
        return access.houston_role(Scope.SYSTEM, wanted)


# --- teams in workspaces and Deployments ----------------------------------------------------------------------------


def _any_team(s: Session, team_id: str) -> models.Team:
    """For workspace and Deployment admins binding a team: any existing team (they may not list them all)."""
    team = s.get(T, team_id) if team_id else None
    if team is None:
        raise _not_found(team_id)
    return team


def add_to_workspace(
    platform: Platform,
    actor: Actor,
    workspace_id: str,
    team_id: str,
    *,
    role: str,
    deployment_roles: Iterable[tuple[str, str]] = (),
) -> None:
    """Houston ``workspaceAddTeam``: the team gets ``role`` here (and optional Deployment roles). Workspace admin."""
    wanted = access.parse_role(role, Scope.WORKSPACE)
    dep_roles = [(dep_id, access.parse_role(r, Scope.DEPLOYMENT)) for dep_id, r in deployment_roles]
    now = platform.now()
    with platform.db.write() as s:
        access.require_role(s, actor, workspace_id, Role.ADMIN)
        team = _any_team(s, team_id)
        if _binding(s, team.id, Scope.WORKSPACE, workspace_id) is not None:
            raise Conflict(
                f"team {access.shown(team.name)} already has a role in this workspace; change it with "
                "workspaceUpdateTeamRole (astro workspace team update)"
            )
        s.add(
            TRB(
                id=str(uuid.uuid4()),
                team_id=team.id,
                scope=Scope.WORKSPACE.value,
                scope_id=workspace_id,
                role=wanted.value,
                created_at=now,
            )
        )
        for dep_id, dep_role in dep_roles:
            dep = s.get(D, dep_id)
            if dep is None or dep.deleted_at is not None or dep.workspace_id != workspace_id:
                raise NotFound(f"deployment {access.shown(dep_id)} not found in this workspace")
            s.add(
                TRB(
                    id=str(uuid.uuid4()),
                    team_id=team.id,
                    scope=Scope.DEPLOYMENT.value,
                    scope_id=dep_id,
                    role=dep_role.value,
                    created_at=now,
                )
            )
        _record(s, actor, "workspace.team.add", team.id, now, workspace_id=workspace_id, role=wanted.value)


def remove_from_workspace(platform: Platform, actor: Actor, workspace_id: str, team_id: str) -> None:
    """Houston ``workspaceRemoveTeam``: with the team's Deployment roles in this workspace. Workspace admin."""
    now = platform.now()
    with platform.db.write() as s:
        access.require_role(s, actor, workspace_id, Role.ADMIN)
        team = _any_team(s, team_id)
        binding = _binding(s, team.id, Scope.WORKSPACE, workspace_id)
        if binding is None:
            raise NotFound(f"team {access.shown(team.name)} has no role in this workspace")
        s.delete(binding)
        s.execute(
            sa.delete(TRB)
            .where(
                TRB.team_id == team.id,
                TRB.scope == Scope.DEPLOYMENT.value,
                TRB.scope_id.in_(sa.select(D.id).where(D.workspace_id == workspace_id)),
            )
            .execution_options(synchronize_session=False)
        )
        _record(s, actor, "workspace.team.remove", team.id, now, workspace_id=workspace_id)


def set_workspace_role(platform: Platform, actor: Actor, workspace_id: str, team_id: str, *, role: str) -> str:
    """Houston ``workspaceUpdateTeamRole``: returns the new role's Houston name. Workspace admin."""
    wanted = access.parse_role(role, Scope.WORKSPACE)
    now = platform.now()
    with platform.db.write() as s:
        access.require_role(s, actor, workspace_id, Role.ADMIN)
        team = _any_team(s, team_id)
        binding = _binding(s, team.id, Scope.WORKSPACE, workspace_id)
        if binding is None:
            raise NotFound(
                f"team {access.shown(team.name)} has no role in this workspace; add it with workspaceAddTeam"
            )
        binding.role = wanted.value
        _record(s, actor, "workspace.team.set", team.id, now, workspace_id=workspace_id, role=wanted.value)
        return access.houston_role(Scope.WORKSPACE, wanted)


def _team_binding_view(binding: models.TeamRoleBinding, team: models.Team, dep: models.Deployment) -> views.BindingView:
    return views.BindingView(
        id=binding.id,
        role=access.houston_role(Scope.DEPLOYMENT, binding.role),
        team_id=team.id,
        team_name=team.name,
        workspace_id=dep.workspace_id,
        deployment_id=dep.id,
    )


def _on_deployment(
    s: Session, actor: Actor, deployment_id: str, team_id: str
) -> tuple[models.Deployment, models.Team, models.TeamRoleBinding | None]:
    """The Deployment (the caller must be its admin), the team and the team's role binding there, if any."""
    dep = access.live_deployment(s, actor, deployment_id, Role.ADMIN)
    team = _any_team(s, team_id)
    return dep, team, _binding(s, team.id, Scope.DEPLOYMENT, dep.id)


def _record_on(
    s: Session, actor: Actor, action: str, team: models.Team, dep: models.Deployment, at: datetime, **detail: str
) -> None:
    _record(s, actor, action, team.id, at, workspace_id=dep.workspace_id, deployment_id=dep.id, **detail)


def add_to_deployment(
    platform: Platform, actor: Actor, deployment_id: str, team_id: str, *, role: str
) -> views.BindingView:
    """Houston ``deploymentAddTeamRole``. Deployment admin; the team must have a role in the workspace."""
    wanted = access.parse_role(role, Scope.DEPLOYMENT)
    now = platform.now()
    with platform.db.write() as s:
        dep, team, existing = _on_deployment(s, actor, deployment_id, team_id)
        if _binding(s, team.id, Scope.WORKSPACE, dep.workspace_id) is None:
            raise Conflict(
                f"team {access.shown(team.name)} has no role in this Deployment's workspace: add it to the workspace "
                "first (astro workspace team add)"
            )
        if existing is not None:
            raise Conflict(
                f"team {access.shown(team.name)} already has a role on this Deployment; use deploymentUpdateTeamRole"
            )
        binding = TRB(
            id=str(uuid.uuid4()),
            team_id=team.id,
            scope=Scope.DEPLOYMENT.value,
            scope_id=dep.id,
            role=wanted.value,
            created_at=now,
        )
        s.add(binding)
        s.flush()
        _record_on(s, actor, "deployment.team.add", team, dep, now, role=wanted.value)
        return _team_binding_view(binding, team, dep)


def update_deployment_role(
    platform: Platform, actor: Actor, deployment_id: str, team_id: str, *, role: str
) -> views.BindingView:
    """Houston ``deploymentUpdateTeamRole``. Deployment admin."""
    wanted = access.parse_role(role, Scope.DEPLOYMENT)
    now = platform.now()
    with platform.db.write() as s:
        dep, team, binding = _on_deployment(s, actor, deployment_id, team_id)
        if binding is None:
            raise NotFound(
                f"team {access.shown(team.name)} has no role on this Deployment; add one with deploymentAddTeamRole"
            )
        binding.role = wanted.value
        _record_on(s, actor, "deployment.team.set", team, dep, now, role=wanted.value)
        return _team_binding_view(binding, team, dep)


def remove_from_deployment(platform: Platform, actor: Actor, deployment_id: str, team_id: str) -> views.BindingView:
    """Houston ``deploymentRemoveTeamRole``: the binding as it was. Deployment admin."""
    now = platform.now()
    with platform.db.write() as s:
        dep, team, binding = _on_deployment(s, actor, deployment_id, team_id)
        if binding is None:
            raise NotFound(f"team {access.shown(team.name)} has no role on this Deployment")
        view = _team_binding_view(binding, team, dep)
        s.delete(binding)
        _record_on(s, actor, "deployment.team.remove", team, dep, now)
        return view


# --- single sign-on ------------------------------------------------------------------------------------------------


def sync_from_groups(s: Session, *, user_id: str, groups: Iterable[str], at: datetime) -> list[str]:
    """Inside a login's transaction: the user's identity-provider teams become exactly ``groups`` (teams created on
    first sight, source oidc). Local teams are left alone. Returns the team names the user is now in."""
    wanted = {g.strip() for g in groups if isinstance(g, str) and g.strip()}
    wanted = {g[:NAME_MAX] for g in wanted}
    teams = {t.name: t for t in s.scalars(sa.select(T).where(T.name.in_(wanted)))} if wanted else {}
    for name in sorted(wanted - set(teams)):
        team = T(id=str(uuid.uuid4()), name=name, source=OIDC, created_at=at, updated_at=at)
        s.add(team)
        teams[name] = team
    s.flush()
    current = {
        tid: source
        for tid, source in s.execute(
            sa.select(TM.team_id, T.source).join(T, T.id == TM.team_id).where(TM.user_id == user_id)
        )
    }
    keep = {teams[n].id for n in wanted}
    for tid, source in current.items():
        if source == OIDC and tid not in keep:
            s.execute(sa.delete(TM).where(TM.team_id == tid, TM.user_id == user_id))
    for tid in keep - set(current):
        s.add(TM(team_id=tid, user_id=user_id, created_at=at))
    return sorted(wanted)
