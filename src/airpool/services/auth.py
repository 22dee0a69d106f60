"""Users, passwords, session tokens and API tokens.

- Passwords: argon2id (argon2-cffi defaults); hashes are upgraded on login when the parameters change.
- Session tokens: itsdangerous-signed ``{"u": user id, "s": session id}`` with a timestamp, valid
  ``Platform.session_ttl_seconds``. The signing key is generated once per installation and kept in the database,
  so every replica accepts every replica's tokens and restarts do not sign everybody out. The signature alone is
  not enough: the session row must exist and not be revoked, so ``logout`` (the UI's log-out button, the CLI's
  ``airpool logout``) and ``revoke_session`` end a token everywhere at once.
- Failed log-ins are throttled per account and per client address (``LoginThrottle`` rows, shared by replicas):
  after ``ACCOUNT_FREE_FAILURES`` (per client ``CLIENT_FREE_FAILURES``) failures in a row, the key is blocked for
  ``BLOCK_BASE`` doubling with each further failure up to ``BLOCK_MAX``; a blocked attempt is refused before the
  password is checked (so guessing stops, and costs nothing). A successful log-in clears the account's and the
  client's counters; a system admin clears an account's with ``unblock_login``.
- API tokens (automation): ``ap_`` + 43 random characters; only their SHA-256 is stored (the secret has 256 bits
  of entropy, so a slow hash adds nothing). They act as the user who made them, until revoked or expired.
- Sign-up: only the first user of an empty installation signs up alone, and becomes system admin. The race of
  two "first" sign-ups is settled by inserting the ``first-admin`` marker row: whoever inserts it wins, the other
  gets "sign-up is closed". After that, system admins create accounts (``create_user``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import argon2
import itsdangerous
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from airpool.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from airpool.services import access, audit, service_accounts, views
from airpool.services.access import Actor, Role
from airpool.services.platform import Platform
from airpool.store import models, sql

API_TOKEN_PREFIX = "ap_"
#: Ten years; a longer lifetime is a typo (and far dates overflow the calendar).
API_TOKEN_MAX_DAYS = 3650
USERNAME_MAX = 255
PASSWORD_MIN = 8
ENV_ADMIN_USERNAME = "AIRPOOL_ADMIN_USERNAME"
ENV_ADMIN_PASSWORD = "AIRPOOL_ADMIN_PASSWORD"
_SIGNING_KEY = "token-signing-key"
_FIRST_ADMIN = "first-admin"
_SALT = "airpool-session"
_SERIALIZER = "token-serializer"
_hasher = argon2.PasswordHasher()


ACCOUNT_FREE_FAILURES = 5
CLIENT_FREE_FAILURES = 20
BLOCK_BASE = timedelta(seconds=30)
BLOCK_MAX = timedelta(minutes=15)
#: Failures older than this (counted from the first of a run) no longer count.
FAILURE_WINDOW = timedelta(hours=1)


class LoginThrottled(Unauthenticated):
    """Too many failed log-ins for an account or from a client: refused until ``until``, password unchecked."""

    code = "LOGIN_THROTTLED"


class TokenExpired(Unauthenticated):
    """A well-formed token past its lifetime: the client should log in again."""

    code = "TOKEN_EXPIRED"


@dataclass(frozen=True)
class AuthConfig:
    local_enabled: bool
    public_signup: bool
    #: True while the installation has no user: the next sign-up creates the system admin.
    initial_signup: bool


@dataclass(frozen=True)
class LoginResult:
    user: views.UserView
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class ApiTokenView:
    id: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


# --- queries -----------------------------------------------------------------------------------------------------


def auth_config(platform: Platform) -> AuthConfig:
    with platform.db.read() as s:
        has_users = s.scalar(sa.select(models.User.id).limit(1)) is not None
    return AuthConfig(
        local_enabled=platform.config.auth.local_enabled, public_signup=False, initial_signup=not has_users
    )


def _require_local(platform: Platform) -> None:
    if not platform.config.auth.local_enabled:
        names = ", ".join(p.display_name for p in platform.config.auth.providers)
        raise Forbidden(
            "log-in with a username and password is disabled on this installation "
            f"(astronomer.houston.config.auth.local.enabled: false); log in with {names}"
        )


def me(platform: Platform, actor: Actor) -> views.UserView:
    with platform.db.read() as s:
        row = s.get(models.User, actor.user_id)
        if row is None:
            raise Unauthenticated("the user of this token no longer exists")
        return views.UserView.of(row)


# --- accounts ----------------------------------------------------------------------------------------------------


def _check_credentials(username: str, password: str) -> str:
    username = username.strip()
    if not username:
        raise InvalidInput("username must not be empty")
    if len(username) > USERNAME_MAX:
        raise InvalidInput(f"username is {len(username)} characters long; at most {USERNAME_MAX} are allowed")
    if any(c.isspace() for c in username):
        raise InvalidInput(f"username {username!r} must not contain spaces")
    if len(password) < PASSWORD_MIN:
        raise InvalidInput(f"password must be at least {PASSWORD_MIN} characters long")
    return username


def _insert_user(
    s: Session, platform: Platform, *, username: str, password_hash: str, full_name: str, system_admin: bool
) -> models.User:
    """Hash before the transaction (argon2 takes tens of milliseconds; SQLite writers wait meanwhile)."""
    if s.scalar(sa.select(models.User.id).where(models.User.username == username)) is not None:
        raise Conflict(f"username {username!r} is already taken")
    now = platform.now()
    user = models.User(
        id=str(uuid.uuid4()),
        username=username,
        full_name=full_name.strip(),
        password_hash=password_hash,
        is_system_admin=system_admin,
        created_at=now,
        updated_at=now,
    )
    s.add(user)
    s.flush()
    return user


def _default_workspace(s: Session, platform: Platform, user: models.User) -> None:
    """Every self-made account starts with a workspace of its own, so ``astro deployment create`` just works."""
    from airpool.services import workspaces as ws_service

    ws_service.insert(s, platform, owner=user, label=f"{user.full_name or user.username}'s Workspace", description="")


def signup(platform: Platform, *, username: str, password: str, full_name: str = "") -> LoginResult:
    """First user of an empty installation: becomes system admin with a default workspace, and is logged in."""
    _require_local(platform)
    username = _check_credentials(username, password)
    hashed = _hasher.hash(password)
    with platform.db.write() as s:
        won = sql.insert_ignore(s, models.PlatformSecret, [{"name": _FIRST_ADMIN, "value": username}])
        if not won:
            raise Forbidden("sign-up is closed on this installation: ask a system admin to create your account")
        user = _insert_user(
            s, platform, username=username, password_hash=hashed, full_name=full_name, system_admin=True
        )
        _default_workspace(s, platform, user)
        audit.record(s, actor=username, action="user.signup", target_kind="user", target_id=user.id, at=platform.now())
        view = views.UserView.of(user)
    return _session_for(platform, view)


def create_user(
    platform: Platform,
    actor: Actor,
    *,
    username: str,
    password: str,
    full_name: str = "",
    system_admin: bool = False,
) -> views.UserView:
    """A system admin creates an account (no workspace: add it to one with ``workspaces.add_member``)."""
    access.require_system_admin(actor)
    username = _check_credentials(username, password)
    hashed = _hasher.hash(password)
    try:
        with platform.db.write() as s:
            user = _insert_user(
                s, platform, username=username, password_hash=hashed, full_name=full_name, system_admin=system_admin
            )
            audit.record(
                s, actor=actor.username, action="user.create", target_kind="user", target_id=user.id, at=platform.now()
            )
            return views.UserView.of(user)
    except IntegrityError:
        raise Conflict(f"username {username!r} is already taken") from None


def ensure_admin_from_env(platform: Platform, environ: Mapping[str, str] | None = None) -> views.UserView | None:
    """At start-up: create the system admin named by AIRPOOL_ADMIN_USERNAME/PASSWORD unless that user exists.

    Returns the new user, or None when the variables are unset or the user already exists (its password is not
    changed: the variables start an installation off, they do not manage it)."""
    env = os.environ if environ is None else environ
    username, password = env.get(ENV_ADMIN_USERNAME, ""), env.get(ENV_ADMIN_PASSWORD, "")
    if not username and not password:
        return None
    if not username or not password:
        raise InvalidInput(f"set both {ENV_ADMIN_USERNAME} and {ENV_ADMIN_PASSWORD}, or neither")
    username = _check_credentials(username, password)
    hashed = _hasher.hash(password)
    try:
        with platform.db.write() as s:
            if s.scalar(sa.select(models.User.id).where(models.User.username == username)) is not None:
                return None
            sql.insert_ignore(s, models.PlatformSecret, [{"name": _FIRST_ADMIN, "value": username}])
            user = _insert_user(s, platform, username=username, password_hash=hashed, full_name="", system_admin=True)
            _default_workspace(s, platform, user)
            audit.record(
                s, actor=audit.SYSTEM, action="user.create", target_kind="user", target_id=user.id, at=platform.now()
            )
            return views.UserView.of(user)
    except (IntegrityError, Conflict):
        return None  # another replica created the same admin at the same moment


# --- sessions ----------------------------------------------------------------------------------------------------


def signing_key(platform: Platform) -> str:
    """The installation's secret, shared by every replica. Other signers (the UI's cookie) must use their own
    itsdangerous salt so their tokens never pass for session tokens."""
    return _signing_key(platform)


def _signing_key(platform: Platform) -> str:
    key = platform.cache.get(_SIGNING_KEY)
    if key is None:
        with platform.db.write() as s:
            sql.insert_ignore(s, models.PlatformSecret, [{"name": _SIGNING_KEY, "value": secrets.token_urlsafe(48)}])
            key = s.scalar(sa.select(models.PlatformSecret.value).where(models.PlatformSecret.name == _SIGNING_KEY))
        platform.cache[_SIGNING_KEY] = key
    assert isinstance(key, str)
    return key


#: Derived signing keys by (secret, salt, derivation): itsdangerous derives the key again on every sign and
#: check, and builds a new signer per call; the derivation is a pure function of these three, so it is done once.
_DERIVED: dict[tuple[bytes, bytes, str], bytes] = {}


class _ClockSigner(itsdangerous.TimestampSigner):
    """Reads time from the platform clock, so token expiry follows the same clock as everything else, and derives
    its key once per process instead of once per request."""

    def __init__(self, *args: Any, clock: Callable[[], datetime], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock().timestamp())

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        raw = self.secret_keys[-1] if secret_key is None else itsdangerous.encoding.want_bytes(secret_key)
        memo = (raw, self.salt, self.key_derivation)
        key = _DERIVED.get(memo)
        if key is None:
            key = _DERIVED[memo] = super().derive_key(raw)
        return key


def _serializer(platform: Platform) -> itsdangerous.URLSafeTimedSerializer:
    """One serializer per platform and key (built once: the signing key is read once per process)."""
    key = _signing_key(platform)
    cached = platform.cache.get(_SERIALIZER)
    if cached is None or cached[0] != key or cached[1] is not platform.clock:  # a copied Platform shares its cache
        made = itsdangerous.URLSafeTimedSerializer(
            key, salt=_SALT, signer=_ClockSigner, signer_kwargs={"clock": platform.clock}
        )
        cached = platform.cache[_SERIALIZER] = (key, platform.clock, made)
    serializer: itsdangerous.URLSafeTimedSerializer = cached[2]
    return serializer


def _session_for(platform: Platform, user: views.UserView) -> LoginResult:
    """A new session row and its signed token."""
    now = platform.now()
    expires = now + timedelta(seconds=platform.session_ttl_seconds)
    row = models.AuthSession(id=str(uuid.uuid4()), user_id=user.id, created_at=now, expires_at=expires)
    with platform.db.write() as s:
        s.add(row)
    token = _serializer(platform).dumps({"u": user.id, "s": row.id})
    return LoginResult(user=user, token=token, expires_at=expires)


def start_session(platform: Platform, user: views.UserView) -> LoginResult:
    """A new session for a user whom another way of logging in vouched for (single sign-on, the ``/token`` page
    that hands the astro CLI a token of its own)."""
    return _session_for(platform, user)


def _throttle_keys(username: str, client: str | None) -> list[tuple[str, int]]:
    keys = [(f"user:{username.strip()[:USERNAME_MAX]}", ACCOUNT_FREE_FAILURES)]
    if client:
        keys.append((f"client:{client[:60]}", CLIENT_FREE_FAILURES))
    return keys


def _check_throttle(platform: Platform, username: str, client: str | None) -> None:
    now = platform.now()
    keys = dict(_throttle_keys(username, client))
    with platform.db.read() as s:
        rows = s.scalars(sa.select(models.LoginThrottle).where(models.LoginThrottle.key.in_(keys)))
        blocked = [(r.key, r.blocked_until) for r in rows if r.blocked_until is not None and r.blocked_until > now]
    if not blocked:
        return
    key, until = max(blocked, key=lambda item: item[1])
    wait = max(1, int((until - now).total_seconds() + 0.999))
    stamp = until.strftime("%Y-%m-%dT%H:%M:%SZ")
    if key.startswith("user:"):
        raise LoginThrottled(
            f"too many failed log-ins for this account: try again in {wait} s (after {stamp}); every further "
            "failure doubles the wait. A system admin can lift the block at once "
            f"(`airpool user unblock {key[5:]}`)."
        )
    raise LoginThrottled(
        f"too many failed log-ins from your address: try again in {wait} s (after {stamp}); every further "
        "failure doubles the wait."
    )


def _record_failure(platform: Platform, username: str, client: str | None) -> None:
    now = platform.now()
    with platform.db.write() as s:
        for key, free in _throttle_keys(username, client):
            sql.insert_ignore(s, models.LoginThrottle, [{"key": key, "failures": 0, "first_failure_at": now}])
            row = s.get(models.LoginThrottle, key, with_for_update=True)
            assert row is not None
            if row.first_failure_at < now - FAILURE_WINDOW and (row.blocked_until is None or row.blocked_until < now):
                row.failures, row.first_failure_at = 0, now
            row.failures += 1
            if row.failures >= free:
                block = min(BLOCK_MAX, BLOCK_BASE * 2 ** min(row.failures - free, 16))
                row.blocked_until = now + block


def _clear_failures(platform: Platform, keys: list[str]) -> None:
    with platform.db.write() as s:
        s.execute(sa.delete(models.LoginThrottle).where(models.LoginThrottle.key.in_(keys)))


def unblock_login(platform: Platform, actor: Actor, *, username: str) -> bool:
    """A system admin lifts an account's log-in block (and forgets its failures); True when there was one."""
    access.require_system_admin(actor)
    key = f"user:{username.strip()}"
    with platform.db.write() as s:
        found = sql.rowcount(s.execute(sa.delete(models.LoginThrottle).where(models.LoginThrottle.key == key)))
        audit.record(
            s, actor=actor.username, action="user.unblock", target_kind="user", target_id=key[5:], at=platform.now()
        )
    return found > 0


