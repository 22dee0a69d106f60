"""The namespace pool: claiming, releasing, syncing with the configuration, health, and what users are offered.

Every state change is a compare-and-set UPDATE (``WHERE name = :n AND state = :expected``) whose row count is
checked, so concurrent requests and server replicas never both win: on PostgreSQL the second UPDATE waits for the
first to commit and then re-checks its WHERE clause; on SQLite writers are serialised (``BEGIN IMMEDIATE``).
``version`` grows with every change. Allowed moves are ``airpool.domain.pool.TRANSITIONS``.

Invariants (tests/integration/test_pool_properties.py): at most one holder per namespace, a holder exactly in
the held states, and the namespaces offered are the configured ones minus those claimed, releasing, retained,
misconfigured or retired.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from airpool.domain import names
from airpool.domain.errors import Conflict, InvalidInput, NotFound, PoolExhausted
from airpool.domain.pool import (
    FORCE_RELEASED,
    HELD_STATES,
    PENDING_CHECK,
    RETENTION_ENDED,
    NamespaceState,
    can_move,
)
from airpool.services import access, audit, metrics, views
from airpool.services.access import Actor
from airpool.services.platform import Platform
from airpool.store import models, sql

S = NamespaceState
P = models.PoolNamespace
NO_NAMESPACE = "no kubernetes namespaces are available"
#: Names per IN (...) list: far below SQLite's and PostgreSQL's bound-parameter limits.
_CHUNK = 1000


@dataclass(frozen=True)
class SyncReport:
    added: tuple[str, ...] = ()
    retired: tuple[str, ...] = ()
    returned: tuple[str, ...] = ()  # retired names that came back into the configuration
    retire_on_release: tuple[str, ...] = ()  # held names that left the configuration

    @property
    def changed(self) -> bool:
        return bool(self.added or self.retired or self.returned or self.retire_on_release)

    def describe(self, shown: int = 10) -> str:
        """One line for the log, whatever the pool's size: how many names each change concerns and the first
        ``shown`` of them, e.g. ``3000 added (ns-1, ns-2, ..., and 2990 more), 0 retired, 0 returned``."""

        def part(count_of: tuple[str, ...], what: str) -> str:
            if not count_of:
                return f"0 {what}"
            listed = ", ".join(count_of[:shown])
            more = f", and {len(count_of) - shown} more" if len(count_of) > shown else ""
            return f"{len(count_of)} {what} ({listed}{more})"

        parts = [part(self.added, "added"), part(self.retired, "retired"), part(self.returned, "returned")]
        if self.retire_on_release:
            parts.append(part(self.retire_on_release, "to retire when their Deployment is deleted"))
        return ", ".join(parts)


def move(s: Session, name: str, src: NamespaceState, dst: NamespaceState, *, at: datetime, **values: Any) -> bool:
    """One compare-and-set transition; True when this caller made it."""
    if not can_move(src, dst):
        raise AssertionError(f"pool namespace {name}: {src} -> {dst} is not an allowed transition")
    result = s.execute(
        sa.update(P)
        .where(P.name == name, P.state == src.value)
        .values(state=dst.value, state_since=at, version=P.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    return sql.rowcount(result) == 1


def is_pool_namespace(s: Session, name: str) -> bool:
    return s.scalar(sa.select(P.name).where(P.name == name)) is not None


# --- reads -------------------------------------------------------------------------------------------------------


def is_known(platform: Platform, name: str) -> bool:
    """Whether ``name`` is (or was) a pool namespace: the admin's namespace, never created or deleted by commander,
    even after it left the configuration."""
    with platform.db.read() as s:
        return is_pool_namespace(s, name)


def available_namespaces(platform: Platform, actor: Actor | None = None) -> list[str]:
    """The names offered to users right now, sorted (empty without a pool). Any signed-in user may ask."""
    del actor  # every signed-in user may see them; kept for symmetry with the other reads
    with platform.db.read() as s:
        stmt = sa.select(P.name).where(P.state == S.AVAILABLE.value).order_by(P.name)
        return list(s.execute(stmt).scalars().all())  # index-only scan of (state, name): ~4 ms for 10,000


def offered(
    platform: Platform, actor: Actor | None = None, *, search: str = "", take: int = 50
) -> tuple[int, list[str]]:
    """For a namespace picker: how many names are offered in all, and the first ``take`` of those containing
    ``search`` (case-insensitive), sorted. Any signed-in user may ask, as for ``available_namespaces``."""
    del actor
    take = max(1, min(take, PAGE_MAX))
    search = search.strip()[:253]
    with platform.db.read() as s:
        total = int(s.scalar(sa.select(sa.func.count()).select_from(P).where(P.state == S.AVAILABLE.value)) or 0)
        stmt = sa.select(P.name).where(P.state == S.AVAILABLE.value).order_by(P.name).limit(take)
        if search:
            stmt = stmt.where(sa.func.lower(P.name).like(_like(search), escape="\\"))
        return total, list(s.execute(stmt).scalars().all())


def is_offered(platform: Platform, name: str) -> bool:
    with platform.db.read() as s:
        return s.scalar(sa.select(P.name).where(P.name == name, P.state == S.AVAILABLE.value)) is not None


def _counts(s: Session) -> views.PoolCounts:
    by_state = dict.fromkeys(S, 0)
    for state, n in s.execute(sa.select(P.state, sa.func.count()).group_by(P.state)):
        by_state[S(state)] = int(n)
    next_at = s.scalar(sa.select(sa.func.min(P.releases_at)).where(P.state == S.RETAINED.value))
    return views.PoolCounts(by_state=by_state, next_release_at=next_at)


def counts(platform: Platform) -> views.PoolCounts:
    """Namespaces per state (metrics, health pages). No caller check: it reveals no names."""
    with platform.db.read() as s:
        return _counts(s)


def _namespace_rows(s: Session, stmt: sa.Select[Any]) -> list[views.NamespaceView]:
    """``stmt`` selects pool rows (``P``); this adds the holder's names (two outer joins) and builds the views."""
    joined = (
        stmt.add_columns(
            models.Deployment.release_name,
            models.Deployment.label,
            models.Deployment.workspace_id,
            models.Workspace.label,
        )
        .outerjoin(models.Deployment, models.Deployment.id == P.holder_id)
        .outerjoin(models.Workspace, models.Workspace.id == models.Deployment.workspace_id)
    )
    return [
        views.NamespaceView(
            name=ns.name,
            state=S(ns.state),
            holder_id=ns.holder_id,
            holder_release_name=release,
            in_config=ns.in_config,
            state_since=ns.state_since,
            releases_at=ns.releases_at,
            health_reason=ns.health_reason,
            holder_label=label,
            holder_workspace_id=ws_id,
            holder_workspace_label=ws_label,
        )
        for ns, release, label, ws_id, ws_label in s.execute(joined)
    ]


