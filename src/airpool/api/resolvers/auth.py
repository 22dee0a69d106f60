"""Logging in and signing up: ``authConfig``, ``createToken``, ``createUser``/``signup``, ``self``, API tokens."""

from __future__ import annotations

from typing import Any

from ariadne import MutationType, ObjectType, QueryType

from airpool.api import auth as auth_header
from airpool.api.resolvers.common import Info, caller, ctx, platform
from airpool.services import auth, sso
from airpool.services.views import UserView

query = QueryType()
mutation = MutationType()
user_type = ObjectType("User")


def _auth_user(info: Info, result: auth.LoginResult) -> dict[str, Any]:
    """Houston's ``AuthUser``: the user and the token with its decoded payload."""
    exp = int(result.expires_at.timestamp())
    iat = exp - platform(info).session_ttl_seconds
    return {
        "user": result.user,
        "token": {"value": result.token, "payload": {"id": result.user.id, "iat": iat, "exp": exp}},
    }


@query.field("authConfig")
def resolve_auth_config(
    _: Any, info: Info, *, redirect: str | None = None, duration: int | None = None
) -> dict[str, Any]:
    found = auth.auth_config(platform(info))
    base = sso.base_url(platform(info), ctx(info).base_url)
    return {
        "local_enabled": found.local_enabled,
        "public_signup": found.public_signup,
        "initial_signup": found.initial_signup,
        "providers": sso.providers(platform(info), base_url=base, next_path=sso.local_path(redirect)),
    }


@query.field("self")
def resolve_self(_: Any, info: Info) -> UserView:
    return auth.me(platform(info), caller(info))


@mutation.field("createToken")
def resolve_create_token(
    _: Any, info: Info, *, password: str, identity: str | None = None, duration: int | None = None
) -> dict[str, Any]:
    return _auth_user(
        info, auth.login(platform(info), username=identity or "", password=password, client=ctx(info).client)
    )


@mutation.field("signup")
def resolve_signup(_: Any, info: Info, *, username: str, password: str, full_name: str | None = None) -> dict[str, Any]:
    return _auth_user(
        info, auth.signup(platform(info), username=username, password=password, full_name=full_name or "")
    )


@mutation.field("createUser")
def resolve_create_user(
    _: Any,
    info: Info,
    *,
    email: str,
    password: str,
    username: str | None = None,
    invite_token: str | None = None,
    profile: Any = None,
) -> dict[str, Any]:
    """Houston's sign-up. On an empty installation anybody signs up (and becomes system admin), whatever token
    the client still carries; afterwards only a system admin creates accounts, and gets the new user's first
    token back as Houston does. Without a token, the services answer "sign-up is closed"."""
    plat = platform(info)
    name = (username or email).strip()
    full_name = str(profile.get("fullName", "")) if isinstance(profile, dict) else ""
    if auth.auth_config(plat).initial_signup or auth_header.token_from_headers(ctx(info).headers) is None:
        return _auth_user(info, auth.signup(plat, username=name, password=password, full_name=full_name))
    auth.create_user(plat, caller(info), username=name, password=password, full_name=full_name)
    return _auth_user(info, auth.login(plat, username=name, password=password, client=ctx(info).client))


@mutation.field("createApiToken")
def resolve_create_api_token(_: Any, info: Info, *, label: str, expires_in_days: int | None = None) -> dict[str, Any]:
    view, secret = auth.create_api_token(platform(info), caller(info), label=label, expires_in_days=expires_in_days)
    return {"id": view.id, "label": view.label, "value": secret, "expires_at": view.expires_at}


@query.field("apiTokens")
def resolve_api_tokens(_: Any, info: Info) -> list[auth.ApiTokenView]:
    return auth.list_api_tokens(platform(info), caller(info))


@mutation.field("revokeApiToken")
def resolve_revoke_api_token(_: Any, info: Info, *, id: str) -> auth.ApiTokenView:
    return auth.revoke_api_token(platform(info), caller(info), id)


@query.field("sessions")
def resolve_sessions(_: Any, info: Info) -> list[auth.SessionView]:
    return auth.list_sessions(platform(info), caller(info))


@mutation.field("logout")
def resolve_logout(_: Any, info: Info) -> bool:
    return auth.logout(platform(info), caller(info))


@mutation.field("revokeSession")
def resolve_revoke_session(_: Any, info: Info, *, id: str) -> auth.SessionView:
    return auth.revoke_session(platform(info), caller(info), id)


@mutation.field("unblockLogin")
def resolve_unblock_login(_: Any, info: Info, *, username: str) -> bool:
    return auth.unblock_login(platform(info), caller(info), username=username)


@user_type.field("emails")
def resolve_emails(user: UserView, _: Info) -> list[dict[str, Any]]:
    if "@" not in user.username:
        return []
    return [{"address": user.username, "verified": True, "primary": True}]


BINDABLES = (query, mutation, user_type)