def login(platform: Platform, *, username: str, password: str, client: str | None = None) -> LoginResult:
    """Houston's ``createToken``. The error never says whether the user exists. ``client``: the caller's address,
    for throttling failed log-ins per client as well as per account (see module docstring)."""
    _require_local(platform)
    bad = Unauthenticated("invalid username or password")
    if "\x00" in username:
        raise InvalidInput("username must not contain the character U+0000 (NUL); remove it")
    _check_throttle(platform, username, client)
    with platform.db.read() as s:
        user = s.scalar(sa.select(models.User).where(models.User.username == username.strip()))
    if user is None or not user.password_hash or user.status != "active":
        _hasher.hash(password)  # same cost either way: no user-enumeration by timing
        _record_failure(platform, username, client)
        raise bad
    try:
        _hasher.verify(user.password_hash, password)
    except argon2.exceptions.VerificationError:
        _record_failure(platform, username, client)
        raise bad from None
    _clear_failures(platform, [key for key, _ in _throttle_keys(username, client)])
    if _hasher.check_needs_rehash(user.password_hash):
        rehashed = _hasher.hash(password)
        with platform.db.write() as s:
            s.execute(sa.update(models.User).where(models.User.id == user.id).values(password_hash=rehashed))
    return _session_for(platform, views.UserView.of(user))