def status(platform: Platform, actor: Actor) -> list[views.NamespaceView]:
    """Every pool namespace with state, holder, since, releases_at and health reason. System admins only."""
    access.require_system_admin(actor)
    with platform.db.read() as s:
        return _namespace_rows(s, sa.select(P).order_by(P.name))


#: Sort keys of ``status_page``: column, and the name as the tie-breaker (a stable order across pages).
SORTS = {"name": P.name, "state": P.state, "since": P.state_since}
#: Most rows one page returns.
PAGE_MAX = 1000


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def status_page(
    platform: Platform,
    actor: Actor,
    *,
    states: Iterable[NamespaceState | str] = (),
    search: str = "",
    sort: str = "name",
    descending: bool = False,
    skip: int = 0,
    take: int | None = None,
) -> views.NamespacePage:
    """One page of the pool for an admin: filtered by state and by a piece of the name (case-insensitive),
    sorted by name, state or since (ties by name), ``skip`` rows left out and at most ``take`` returned
    (1..1000; None: all). ``total`` counts every row the filter matches, so a pager can say how many pages.
    Every bad argument is an ``InvalidInput`` naming it and what is allowed."""
    access.require_system_admin(actor)
    chosen: list[str] = []
    for state in states:
        try:
            chosen.append(S(state).value)
        except ValueError:
            allowed = ", ".join(s.value for s in S)
            shown = access.shown(str(state), 40)
            raise InvalidInput(f"state {shown} is not a pool state; allowed: {allowed}") from None
    if sort not in SORTS:
        raise InvalidInput(f"sort {access.shown(sort, 40)} is not allowed; allowed: {', '.join(SORTS)}")
    if skip < 0:
        raise InvalidInput(f"skip must be 0 or more (got {skip})")
    if take is not None and not 1 <= take <= PAGE_MAX:
        raise InvalidInput(f"take must be between 1 and {PAGE_MAX} (got {take})")
    search = search.strip()
    if len(search) > 253:
        raise InvalidInput(f"search is {len(search)} characters long; at most 253 are allowed")
    where: list[sa.ColumnElement[bool]] = []
    if chosen:
        where.append(P.state.in_(sorted(set(chosen))))
    if search:
        where.append(sa.func.lower(P.name).like(_like(search), escape="\\"))
    column = SORTS[sort]
    order: list[sa.ColumnElement[Any]] = [column.desc() if descending else column.asc()]
    if sort != "name":
        order.append(P.name.desc() if descending else P.name.asc())
    with platform.db.read() as s:
        total = int(s.scalar(sa.select(sa.func.count()).select_from(P).where(*where)) or 0)
        stmt = sa.select(P).where(*where).order_by(*order).offset(skip)
        if take is not None:
            stmt = stmt.limit(take)
        rows = _namespace_rows(s, stmt)
        counts = _counts(s)
    return views.NamespacePage(total=total, namespaces=tuple(rows), counts=counts)


