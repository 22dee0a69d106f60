"""Accounts, tokens and workspace roles at the services level (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from airpool.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from airpool.services import audit, auth, deployments, pool, workspaces
from airpool.services.access import Actor
from airpool.services.platform import Platform
from airpool.store import models
from tests.support import platform as tp

PASSWORD = "correct horse battery"


@pytest.fixture
def plat(database_url: str) -> Iterator[Platform]:
    p = tp.make(database_url, tp.config(pool_names=("pool-a", "pool-b", "pool-c"), hard_delete=True))
    yield p
    p.close()


def _user(p: Platform, admin: Actor, name: str) -> Actor:
    auth.create_user(p, admin, username=name, password=PASSWORD)
    return auth.authenticate(p, auth.login(p, username=name, password=PASSWORD).token)


# --- sign-up, login, tokens ---------------------------------------------------------------------------------------


def test_first_signup_is_system_admin_then_signup_closes(plat: Platform) -> None:
    assert auth.auth_config(plat).initial_signup is True
    first = auth.signup(plat, username="ada", password=PASSWORD, full_name="Ada")
    assert first.user.is_system_admin
    assert auth.auth_config(plat).initial_signup is False
    actor = auth.authenticate(plat, first.token)
    assert [w.label for w in workspaces.list_for(plat, actor)] == ["Ada's Workspace"]
    with pytest.raises(Forbidden, match="sign-up is closed"):
        auth.signup(plat, username="bob", password=PASSWORD)
    with plat.db.read() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(models.User)) == 1


def test_login_and_bearer_token(plat: Platform) -> None:
    tp.admin(plat, "ada")
    result = auth.login(plat, username="ada", password=PASSWORD)
    assert auth.authenticate(plat, f"Bearer {result.token}").username == "ada"
    with pytest.raises(Unauthenticated, match="invalid username or password"):
        auth.login(plat, username="ada", password="wrong password")
    with pytest.raises(Unauthenticated, match="invalid username or password"):
        auth.login(plat, username="nobody", password=PASSWORD)


@pytest.mark.parametrize("token", [None, "", "   ", "garbage", "eyJ1IjoieCJ9.bad.sig", "Bearer "])
def test_missing_or_malformed_token_is_refused(plat: Platform, token: str | None) -> None:
    tp.admin(plat)
    with pytest.raises(Unauthenticated):
        auth.authenticate(plat, token)


def test_token_expires_and_tampering_is_detected(plat: Platform) -> None:
    tp.admin(plat, "ada")
    token = auth.login(plat, username="ada", password=PASSWORD).token
    with pytest.raises(Unauthenticated, match="malformed"):
        auth.authenticate(plat, ("B" if token[0] == "A" else "A") + token[1:])  # payload changed
    clock = plat.clock
    assert isinstance(clock, tp.Clock)
    clock.advance(seconds=plat.session_ttl_seconds + 5)
    with pytest.raises(auth.TokenExpired, match="expired"):
        auth.authenticate(plat, token)


def test_signing_key_is_shared_by_replicas(plat: Platform) -> None:
    tp.admin(plat, "ada")
    token = auth.login(plat, username="ada", password=PASSWORD).token
    other = Platform(config=plat.config, db=plat.db, clock=plat.clock)  # another replica: empty cache
    assert auth.authenticate(other, token).username == "ada"


def test_api_tokens_store_only_a_hash_and_can_be_revoked(plat: Platform) -> None:
    admin = tp.admin(plat)
    _view, secret = auth.create_api_token(plat, admin, label="ci", expires_in_days=1)
    assert secret.startswith(auth.API_TOKEN_PREFIX)
    with plat.db.read() as s:
        stored = s.scalars(sa.select(models.ApiToken.token_hash)).all()
    assert secret not in stored
    assert auth.authenticate(plat, secret).user_id == admin.user_id
    assert [t.label for t in auth.list_api_tokens(plat, admin)] == ["ci"]
    clock = plat.clock
    assert isinstance(clock, tp.Clock)
    clock.advance(days=2)
    with pytest.raises(auth.TokenExpired):
        auth.authenticate(plat, secret)
    second, secret2 = auth.create_api_token(plat, admin, label="ci2")
    auth.revoke_api_token(plat, admin, second.id)
    with pytest.raises(Unauthenticated, match="revoked"):
        auth.authenticate(plat, secret2)
    with pytest.raises(Unauthenticated, match="unknown API token"):
        auth.authenticate(plat, auth.API_TOKEN_PREFIX + "x" * 43)


def test_admin_from_environment(plat: Platform) -> None:
    env = {auth.ENV_ADMIN_USERNAME: "root", auth.ENV_ADMIN_PASSWORD: PASSWORD}
    created = auth.ensure_admin_from_env(plat, env)
    assert created is not None
    assert created.is_system_admin
    assert auth.ensure_admin_from_env(plat, env) is None  # idempotent: replicas and restarts
    assert auth.auth_config(plat).initial_signup is False
    with pytest.raises(Forbidden):
        auth.signup(plat, username="late", password=PASSWORD)
    with pytest.raises(InvalidInput, match="set both"):
        auth.ensure_admin_from_env(plat, {auth.ENV_ADMIN_USERNAME: "x"})
    assert auth.ensure_admin_from_env(plat, {}) is None


def test_only_system_admins_create_users_and_see_the_pool(plat: Platform) -> None:
    admin = tp.admin(plat)
    alice = _user(plat, admin, "alice")
    with pytest.raises(Forbidden):
        auth.create_user(plat, alice, username="mallory", password=PASSWORD)
    with pytest.raises(Forbidden):
        pool.status(plat, alice)
    with pytest.raises(Forbidden):
        pool.release_early(plat, alice, "pool-a")
    with pytest.raises(Forbidden):
        audit.list_events(plat, alice)
    assert [v.name for v in pool.status(plat, admin)] == ["pool-a", "pool-b", "pool-c"]
    with pytest.raises(Conflict, match="already taken"):
        auth.create_user(plat, admin, username="alice", password=PASSWORD)


# --- workspace roles ----------------------------------------------------------------------------------------------


def test_viewer_reads_but_cannot_create_or_delete(plat: Platform) -> None:
    admin = tp.admin(plat)
    ws = workspaces.create(plat, admin, label="Team A").id
    dep = deployments.create(plat, admin, workspace_id=ws, label="d")
    viewer = _user(plat, admin, "vera")
    workspaces.set_member(plat, admin, ws, username="vera", role="viewer")
    assert [d.id for d in deployments.list_for_workspace(plat, viewer, ws)] == [dep.id]
    assert deployments.get(plat, viewer, dep.id).id == dep.id
    with pytest.raises(Forbidden, match="You do not have the appropriate permissions for that"):
        deployments.create(plat, viewer, workspace_id=ws, label="nope")
    with pytest.raises(Forbidden):
        deployments.delete(plat, viewer, dep.id)
    with pytest.raises(Forbidden):
        workspaces.set_member(plat, viewer, ws, username="vera", role="admin")
    assert pool.available_namespaces(plat) == ["pool-b", "pool-c"]
    editor = _user(plat, admin, "eddie")
    workspaces.set_member(plat, admin, ws, username="eddie", role="editor")
    dep2 = deployments.create(plat, editor, workspace_id=ws, label="yes")
    deployments.delete(plat, editor, dep2.id)


def test_members_of_a_never_see_or_touch_b(plat: Platform) -> None:
    admin = tp.admin(plat)
    alice, bob = _user(plat, admin, "alice"), _user(plat, admin, "bob")
    ws_a = workspaces.create(plat, alice, label="Alpha Secret Project").id
    ws_b = workspaces.create(plat, bob, label="Bravo Secret Project").id
    dep_b = deployments.create(plat, bob, workspace_id=ws_b, label="bravo-dep", release_name="bravo-release")
    assert [w.id for w in workspaces.list_for(plat, alice)] == [ws_a]
    assert deployments.list_visible(plat, alice) == []
    attempts = [
        lambda: workspaces.get(plat, alice, ws_b),
        lambda: deployments.list_for_workspace(plat, alice, ws_b),
        lambda: deployments.create(plat, alice, workspace_id=ws_b, label="x"),
        lambda: deployments.get(plat, alice, dep_b.id),
        lambda: deployments.delete(plat, alice, dep_b.id),
        lambda: workspaces.members(plat, alice, ws_b),
        lambda: workspaces.set_member(plat, alice, ws_b, username="alice", role="admin"),
        lambda: audit.for_deployment(plat, alice, dep_b.id),
        lambda: audit.list_events(plat, alice, workspace_id=ws_b),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound) as err:
            attempt()
        for secret in ("Bravo", "bravo-dep", "bravo-release", "bob", dep_b.namespace):
            assert secret not in err.value.message
    # an unknown id reads exactly like another workspace's id
    with pytest.raises(NotFound) as unknown:
        workspaces.get(plat, alice, "00000000-0000-0000-0000-000000000000")
    assert unknown.value.message == "workspace '00000000-0000-0000-0000-000000000000' not found"
    assert deployments.get(plat, bob, dep_b.id).label == "bravo-dep"


def test_system_admin_sees_every_workspace(plat: Platform) -> None:
    admin = tp.admin(plat)
    bob = _user(plat, admin, "bob")
    ws_b = workspaces.create(plat, bob, label="Bravo").id
    assert ws_b in {w.id for w in workspaces.list_for(plat, admin)}
    assert workspaces.get(plat, admin, ws_b).role is None


def test_last_workspace_admin_cannot_leave(plat: Platform) -> None:
    admin = tp.admin(plat)
    alice = _user(plat, admin, "alice")
    ws = workspaces.create(plat, alice, label="A").id
    with pytest.raises(Conflict, match="last admin"):
        workspaces.remove_member(plat, alice, ws, username="alice")
    with pytest.raises(InvalidInput, match="role 'owner' is not known; allowed: admin, editor, viewer"):
        workspaces.set_member(plat, alice, ws, username="alice", role="owner")


def test_replicas_creating_the_env_admin_at_once(plat: Platform) -> None:
    import threading

    from airpool.services import platform as platform_service

    env = {auth.ENV_ADMIN_USERNAME: "root", auth.ENV_ADMIN_PASSWORD: PASSWORD}
    replicas = [
        platform_service.connect(plat.config, url=plat.db.url, clock=plat.clock, require_schema=False) for _ in range(4)
    ]
    results: list[object] = []
    barrier = threading.Barrier(len(replicas))

    def start(replica: Platform) -> None:
        barrier.wait()
        try:
            results.append(auth.ensure_admin_from_env(replica, env))
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=start, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in replicas:
        r.close()
    assert not [r for r in results if isinstance(r, BaseException)]
    assert len(results) == 4
    assert sum(r is not None for r in results) == 1
    assert auth.login(plat, username="root", password=PASSWORD).user.is_system_admin


def test_signing_key_is_stable(plat: Platform) -> None:
    key = auth.signing_key(plat)
    assert len(key) >= 48
    assert auth.signing_key(Platform(config=plat.config, db=plat.db)) == key


def test_audit_trail_pages_back_and_workspace_admins_see_their_own(plat: Platform) -> None:
    admin = tp.admin(plat)
    alice = _user(plat, admin, "alice")
    ws = workspaces.create(plat, alice, label="A").id
    for i in range(3):
        deployments.create(plat, alice, workspace_id=ws, label=f"d{i}")
    mine = audit.list_events(plat, alice, workspace_id=ws)
    assert [e.action for e in mine] == ["deployment.create"] * 3 + ["workspace.create"]
    assert all(e.actor == "alice" for e in mine)
    page1 = audit.list_events(plat, admin, limit=2)
    page2 = audit.list_events(plat, admin, limit=2, before=page1[-1].id)
    assert page1[-1].id > page2[0].id
    assert all(e.at.tzinfo is not None for e in page1 + page2)