def _bare(token: str | None) -> str:
    token = (token or "").strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    return token


def authenticate(platform: Platform, token: str | None) -> Actor:
    """The caller behind a session or API token (``Bearer`` prefix accepted).

    Raises ``Unauthenticated`` for a missing, malformed, revoked or unknown token, ``TokenExpired`` for an
    expired one."""
    raw = _bare(token)
    if not raw:
        raise Unauthenticated("missing token: log in first")
    if raw.startswith(API_TOKEN_PREFIX):
        return _api_token_actor(platform, raw)
    if raw.startswith(service_accounts.KEY_PREFIX):
        return service_accounts.authenticate(platform, raw)
    try:
        data = _serializer(platform).loads(raw, max_age=platform.session_ttl_seconds)
    except itsdangerous.SignatureExpired:
        raise TokenExpired("token expired: log in again") from None
    except itsdangerous.BadData:
        raise Unauthenticated("malformed or invalid token") from None
    user_id = data.get("u") if isinstance(data, dict) else None
    session_id = data.get("s") if isinstance(data, dict) else None
    if not isinstance(user_id, str):
        raise Unauthenticated("malformed or invalid token")
    if not isinstance(session_id, str):
        raise Unauthenticated("this token was issued before sessions could be revoked: log in again")
    with platform.db.query() as conn:
        rows = conn.execute(_SESSION_CALLER, {"session_id": session_id, "user_id": user_id}).all()
    if not rows:
        raise Unauthenticated("this session no longer exists: log in again")
    username, is_system_admin, status, revoked_at, _ = rows[0]
    if revoked_at is not None:
        raise Unauthenticated("this session was logged out or revoked: log in again")
    if status != "active":
        raise Unauthenticated("the user of this token no longer exists or is disabled")
    actor = access.actor_of(user_id, username, is_system_admin=is_system_admin, system_roles=(row[4] for row in rows))
    return dataclasses.replace(actor, session_id=session_id)