def status_of(platform: Platform, actor: Actor, name: str) -> views.NamespaceView:
    """One pool namespace as ``status`` shows it."""
    access.require_system_admin(actor)
    with platform.db.read() as s:
        found = _namespace_rows(s, sa.select(P).where(P.name == name))
    if not found:
        raise NotFound(f"namespace {access.shown(name)} is not in the namespace pool")
    return found[0]


# --- claim (called by services.deployments.create inside its transaction) ----------------------------------------


class PoolEmpty(PoolExhausted):
    """The empty-pool error, with its figures as attributes (the UI shows them apart from the message)."""

    def __init__(self, message: str, *, counts: views.PoolCounts) -> None:
        super().__init__(message)
        self.counts = counts
        self.next_release_at = counts.next_release_at


def _utc(moment: datetime) -> str:
    """The RFC 3339 form the API shows everywhere (``2026-11-24T05:00:00Z``), so messages and fields agree."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def exhausted_error(s: Session) -> PoolEmpty:
    c = _counts(s)
    parts = (
        f"{c[S.CLAIMED]} claimed, {c[S.RELEASING]} being released, {c[S.RETAINED]} retained, "
        f"{c[S.MISCONFIGURED]} misconfigured"
    )
    msg = f"{NO_NAMESPACE} in the namespace pool ({parts})"
    if c.next_release_at is not None:
        msg += f"; the next retained namespace returns at {_utc(c.next_release_at)}"
    elif c[S.RELEASING]:
        msg += "; the ones being released return as soon as commander has removed their Deployments' objects"
    elif c[S.CLAIMED]:
        msg += "; delete a Deployment to return its namespace to the pool"
    else:
        msg += "; a platform admin can see why each namespace is unusable with `airpool pool status`"
    return PoolEmpty(msg, counts=c)


def exhausted_message(platform: Platform) -> str | None:
    """The empty-pool message when a pool is configured and nothing is available, else None (UI forms)."""
    if platform.config.pool is None:
        return None
    with platform.db.read() as s:
        if s.scalar(sa.select(P.name).where(P.state == S.AVAILABLE.value).limit(1)) is not None:
            return None
        return exhausted_error(s).message


def _unavailable_reason(row: models.PoolNamespace) -> str:
    state = S(row.state)
    if state is S.CLAIMED:
        return "it is used by another Deployment"
    if state is S.RELEASING:
        why = f" ({row.health_reason})" if row.health_reason else ""
        return (
            f"it is being released after its Deployment {row.holder_id} was deleted{why}; it returns as soon as "
            "commander has removed that Deployment's objects (a system admin can retry with `airpool deployment "
            f"retry {row.holder_id}` or give the removal up with `airpool pool release --force {row.name}`)"
        )
    if state is S.RETAINED:
        when = _utc(row.releases_at) if row.releases_at else "the next cleanup"
        return f"it is retained after a soft delete until {when}"
    if state is S.MISCONFIGURED:
        return f"it is misconfigured: {row.health_reason or 'commander cannot use it'}"
    if state is S.RETIRED:
        return "it was removed from the configured namespace pool"
    return "it was just taken by another request"


def claim(s: Session, *, deployment_id: str, namespace: str | None, at: datetime) -> str:
    """Claim ``namespace`` (or the first available one) for ``deployment_id``; returns the name.

    Raises ``PoolExhausted`` (with counts) or ``Conflict``/``InvalidInput`` naming the namespace and why."""
    values = {"holder_id": deployment_id, "releases_at": None}
    if namespace is None:
        # One statement: pick the first available name and claim it. On PostgreSQL concurrent pickers skip each
        # other's locked rows (SKIP LOCKED) instead of queueing on the same one; SQLite writers are serialised.
        first = sa.select(P.name).where(P.state == S.AVAILABLE.value).order_by(P.name).limit(1)
        if s.get_bind().dialect.name == "postgresql":
            first = first.with_for_update(skip_locked=True)
        claimed = s.scalar(
            sa.update(P)
            .where(P.name == first.scalar_subquery(), P.state == S.AVAILABLE.value)
            .values(state=S.CLAIMED.value, state_since=at, version=P.version + 1, **values)
            .returning(P.name)
            .execution_options(synchronize_session=False)
        )
        if claimed is not None:
            return str(claimed)
        metrics.CLAIMS_REFUSED.inc()
        raise exhausted_error(s)
    if move(s, namespace, S.AVAILABLE, S.CLAIMED, at=at, **values):
        return namespace
    row = s.get(P, namespace)
    free = list(s.execute(sa.select(P.name).where(P.state == S.AVAILABLE.value).order_by(P.name)).scalars())
    if row is None:
        raise InvalidInput(
            f"namespace {namespace!r} is not in the namespace pool; {names.choices_hint(namespace, free)}"
        )
    if not free:
        metrics.CLAIMS_REFUSED.inc()
    hint = names.choices_hint(namespace, free, typo=False)
    raise Conflict(f"namespace {namespace!r} is not available: {_unavailable_reason(row)}; {hint}")


# --- release (delete and commander's uninstall completion) -------------------------------------------------------


def start_release(s: Session, *, deployment_id: str, namespace: str, at: datetime) -> bool:
    """claimed -> releasing for the Deployment's namespace; False when it is not a pool namespace it holds."""
    result = s.execute(
        sa.update(P)
        .where(P.name == namespace, P.state == S.CLAIMED.value, P.holder_id == deployment_id)
        .values(state=S.RELEASING.value, state_since=at, version=P.version + 1)
        .execution_options(synchronize_session=False)
    )
    return sql.rowcount(result) == 1


