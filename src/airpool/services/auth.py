"""Users, passwords, session tokens and API tokens.

- Passwords: argon2id (argon2-cffi defaults); hashes are upgraded on login when the parameters change.
- Session tokens: itsdangerous-signed ``{"u": user id}`` with a timestamp, valid ``Platform.session_ttl_seconds``.
  The signing key is generated once per installation and kept in the database, so every replica accepts every
  replica's tokens and restarts do not sign everybody out.
- API tokens (automation): ``ap_`` + 43 random characters; only their SHA-256 is stored (the secret has 256 bits
  of entropy, so a slow hash adds nothing). They act as the user who made them, until revoked or expired.
- Sign-up: only the first user of an empty installation signs up alone, and becomes system admin. The race of
  two "first" sign-ups is settled by inserting the ``first-admin`` marker row: whoever inserts it wins, the other
  gets "sign-up is closed". After that, system admins create accounts (``create_user``).
"""

from __future__ import annotations

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
    return AuthConfig(local_enabled=True, public_signup=False, initial_signup=not has_users)


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
    token = _serializer(platform).dumps({"u": user.id})
    return LoginResult(
        user=user, token=token, expires_at=platform.now() + timedelta(seconds=platform.session_ttl_seconds)
    )


def login(platform: Platform, *, username: str, password: str) -> LoginResult:
    """Houston's ``createToken``. The error never says whether the user exists."""
    bad = Unauthenticated("invalid username or password")
    with platform.db.read() as s:
        user = s.scalar(sa.select(models.User).where(models.User.username == username.strip()))
    if user is None or not user.password_hash or user.status != "active":
        _hasher.hash(password)  # same cost either way: no user-enumeration by timing
        raise bad
    try:
        _hasher.verify(user.password_hash, password)
    except argon2.exceptions.VerificationError:
        raise bad from None
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
    if not isinstance(user_id, str):
        raise Unauthenticated("malformed or invalid token")
    with platform.db.read() as s:
        user = s.get(models.User, user_id)
        if user is None or user.status != "active":
            raise Unauthenticated("the user of this token no longer exists or is disabled")
        return access.actor_for_user(s, user)


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
        return access.actor_for_user(s, user)


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
    "Role",
    "TokenExpired",
    "auth_config",
    "authenticate",
    "create_api_token",
    "create_user",
    "ensure_admin_from_env",
    "list_api_tokens",
    "login",
    "me",
    "revoke_api_token",
    "signup",
]