def _session_caller() -> sa.Select[Any]:
    """Everything ``authenticate`` needs about a session token's caller in ONE statement (a round trip per API
    request): the user, the session's revocation and, one row each, the system roles of the user's teams. Built
    once: a statement object executed again skips SQLAlchemy's compilation and cache-key work."""
    U, AS = models.User, models.AuthSession
    system_roles = (
        sa.select(models.TeamMember.user_id, models.TeamRoleBinding.role)
        .join(models.TeamRoleBinding, models.TeamRoleBinding.team_id == models.TeamMember.team_id)
        .where(models.TeamRoleBinding.scope == access.Scope.SYSTEM.value)
        .subquery("system_roles")
    )
    return (
        sa.select(U.username, U.is_system_admin, U.status, AS.revoked_at, system_roles.c.role)
        .select_from(AS)
        .join(U, U.id == AS.user_id)
        .outerjoin(system_roles, system_roles.c.user_id == U.id)
        .where(AS.id == sa.bindparam("session_id"), U.id == sa.bindparam("user_id"))
    )


_SESSION_CALLER = _session_caller()


@dataclass(frozen=True)
class SessionView:
    id: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    current: bool


def logout(platform: Platform, actor: Actor) -> bool:
    """End what the caller authenticated with: its session, or the API token it used. True when it was live."""
    now = platform.now()
    with platform.db.write() as s:
        if actor.session_id is not None:
            target: Any = s.get(models.AuthSession, actor.session_id)
            kind = "session"
        elif actor.api_token_id is not None:
            target = s.get(models.ApiToken, actor.api_token_id)
            kind = "api_token"
        else:
            return False
        if target is None or target.revoked_at is not None:
            return False
        target.revoked_at = now
        audit.record(s, actor=actor.username, action=f"{kind}.logout", target_kind=kind, target_id=target.id, at=now)
    return True