def after_uninstall(
    s: Session,
    platform: Platform,
    *,
    dep: models.Deployment,
    hard: bool,
    now: datetime,
    not_offerable: str | None = None,
) -> None:
    """releasing -> available (hard), retained (soft), or retired (name left the configuration, hard).

    ``not_offerable``: commander's check right before the namespace would be offered again found it unfit (an
    object of another Deployment, a lost permission): it waits in ``misconfigured`` with that reason instead, and
    the health check offers it once fixed."""
    row = s.get(P, dep.namespace, with_for_update=True)
    if row is None or row.holder_id != dep.id or row.state != S.RELEASING.value:
        return
    if not hard:
        move(s, row.name, S.RELEASING, S.RETAINED, at=now, releases_at=dep.releases_at, health_reason="")
        return
    dst = S.AVAILABLE if row.in_config else S.RETIRED
    reason = ""
    if dst is S.AVAILABLE and not_offerable:
        dst, reason = S.MISCONFIGURED, not_offerable
    move(s, row.name, S.RELEASING, dst, at=now, holder_id=None, releases_at=None, health_reason=reason)
    dep.active_namespace = None


def finish_retention(s: Session, *, name: str, at: datetime, due_before: datetime | None) -> str | None:
    """retained -> misconfigured (``RETENTION_ENDED``; retired when the name left the configuration): the final
    step of a soft delete. The caller queues commander's purge of the kept data (``cleanup.finalize_deployment``);
    the namespace is offered once commander's check finds it clean, never on this move's word. Returns the former
    holder's id when this caller made the move (``due_before`` None: an admin's early release, whatever
    ``releases_at`` says)."""
    row = s.get(P, name)
    if row is None or row.state != S.RETAINED.value:
        return None
    dst = S.MISCONFIGURED if row.in_config else S.RETIRED
    q = (
        sa.update(P)
        .where(P.name == name, P.state == S.RETAINED.value, P.version == row.version)
        .values(
            state=dst.value,
            state_since=at,
            version=P.version + 1,
            holder_id=None,
            releases_at=None,
            health_reason=RETENTION_ENDED if dst is S.MISCONFIGURED else "",
        )
        .execution_options(synchronize_session=False)
    )
    if due_before is not None:
        q = q.where(P.releases_at <= due_before)
    if sql.rowcount(s.execute(q)) != 1:
        return None
    return row.holder_id


