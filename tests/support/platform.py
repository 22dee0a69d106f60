"""Build a real ``Platform`` (migrated database, pool synced) for service-level tests, with a clock tests move."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from airpool.config.model import DeploymentSettings, PlatformConfig, PoolSettings, PoolSource
from airpool.services import auth, platform, pool, schema
from tests.support import fake_nodes


class Clock:
    """A settable clock: tests move time forward instead of sleeping (retention, leases, token expiry)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.value = start or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.value

    def advance(self, **delta: float) -> datetime:
        self.value += timedelta(**delta)
        return self.value


def config(
    *,
    pool_names: tuple[str, ...] | None = None,
    hard_delete: bool = False,
    free_form: bool = False,
    retention_days: int = 14,
) -> PlatformConfig:
    pool_settings = (
        PoolSettings(names=pool_names, create_namespaces=True, create_rbac=True, source=PoolSource.STANDARD)
        if pool_names is not None
        else None
    )
    return PlatformConfig(
        airflow=fake_nodes.AIRFLOW,
        pool=pool_settings,
        deployments=DeploymentSettings(hard_delete=hard_delete, free_form=free_form),
        retention_days=retention_days,
    )


def make(
    url: str, cfg: PlatformConfig | None = None, *, clock: Callable[[], datetime] | None = None
) -> platform.Platform:
    """A migrated database with the pool synced and verified, as ``airpool serve`` and commander prepare it."""
    schema.upgrade(url)
    p = platform.connect(cfg or config(), url=url, clock=clock or Clock())
    pool.sync(p)
    pass_first_check(p)
    return p


def pass_first_check(p: platform.Platform) -> None:
    """Play commander's first health check: every namespace waiting for one is found usable. Tests without a
    cluster call this explicitly; with commander running, its health check does it."""
    pool.record_health_many(p, [(name, True, "") for name in pool.awaiting_first_check(p)])


def with_pool(p: platform.Platform, names: tuple[str, ...]) -> pool.SyncReport:
    """Reload the configuration with another pool (as a values.yaml change would) and sync."""
    current = p.config.pool
    settings = (
        dataclasses.replace(current, names=names)
        if current
        else PoolSettings(names=names, create_namespaces=True, create_rbac=True, source=PoolSource.STANDARD)
    )
    p.config = dataclasses.replace(p.config, pool=settings)
    report = pool.sync(p)
    pass_first_check(p)
    return report


def admin(p: platform.Platform, username: str = "admin") -> auth.Actor:
    """Sign up the first user (system admin) and return them as an Actor."""
    result = auth.signup(p, username=username, password="correct horse battery")
    return auth.authenticate(p, result.token)