def logout_token(platform: Platform, token: str | None) -> bool:
    """``logout`` for a raw token (the UI's cookie); a token that no longer authenticates has nothing to end."""
    try:
        actor = authenticate(platform, token)
    except Unauthenticated:
        return False
    return logout(platform, actor)


def list_sessions(platform: Platform, actor: Actor) -> list[SessionView]:
    """The caller's sessions that still work (not revoked, not expired), newest first."""
    now = platform.now()
    with platform.db.read() as s:
        rows = s.scalars(
            sa.select(models.AuthSession)
            .where(
                models.AuthSession.user_id == actor.user_id,
                models.AuthSession.revoked_at.is_(None),
                models.AuthSession.expires_at > now,
            )
            .order_by(models.AuthSession.created_at.desc())
        )
        return [
            SessionView(
                id=r.id,
                created_at=r.created_at,
                expires_at=r.expires_at,
                revoked_at=r.revoked_at,
                current=r.id == actor.session_id,
            )
            for r in rows
        ]


def revoke_session(platform: Platform, actor: Actor, session_id: str) -> SessionView:
    """End one of the caller's sessions (a system admin: anybody's). Revoking twice is not an error."""
    now = platform.now()
    with platform.db.write() as s:
        row = s.get(models.AuthSession, session_id)
        if row is None or (row.user_id != actor.user_id and not actor.is_system_admin):
            raise NotFound(f"session {access.shown(session_id)} not found")
        if row.revoked_at is None:
            row.revoked_at = now
            audit.record(
                s, actor=actor.username, action="session.revoke", target_kind="session", target_id=row.id, at=now
            )
        return SessionView(
            id=row.id,
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            current=row.id == actor.session_id,
        )