# --- configuration sync and health -------------------------------------------------------------------------------


def sync(platform: Platform) -> SyncReport:
    """Make the pool table follow the configured names (start-up and reload). Safe to run on every replica.

    New and returning names wait in ``misconfigured`` (``PENDING_CHECK``) until commander's health check has verified
    its access there: a namespace is never offered on the configuration's word alone.

    Set operations: one read of (name, state, in_config), then a handful of multi-row statements (inserts, and
    compare-and-set UPDATEs over chunks of names, each keeping its ``WHERE state = ...``), however large the pool;
    a sync that finds nothing to change writes nothing."""
    configured = set(platform.config.pool.names) if platform.config.pool else set()
    now = platform.now()
    with platform.db.write() as s:
        existing = {
            name: (S(state), in_config) for name, state, in_config in s.execute(sa.select(P.name, P.state, P.in_config))
        }
        new = sorted(configured - existing.keys())
        sql.insert_ignore(
            s,
            P,
            [
                {
                    "name": n,
                    "state": S.MISCONFIGURED.value,
                    "in_config": True,
                    "state_since": now,
                    "version": 1,
                    "health_reason": PENDING_CHECK,
                    "created_at": now,
                }
                for n in new
            ],
        )
        came_back = sorted(n for n, (state, _) in existing.items() if n in configured and state is S.RETIRED)
        back_in = sorted(
            n for n, (state, inc) in existing.items() if n in configured and state is not S.RETIRED and not inc
        )
        gone = {n: row for n, row in existing.items() if n not in configured}
        left = sorted(n for n, (_, inc) in gone.items() if inc)
        to_retire = {
            src: sorted(n for n, (state, _) in gone.items() if state is src) for src in (S.AVAILABLE, S.MISCONFIGURED)
        }
        returned = _bulk_move(
            s, came_back, S.RETIRED, S.MISCONFIGURED, at=now, in_config=True, health_reason=PENDING_CHECK
        )
        _bulk_set(s, back_in, in_config=True)
        _bulk_set(s, left, in_config=False)
        retired = sorted(
            name
            for src, names in to_retire.items()
            for name in _bulk_move(s, names, src, S.RETIRED, at=now, in_config=False)
        )
        on_release = sorted(n for n, (state, _) in gone.items() if state in HELD_STATES)
        report = SyncReport(
            added=tuple(new), retired=tuple(retired), returned=tuple(returned), retire_on_release=tuple(on_release)
        )
        if new or retired or returned:
            audit.record(
                s,
                actor=audit.SYSTEM,
                action="pool.sync",
                target_kind="pool",
                target_id="pool",
                detail={"added": new, "retired": retired, "returned": list(returned)},
                at=now,
            )
        return report


def _bulk_move(
    s: Session, names: list[str], src: NamespaceState, dst: NamespaceState, *, at: datetime, **values: Any
) -> list[str]:
    """``move`` for many names at once (chunks of ``_CHUNK``); returns the names this caller moved, sorted."""
    if not can_move(src, dst):
        raise AssertionError(f"pool namespaces: {src} -> {dst} is not an allowed transition")
    moved: list[str] = []
    for i in range(0, len(names), _CHUNK):
        result = s.execute(
            sa.update(P)
            .where(P.name.in_(names[i : i + _CHUNK]), P.state == src.value)
            .values(state=dst.value, state_since=at, version=P.version + 1, **values)
            .returning(P.name)
            .execution_options(synchronize_session=False)
        )
        moved += result.scalars().all()
    return sorted(moved)


