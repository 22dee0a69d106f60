"""createDeployment's write path on SQLite and PostgreSQL: every way a caller may create (system admin, own
binding, a team's binding, a team's system role, a workspace service account) and every refusal gives the same
answer on both databases, with nothing written when it is refused. On PostgreSQL a create that succeeds is ONE
statement after the token check (role check, claim and three inserts in one round trip, no BEGIN or COMMIT), and
a token check is one statement."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from airpool.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, PoolExhausted
from airpool.services import access, auth, deployments, service_accounts, teams, workspaces
from airpool.services.platform import Platform
from airpool.store import models
from tests.support import platform as tp

POOL = ("pool-a", "pool-b", "pool-c")
PASSWORD = "correct horse battery"


@pytest.fixture
def plat(database_url: str) -> Iterator[Platform]:
    p = tp.make(database_url, tp.config(pool_names=POOL, hard_delete=True))
    yield p
    p.close()


def _user(p: Platform, admin: access.Actor, name: str) -> access.Actor:
    auth.create_user(p, admin, username=name, password=PASSWORD)
    return auth.authenticate(p, auth.login(p, username=name, password=PASSWORD).token)


def _written(p: Platform) -> tuple[int, int, int, int]:
    with p.db.read() as s:
        counts = [
            int(s.scalar(sa.select(sa.func.count()).select_from(t)) or 0)
            for t in (models.Deployment, models.CommanderJob)
        ]
        audit = int(
            s.scalar(
                sa.select(sa.func.count())
                .select_from(models.AuditEvent)
                .where(models.AuditEvent.action == "deployment.create")
            )
            or 0
        )
        claimed = int(
            s.scalar(
                sa.select(sa.func.count())
                .select_from(models.PoolNamespace)
                .where(models.PoolNamespace.state != "available")
            )
            or 0
        )
    return counts[0], counts[1], audit, claimed


@pytest.fixture
def statements(plat: Platform) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    for engine in plat.db.engines:
        event.listen(engine, "before_cursor_execute", record)
    yield seen
    for engine in plat.db.engines:
        event.remove(engine, "before_cursor_execute", record)


def _sql(statements: list[str]) -> int:
    """Statements other than SQLite's BEGIN (PostgreSQL's reads and one-statement writes run in autocommit)."""
    return sum(1 for st in statements if not st.startswith("BEGIN"))


def test_every_role_that_may_create_does(plat: Platform) -> None:
    tp.with_pool(plat, (*POOL, "pool-d", "pool-e", "pool-f"))
    admin = tp.admin(plat)
    ws = workspaces.list_for(plat, admin)[0].id
    own = _user(plat, admin, "own-editor")
    workspaces.set_member(plat, admin, ws, username="own-editor", role="editor")
    via_team = _user(plat, admin, "team-editor")
    team = teams.create(plat, admin, name="builders")
    teams.add_member(plat, admin, team.id, email="team-editor")
    teams.add_to_workspace(plat, admin, ws, team.id, role="WORKSPACE_EDITOR")
    _user(plat, admin, "system-editor")
    system_team = teams.create(plat, admin, name="platform")
    teams.add_member(plat, admin, system_team.id, email="system-editor")
    teams.set_system_role(plat, admin, system_team.id, role="SYSTEM_EDITOR")
    system = auth.authenticate(plat, auth.login(plat, username="system-editor", password=PASSWORD).token)
    assert system.system_role is access.Role.EDITOR
    assert not system.is_system_admin
    robot_key = service_accounts.create(plat, admin, label="ci", role="WORKSPACE_EDITOR", workspace_id=ws).api_key
    assert robot_key is not None
    robot = auth.authenticate(plat, robot_key)

    made = [
        deployments.create(plat, who, workspace_id=ws, label=f"by {i}")
        for i, who in enumerate((admin, own, via_team, system))
    ]
    made.append(deployments.create(plat, robot, workspace_id=ws, label="by robot", namespace="pool-f"))
    assert [d.namespace for d in made] == ["pool-a", "pool-b", "pool-c", "pool-d", "pool-f"]
    assert _written(plat) == (5, 5, 5, 5)


def test_team_system_admin_is_admin_and_a_team_viewer_is_refused(plat: Platform) -> None:
    admin = tp.admin(plat)
    ws = workspaces.list_for(plat, admin)[0].id
    boss = _user(plat, admin, "boss")
    team = teams.create(plat, admin, name="admins")
    teams.add_member(plat, admin, team.id, email="boss")
    teams.set_system_role(plat, admin, team.id, role="SYSTEM_ADMIN")
    boss = auth.authenticate(plat, auth.login(plat, username="boss", password=PASSWORD).token)
    assert boss.is_system_admin
    watcher = _user(plat, admin, "watcher")  # in no workspace of their own: only the team's viewer role
    viewers = teams.create(plat, admin, name="viewers")
    teams.add_member(plat, admin, viewers.id, email="watcher")
    teams.add_to_workspace(plat, admin, ws, viewers.id, role="WORKSPACE_VIEWER")

    before = _written(plat)
    with pytest.raises(Forbidden):
        deployments.create(plat, watcher, workspace_id=ws, label="nope")
    assert _written(plat) == before
    assert deployments.create(plat, boss, workspace_id=ws, label="yes").namespace == "pool-a"


def test_refusals_name_their_reason_and_write_nothing(plat: Platform) -> None:
    admin = tp.admin(plat)
    ws = workspaces.list_for(plat, admin)[0].id
    viewer = _user(plat, admin, "viewer")
    workspaces.set_member(plat, admin, ws, username="viewer", role="viewer")
    stranger = _user(plat, admin, "stranger")
    reader_key = service_accounts.create(plat, admin, label="ro", role="WORKSPACE_VIEWER", workspace_id=ws).api_key
    assert reader_key is not None
    reader = auth.authenticate(plat, reader_key)
    first = deployments.create(plat, admin, workspace_id=ws, label="first", release_name="taken-name")
    before = _written(plat)

    with pytest.raises(Forbidden):
        deployments.create(plat, viewer, workspace_id=ws, label="x")
    with pytest.raises(Forbidden):
        deployments.create(plat, reader, workspace_id=ws, label="x")
    with pytest.raises(NotFound, match="workspace 'no-such-workspace' not found"):
        deployments.create(plat, stranger, workspace_id="no-such-workspace", label="x")
    with pytest.raises(NotFound, match="not found"):
        deployments.create(plat, stranger, workspace_id=ws, label="x")
    with pytest.raises(NotFound, match="workspace 'no-such-workspace' not found"):
        deployments.create(plat, admin, workspace_id="no-such-workspace", label="x")
    with pytest.raises(
        Conflict, match=f"release name 'taken-name' is held by another Deployment 'first' \\({first.id}"
    ):
        deployments.create(plat, admin, workspace_id=ws, label="x", release_name="taken-name")
    with pytest.raises(Conflict, match="namespace 'pool-a' is not available"):
        deployments.create(plat, admin, workspace_id=ws, label="x", namespace="pool-a")
    with pytest.raises(InvalidInput, match="namespace 'pool-z' is not in the namespace pool"):
        deployments.create(plat, admin, workspace_id=ws, label="x", namespace="pool-z")
    assert _written(plat) == before

    deployments.create(plat, admin, workspace_id=ws, label="second")
    deployments.create(plat, admin, workspace_id=ws, label="third")
    before = _written(plat)
    with pytest.raises(PoolExhausted, match="no kubernetes namespaces are available"):
        deployments.create(plat, admin, workspace_id=ws, label="x")
    assert _written(plat) == before


def test_a_create_is_one_statement_on_postgresql(plat: Platform, statements: list[str]) -> None:
    admin = tp.admin(plat)
    ws = workspaces.list_for(plat, admin)[0].id
    token = auth.login(plat, username="admin", password=PASSWORD).token
    _user(plat, admin, "editor")
    workspaces.set_member(plat, admin, ws, username="editor", role="editor")
    editor_token = auth.login(plat, username="editor", password=PASSWORD).token
    statements.clear()
    caller = auth.authenticate(plat, token)
    assert _sql(statements) == 1, statements
    statements.clear()
    made = deployments.create(plat, caller, workspace_id=ws, label="one")
    if plat.db.is_postgres:
        assert len(statements) == 1, statements
        assert statements[0].startswith("WITH claimed AS"), statements
    else:
        # SQLite: BEGIN IMMEDIATE, the role check, the claim, the three inserts (COMMIT is the driver's call).
        assert statements[0] == "BEGIN IMMEDIATE", statements
        assert _sql(statements) == 5, statements
    statements.clear()
    by_editor = deployments.create(plat, auth.authenticate(plat, editor_token), workspace_id=ws, label="two")
    if plat.db.is_postgres:
        assert len(statements) == 2, statements  # the token check and the create
    with plat.db.read() as s:
        job = s.scalars(sa.select(models.CommanderJob).where(models.CommanderJob.deployment_id == made.id)).one()
        audit = s.scalars(sa.select(models.AuditEvent).where(models.AuditEvent.target_id == made.id)).one()
        row = s.get(models.PoolNamespace, made.namespace)
    assert (job.kind, job.state, job.namespace, job.payload) == ("install", "queued", made.namespace, {})
    assert audit.detail == {"release_name": made.release_name, "dag_deployment": "image", "namespace": "pool-a"}
    assert (audit.actor, audit.workspace_id) == ("admin", ws)
    assert row is not None
    assert (row.state, row.holder_id) == ("claimed", made.id)
    assert by_editor.namespace == "pool-b"