# --- API tokens --------------------------------------------------------------------------------------------------


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _api_token_actor(platform: Platform, raw: str) -> Actor:
    now = platform.now()
    with platform.db.read() as s:
        row = s.execute(
            sa.select(models.ApiToken, models.User)
            .join(models.User, models.User.id == models.ApiToken.user_id)
            .where(models.ApiToken.token_hash == _digest(raw))
        ).first()
        if row is None:
            raise Unauthenticated("unknown API token")
        tok, user = row
        if tok.revoked_at is not None:
            raise Unauthenticated("API token was revoked")
        if tok.expires_at is not None and tok.expires_at <= now:
            raise TokenExpired("API token expired: create a new one")
        if user.status != "active":
            raise Unauthenticated("the user of this token is disabled")
        return dataclasses.replace(access.actor_for_user(s, user), api_token_id=tok.id)


def create_api_token(
    platform: Platform, actor: Actor, *, label: str, expires_in_days: int | None = None
) -> tuple[ApiTokenView, str]:
    """A new API token for the caller. The secret is returned once and never stored."""
    access.require_user(actor)
    label = label.strip()
    if not label or len(label) > 255:
        raise InvalidInput("API token label must be 1 to 255 characters")
    if expires_in_days is not None and not 1 <= expires_in_days <= API_TOKEN_MAX_DAYS:
        raise InvalidInput(
            f"expiresInDays must be between 1 and {API_TOKEN_MAX_DAYS} (ten years), or left out for a token that "
            f"does not expire (got {expires_in_days})"
        )
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = platform.now()
    row = models.ApiToken(
        id=str(uuid.uuid4()),
        user_id=actor.user_id,
        label=label,
        token_hash=_digest(secret),
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    with platform.db.write() as s:
        s.add(row)
        audit.record(
            s, actor=actor.username, action="api_token.create", target_kind="api_token", target_id=row.id, at=now
        )
    return _token_view(row), secret


def _token_view(row: models.ApiToken) -> ApiTokenView:
    return ApiTokenView(
        id=row.id,
        label=row.label,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def list_api_tokens(platform: Platform, actor: Actor) -> list[ApiTokenView]:
    with platform.db.read() as s:
        rows = s.scalars(
            sa.select(models.ApiToken)
            .where(models.ApiToken.user_id == actor.user_id)
            .order_by(models.ApiToken.created_at)
        )
        return [_token_view(r) for r in rows]


def revoke_api_token(platform: Platform, actor: Actor, token_id: str) -> ApiTokenView:
    now = platform.now()
    with platform.db.write() as s:
        row = s.get(models.ApiToken, token_id)
        if row is None or (row.user_id != actor.user_id and not actor.is_system_admin):
            raise NotFound(f"API token {access.shown(token_id)} not found")
        if row.revoked_at is None:
            row.revoked_at = now
            audit.record(
                s, actor=actor.username, action="api_token.revoke", target_kind="api_token", target_id=row.id, at=now
            )
        return _token_view(row)


__all__ = [
    "Actor",
    "ApiTokenView",
    "AuthConfig",
    "LoginResult",
    "LoginThrottled",
    "Role",
    "SessionView",
    "TokenExpired",
    "auth_config",
    "authenticate",
    "create_api_token",
    "create_user",
    "ensure_admin_from_env",
    "list_api_tokens",
    "list_sessions",
    "login",
    "logout",
    "logout_token",
    "me",
    "revoke_api_token",
    "revoke_session",
    "signup",
    "unblock_login",
]
