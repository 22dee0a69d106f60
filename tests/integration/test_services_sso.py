"""Single sign-on's account side (``services.sso.login_with_claims``) on SQLite and PostgreSQL: who the verified
identity becomes, when an existing account is linked, and how the groups claim sets the user's teams."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from airpool.config.model import AuthSettings, OidcProvider
from airpool.domain.errors import Forbidden
from airpool.services import auth, sso, teams, workspaces
from airpool.services.platform import Platform
from airpool.store import models
from tests.support import platform as tp

PASSWORD = "correct horse battery"
PROVIDER = OidcProvider(
    name="corp",
    display_name="Corp",
    discovery_url="https://login.example.com/.well-known/openid-configuration",
    client_id="airpool",
)


@pytest.fixture
def plat(database_url: str) -> Iterator[Platform]:
    cfg = dataclasses.replace(tp.config(), auth=AuthSettings(providers=(PROVIDER,), groups_import=True))
    p = tp.make(database_url, cfg)
    yield p
    p.close()


def identity(sub: str = "sub-1", email: str | None = "ada@example.com", **change: object) -> sso.Identity:
    base = sso.Identity(
        provider="corp",
        issuer="https://login.example.com",
        subject=sub,
        email=email,
        email_verified=True,
        name="Ada Lovelace",
        groups=("data",),
    )
    return dataclasses.replace(base, **change)  # type: ignore[arg-type]


def counts(p: Platform) -> tuple[int, int]:
    with p.db.read() as s:
        users = s.scalar(sa.select(sa.func.count()).select_from(models.User))
        links = s.scalar(sa.select(sa.func.count()).select_from(models.UserIdentity))
    return int(users or 0), int(links or 0)


def test_first_login_creates_the_user_and_the_first_one_is_system_admin(plat: Platform) -> None:
    first = sso.login_with_claims(plat, identity())
    assert first.created
    assert first.login.user.username == "ada@example.com"
    assert first.login.user.full_name == "Ada Lovelace"
    assert first.login.user.is_system_admin  # the installation had nobody: as with the first sign-up
    actor = auth.authenticate(plat, first.login.token)
    assert actor.username == "ada@example.com"
    second = sso.login_with_claims(plat, identity(sub="sub-2", email="bob@example.com", name="Bob"))
    assert second.created
    assert not second.login.user.is_system_admin
    assert counts(plat) == (2, 2)


def test_the_subject_finds_the_user_even_when_the_email_changed(plat: Platform) -> None:
    tp.admin(plat)
    first = sso.login_with_claims(plat, identity())
    again = sso.login_with_claims(plat, identity(email="ada.lovelace@example.com"))
    assert not again.created
    assert again.login.user.id == first.login.user.id
    assert again.login.user.username == "ada@example.com"
    assert counts(plat) == (2, 1)


def test_an_existing_account_is_linked_only_with_a_verified_email(plat: Platform) -> None:
    admin = tp.admin(plat)
    local = auth.create_user(plat, admin, username="ada@example.com", password=PASSWORD)
    with pytest.raises(sso.SsoFailed, match="does not say the address is verified"):
        sso.login_with_claims(plat, identity(email_verified=False))
    assert counts(plat) == (2, 0)  # refused: nothing linked, nothing created
    linked = sso.login_with_claims(plat, identity())
    assert not linked.created
    assert linked.login.user.id == local.id
    assert auth.login(plat, username="ada@example.com", password=PASSWORD).user.id == local.id
    assert counts(plat) == (2, 1)


def test_no_email_and_disabled_accounts_are_refused(plat: Platform) -> None:
    tp.admin(plat)
    with pytest.raises(sso.SsoFailed, match="sent no e-mail address \\(claim 'email'\\)"):
        sso.login_with_claims(plat, identity(email=None))
    assert counts(plat) == (1, 0)
    user = sso.login_with_claims(plat, identity()).login.user
    with plat.db.write() as s:
        s.execute(sa.update(models.User).where(models.User.id == user.id).values(status="inactive"))
    with pytest.raises(sso.SsoFailed, match="is disabled") as caught:
        sso.login_with_claims(plat, identity())
    assert caught.value.status == 403


def test_groups_claim_sets_identity_provider_teams_and_their_roles_apply(plat: Platform) -> None:
    admin = tp.admin(plat)
    ws = workspaces.create(plat, admin, label="Data")
    data = teams.create(plat, admin, name="data")  # pre-created by an admin, as Astronomer's guide suggests
    teams.add_to_workspace(plat, admin, ws.id, data.id, role="WORKSPACE_VIEWER")
    done = sso.login_with_claims(plat, identity(groups=("data", "ops")))
    assert done.teams == ("data", "ops")
    actor = auth.authenticate(plat, done.login.token)
    assert [w.label for w in workspaces.list_for(plat, actor)] == ["Data"]
    by_name = {t.name: t for t in teams.list_teams(plat, admin)[1]}
    assert by_name["ops"].source == "oidc"  # created on first sight
    assert [m.username for m in teams.members(plat, admin, by_name["ops"].id)] == ["ada@example.com"]
    # next log-in without the group: out of the identity provider's team, and of its workspace
    later = sso.login_with_claims(plat, identity(groups=("data",)))
    assert later.teams == ("data",)
    assert teams.members(plat, admin, by_name["ops"].id) == []


def test_without_group_import_teams_are_left_alone(plat: Platform) -> None:
    admin = tp.admin(plat)
    plat.config = dataclasses.replace(plat.config, auth=AuthSettings(providers=(PROVIDER,), groups_import=False))
    done = sso.login_with_claims(plat, identity(groups=None))
    assert done.teams == ()
    assert teams.list_teams(plat, admin) == (0, [])


def test_with_local_accounts_off_passwords_are_refused_naming_the_key(plat: Platform) -> None:
    admin = tp.admin(plat)
    auth.create_user(plat, admin, username="bob", password=PASSWORD)
    plat.config = dataclasses.replace(
        plat.config, auth=AuthSettings(local_enabled=False, providers=(PROVIDER,), groups_import=True)
    )
    assert auth.auth_config(plat).local_enabled is False
    for attempt in (
        lambda: auth.login(plat, username="bob", password=PASSWORD),
        lambda: auth.signup(plat, username="eve", password=PASSWORD),
    ):
        with pytest.raises(Forbidden, match=r"auth.local.enabled: false\); log in with Corp"):
            attempt()
    assert counts(plat) == (2, 0)
    # single sign-on still works
    assert sso.login_with_claims(plat, identity()).created