def _bulk_set(s: Session, names: list[str], **values: Any) -> None:
    for i in range(0, len(names), _CHUNK):
        s.execute(
            sa.update(P)
            .where(P.name.in_(names[i : i + _CHUNK]))
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def note(s: Session, name: str, *, reason: str) -> None:
    """Record why a namespace is stuck (e.g. its uninstall failed) without changing its state."""
    s.execute(sa.update(P).where(P.name == name).values(health_reason=reason))


def health_targets(platform: Platform) -> list[str]:
    """Configured namespaces commander should health-check now: the available and the misconfigured ones."""
    with platform.db.read() as s:
        stmt = (
            sa.select(P.name)
            .where(P.in_config.is_(True), P.state.in_([S.AVAILABLE.value, S.MISCONFIGURED.value]))
            .order_by(P.name)
        )
        return list(s.execute(stmt).scalars().all())


@dataclass(frozen=True)
class HealthTarget:
    name: str
    state: NamespaceState
    health_reason: str


def health_plan(platform: Platform) -> list[HealthTarget]:
    """``health_targets`` with each namespace's state and recorded reason (commander decides how deep to check)."""
    with platform.db.read() as s:
        stmt = (
            sa.select(P.name, P.state, P.health_reason)
            .where(P.in_config.is_(True), P.state.in_([S.AVAILABLE.value, S.MISCONFIGURED.value]))
            .order_by(P.name)
        )
        return [HealthTarget(name, S(state), reason) for name, state, reason in s.execute(stmt)]


def record_health_many(platform: Platform, verdicts: Iterable[tuple[str, bool, str]]) -> dict[str, NamespaceState]:
    """A whole health pass's verdicts ``(name, ok, reason)`` in one transaction; returns the namespaces that moved
    and their new state. Set operations: namespaces making the same move with the same reason move in one
    compare-and-set UPDATE per chunk, their audit events go in one multi-row INSERT, and rows whose state and
    reason stay as they are are not written at all, so a pass that finds nothing new costs one read."""
    wanted = {name: (ok, "" if ok else (reason or "health check failed")) for name, ok, reason in verdicts}
    if not wanted:
        return {}
    now = platform.now()
    moved: dict[str, NamespaceState] = {}
    with platform.db.write() as s:
        names = sorted(wanted)
        rows = [
            row
            for i in range(0, len(names), _CHUNK)
            for row in s.execute(
                sa.select(P.name, P.state, P.in_config, P.health_reason).where(P.name.in_(names[i : i + _CHUNK]))
            )
        ]
        moves: dict[tuple[NamespaceState, NamespaceState, str], list[str]] = {}
        notes: dict[tuple[str, str], list[str]] = {}
        for name, raw_state, in_config, old_reason in rows:
            ok, reason = wanted[name]
            state = S(raw_state)
            if state is S.AVAILABLE and not ok:
                moves.setdefault((state, S.MISCONFIGURED, reason), []).append(name)
            elif state is S.MISCONFIGURED and ok and in_config:
                moves.setdefault((state, S.AVAILABLE, reason), []).append(name)
            elif old_reason != reason:
                notes.setdefault((raw_state, reason), []).append(name)
        events = []
        for (src, dst, reason), group in moves.items():
            for name in _bulk_move(s, group, src, dst, at=now, health_reason=reason):
                moved[name] = dst
                events.append(
                    {
                        "at": now,
                        "actor": audit.SYSTEM,
                        "action": f"pool.{dst.value}",
                        "target_kind": "namespace",
                        "target_id": name,
                        "workspace_id": None,
                        "detail": {"reason": reason},
                    }
                )
        for (raw_state, reason), group in notes.items():
            for i in range(0, len(group), _CHUNK):
                s.execute(
                    sa.update(P)
                    .where(P.name.in_(group[i : i + _CHUNK]), P.state == raw_state)
                    .values(health_reason=reason)
                    .execution_options(synchronize_session=False)
                )
        for i in range(0, len(events), _CHUNK):
            s.execute(sa.insert(models.AuditEvent).values(events[i : i + _CHUNK]))
    return moved


def awaiting_first_check(platform: Platform) -> list[str]:
    """Configured namespaces commander has not verified yet (new or returning names), sorted."""
    with platform.db.read() as s:
        stmt = (
            sa.select(P.name)
            .where(P.in_config.is_(True), P.state == S.MISCONFIGURED.value, P.health_reason == PENDING_CHECK)
            .order_by(P.name)
        )
        return list(s.execute(stmt).scalars().all())


def record_health(platform: Platform, name: str, *, ok: bool, reason: str = "") -> NamespaceState:
    """Commander's verdict on a pool namespace: available <-> misconfigured; other states only keep the reason."""
    now = platform.now()
    with platform.db.write() as s:
        row = s.get(P, name)
        if row is None:
            raise NotFound(f"namespace {name!r} is not in the namespace pool")
        state = S(row.state)
        reason = "" if ok else (reason or "health check failed")
        if state is S.AVAILABLE and not ok:
            dst: NamespaceState | None = S.MISCONFIGURED
        elif state is S.MISCONFIGURED and ok and row.in_config:
            dst = S.AVAILABLE
        else:
            dst = None
        if dst is not None and move(s, name, state, dst, at=now, health_reason=reason):
            audit.record(
                s,
                actor=audit.SYSTEM,
                action=f"pool.{dst.value}",
                target_kind="namespace",
                target_id=name,
                detail={"reason": reason},
                at=now,
            )
            return dst
        s.execute(sa.update(P).where(P.name == name).values(health_reason=reason))
        return S(s.scalar(sa.select(P.state).where(P.name == name)) or state)


def release_early(platform: Platform, actor: Actor, name: str, *, force: bool = False) -> views.NamespaceView:
    """An admin returns a namespace to the pool now. A retained one: the soft-deleted Deployment is finalized.
    A releasing one, with ``force``: the admin gives up on commander removing its Deployment's objects (the
    Deployment is finalized, its uninstall cancelled); the namespace waits in ``misconfigured`` until commander's
    health check found it holds nothing of any Deployment, and is offered then."""
    from airpool.services import cleanup, commander_jobs

    access.require_system_admin(actor)
    now = platform.now()
    with platform.db.write() as s:
        row = s.get(P, name)
        if row is None:
            raise NotFound(f"namespace {name!r} is not in the namespace pool")
        if row.state == S.RELEASING.value and force:
            holder = row.holder_id
            dst = S.MISCONFIGURED if row.in_config else S.RETIRED
            if not move(
                s, name, S.RELEASING, dst, at=now, holder_id=None, releases_at=None, health_reason=FORCE_RELEASED
            ):
                raise Conflict(f"namespace {name!r} changed while releasing it; try again")
            if holder is not None:
                s.execute(
                    sa.update(models.CommanderJob)
                    .where(
                        models.CommanderJob.deployment_id == holder,
                        models.CommanderJob.kind == commander_jobs.JobKind.UNINSTALL.value,
                        models.CommanderJob.state.in_(["queued", "running", "failed"]),
                    )
                    .values(state="cancelled", finished_at=now, updated_at=now, lease_owner=None)
                    .execution_options(synchronize_session=False)
                )
                dep = s.get(models.Deployment, holder)
                if dep is not None:
                    dep.active_namespace = None
                    dep.status = "deleted"
                    s.flush()
                cleanup.finalize_deployment(s, deployment_id=holder, at=now)
            action = "pool.force_release"
        elif row.state == S.RELEASING.value:
            raise Conflict(
                f"namespace {name!r} is releasing, not retained: commander is removing the objects of its deleted "
                f"Deployment ({row.health_reason or 'in progress'}). It retries by itself; `airpool deployment "
                f"retry {row.holder_id}` retries now, `airpool pool release --force {name}` gives up on the removal "
                "(the namespace is offered once commander's check finds it holds nothing of any Deployment)"
            )
        elif row.state != S.RETAINED.value:
            raise Conflict(
                f"namespace {name!r} is {row.state}, not retained: only a retained namespace can be released early"
                + ("" if row.state != S.CLAIMED.value else "; delete its Deployment first")
            )
        else:
            holder = finish_retention(s, name=name, at=now, due_before=None)
            if holder is None:
                raise Conflict(f"namespace {name!r} changed while releasing it; try again")
            cleanup.finalize_deployment(s, deployment_id=holder, at=now)
            action = "pool.release_early"
        audit.record(
            s,
            actor=actor.username,
            action=action,
            target_kind="namespace",
            target_id=name,
            detail={"deployment_id": holder},
            at=now,
        )
    return status_of(platform, actor, name)
