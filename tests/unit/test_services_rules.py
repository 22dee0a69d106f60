"""Pure rules of the services: delete mode, backoff, version and role checks, schema messages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airpool.domain.errors import InvalidInput
from airpool.services import access, commander_jobs, deployments, schema
from tests.support import platform as tp


@pytest.mark.parametrize(
    ("allowed", "requested", "hard"),
    [(True, None, True), (True, True, True), (True, False, False), (False, True, False), (False, None, False)],
)
def test_hard_delete_only_when_configuration_allows(allowed: bool, requested: bool | None, hard: bool) -> None:
    assert deployments.effective_hard_delete(tp.config(hard_delete=allowed), requested) is hard


def test_backoff_doubles_and_is_capped() -> None:
    assert [commander_jobs._backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert commander_jobs._backoff(30) == commander_jobs.BACKOFF_MAX
    assert commander_jobs._backoff(30) <= timedelta(minutes=10)


@pytest.mark.parametrize("version", ["3.1.3", "2.10.5", "3.0.0"])
def test_airflow_versions_accepted(version: str) -> None:
    assert deployments.check_airflow_version(version) == version


@pytest.mark.parametrize("version", ["1.10.15", "3", "latest", "3.1.3; drop table", "4.0.0", ""])
def test_airflow_versions_refused(version: str) -> None:
    with pytest.raises(InvalidInput, match=r"use a 2\.x\.y or 3\.x\.y release"):
        deployments.check_airflow_version(version)


@pytest.mark.parametrize("version", ["3.1.3", "2.10.5", "latest", ""])
def test_airflow_versions_not_offered_are_refused_naming_the_allowed_ones(version: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        deployments.check_airflow_version(version, ("2.11.2", "3.3.2"))
    assert refused.value.message == (
        f"airflowVersion {version!r} is not offered on this installation; allowed: 2.11.2, 3.3.2 "
        "(values.yaml airpool.airflow.versions)"
    )
    assert deployments.check_airflow_version(" 2.11.2 ", ("2.11.2", "3.3.2")) == "2.11.2"


def test_roles_rank() -> None:
    R = access.Role
    assert access.role_allows(R.ADMIN, R.EDITOR)
    assert access.role_allows(R.EDITOR, R.EDITOR)
    assert not access.role_allows(R.VIEWER, R.EDITOR)
    assert access.can_edit("editor")
    assert not access.can_edit("viewer")
    assert not access.can_edit(None)
    assert access.can_edit(None, system_admin=True)


def test_schema_messages_say_what_to_do() -> None:
    behind = schema.SchemaState(url="sqlite:///x", current=None, head="0002", status=schema.SchemaStatus.BEHIND)
    assert behind.message.endswith("run `airpool db upgrade`")
    ahead = schema.SchemaState(url="sqlite:///x", current="ffff", head="0002", status=schema.SchemaStatus.AHEAD)
    assert "newer airpool" in ahead.message
    assert "ffff" in ahead.message


def test_session_ttl_from_environment() -> None:
    from airpool.domain.errors import ConfigError
    from airpool.services import platform

    assert platform.session_ttl({}) == platform.SESSION_TTL_SECONDS
    assert platform.session_ttl({platform.ENV_SESSION_TTL: "5"}) == 5
    for bad in ("0", "-3", "1h", "1.5"):
        with pytest.raises(ConfigError, match="AIRPOOL_SESSION_TTL_SECONDS"):
            platform.session_ttl({platform.ENV_SESSION_TTL: bad})
