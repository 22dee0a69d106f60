"""Single sign-on with OpenID Connect: the authorization-code flow with PKCE, and the account it logs in.

The flow, as the UI runs it:

1. ``begin`` makes a fresh ``state``, ``nonce`` and PKCE verifier, and the provider's authorization URL (from its
   discovery document). The caller keeps the returned ``Flow`` where only this browser can present it again (the
   UI's signed session cookie), so any server replica can finish it.
2. The provider sends the browser back to ``<public URL>/v1/oauth/redirect/`` with ``code`` and ``state`` (or an
   ``error``). ``finish`` checks the state (constant time) and the flow's age, redeems the code at the token
   endpoint with the verifier (and the client secret, for a confidential client), and verifies the ID token:
   signature against the provider's JWKS (asymmetric algorithms only; the JWKS is fetched again once when a
   token names an unknown key, so a key rotation needs no restart), issuer, audience (and ``azp`` when there are
   several), expiry and issued-at with ``clockTolerance``, and the nonce.
3. ``login_with_claims`` finds the user by (provider, ``sub``); on first login it links an existing account with
   the same verified e-mail, or creates one (username = e-mail; the first user of an empty installation becomes
   system admin, as with sign-up). With ``idpGroupsImportEnabled`` the groups claim sets the user's
   identity-provider teams (``teams.sync_from_groups``). It ends with a session token like ``createToken``'s.

Every failure is a ``SsoFailed`` whose message says what went wrong and what to check, shown on an error page
(never a traceback). Discovery documents and JWKS are cached per process for ``CACHE_SECONDS``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import sqlalchemy as sa

from airpool.config import auth as auth_config
from airpool.config.model import OidcProvider
from airpool.domain.errors import AirpoolError
from airpool.services import audit, auth, teams, views
from airpool.services.platform import Platform
from airpool.store import models, sql

if TYPE_CHECKING:
    import jwt

#: The path the provider sends the browser back to (Houston's redirect URI, so Astronomer's IdP guides apply).
REDIRECT_PATH = "/v1/oauth/redirect/"
#: A log-in that takes longer than this between leaving and coming back is refused (start again).
FLOW_MAX_AGE = timedelta(minutes=10)
CACHE_SECONDS = 3600
HTTP_TIMEOUT = 10.0
#: Asymmetric signatures only: a symmetric (HS*) ID token would be signed with the client secret, which airpool
#: may not even have, and accepting it invites algorithm confusion.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
_FIRST_ADMIN = "first-admin"


class SsoFailed(AirpoolError):
    """A single sign-on that could not complete; the message names the cause and what to check."""

    code = "SSO_FAILED"

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _upstream(message: str) -> SsoFailed:
    """The identity provider (or its configuration) is at fault, not the user: 502."""
    return SsoFailed(message, status=502)


@dataclass(frozen=True)
class Flow:
    """What the browser carries between leaving for the provider and coming back (never shown to anybody else)."""

    provider: str
    state: str
    nonce: str
    verifier: str
    redirect_uri: str
    #: Where to go after logging in (a local path).
    next: str
    #: When the flow started, seconds since the epoch.
    started: float

    def dump(self) -> dict[str, Any]:
        return {
            "p": self.provider,
            "s": self.state,
            "n": self.nonce,
            "v": self.verifier,
            "r": self.redirect_uri,
            "x": self.next,
            "t": self.started,
        }

    @classmethod
    def load(cls, data: object) -> Flow | None:
        if not isinstance(data, Mapping):
            return None
        try:
            return cls(
                provider=str(data["p"]),
                state=str(data["s"]),
                nonce=str(data["n"]),
                verifier=str(data["v"]),
                redirect_uri=str(data["r"]),
                next=str(data["x"]),
                started=float(data["t"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class ProviderView:
    """What ``authConfig.providers`` shows: the name, the button's text and the URL that starts the log-in."""

    name: str
    display_name: str
    url: str


@dataclass(frozen=True)
class Identity:
    """The verified claims of one ID token that airpool uses."""

    provider: str
    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str
    groups: tuple[str, ...] | None


# --- configuration --------------------------------------------------------------------------------------------


def providers(platform: Platform, *, base_url: str, next_path: str = "/") -> list[ProviderView]:
    """The enabled providers, each with the URL that starts its log-in on this server."""
    query = urlencode({"next": next_path}) if next_path != "/" else ""
    return [
        ProviderView(
            name=p.name,
            display_name=p.display_name,
            url=f"{base_url.rstrip('/')}/oauth/start/{p.name}" + (f"?{query}" if query else ""),
        )
        for p in platform.config.auth.providers
    ]


def _provider(platform: Platform, name: str) -> OidcProvider:
    found = platform.config.auth.provider(name)
    if found is None:
        enabled = ", ".join(p.name for p in platform.config.auth.providers) or "none"
        raise SsoFailed(
            f"there is no enabled OpenID Connect provider named {name!r}; enabled: {enabled} "
            f"(configured under {auth_config.OIDC}.<name>)",
            status=404,
        )
    return found


# --- talking to the provider --------------------------------------------------------------------------------


def _get_json(url: str, *, what: str) -> dict[str, Any]:
    import httpx  # here, not at the top: importing httpx costs a tenth of a second at every serve start

    try:
        response = httpx.get(url, timeout=HTTP_TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise _upstream(f"cannot reach the identity provider's {what} at {url}: {exc}") from None
    if response.status_code != 200:
        raise _upstream(
            f"the identity provider's {what} at {url} answered HTTP {response.status_code}; "
            "check the provider's discoveryUrl"
        )
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise _upstream(f"the identity provider's {what} at {url} is not a JSON object")
    return data


def _cached(platform: Platform, key: str, fetch: Any, *, refresh: bool = False) -> Any:
    hit = platform.cache.get(key)
    if hit is not None and not refresh and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    value = fetch()
    platform.cache[key] = (time.monotonic(), value)
    return value


def discovery(platform: Platform, provider: OidcProvider) -> dict[str, Any]:
    """The provider's discovery document, checked: its issuer must be the URL it was fetched from (OpenID Connect
    Discovery 1.0, section 4.3), and it must name the endpoints the code flow needs."""

    def fetch() -> dict[str, Any]:
        doc = _get_json(provider.discovery_url, what="discovery document")
        issuer = doc.get("issuer")
        if not isinstance(issuer, str) or auth_config.discovery_url(issuer) != provider.discovery_url:
            raise _upstream(
                f"the discovery document at {provider.discovery_url} names the issuer {issuer!r}, which does not "
                "match the URL it was fetched from; set discoveryUrl to the issuer's own URL"
            )
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(doc.get(field), str):
                raise _upstream(f"the discovery document at {provider.discovery_url} has no {field}")
        return doc

    result: dict[str, Any] = _cached(platform, f"oidc:{provider.name}:discovery", fetch)
    return result


def _jwks(platform: Platform, provider: OidcProvider, uri: str, *, refresh: bool) -> jwt.PyJWKSet:
    def fetch() -> jwt.PyJWKSet:
        import jwt

        data = _get_json(uri, what="key set (JWKS)")
        try:
            return jwt.PyJWKSet.from_dict(data)
        except jwt.PyJWTError as exc:
            raise _upstream(f"the identity provider's key set at {uri} holds no usable key: {exc}") from None

    result: jwt.PyJWKSet = _cached(platform, f"oidc:{provider.name}:jwks", fetch, refresh=refresh)
    return result


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def begin(platform: Platform, provider_name: str, *, redirect_uri: str, next_path: str = "/") -> tuple[str, Flow]:
    """The provider's authorization URL to send the browser to, and the flow to keep until it comes back."""
    provider = _provider(platform, provider_name)
    doc = discovery(platform, provider)
    flow = Flow(
        provider=provider.name,
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        verifier=secrets.token_urlsafe(64),
        redirect_uri=redirect_uri,
        next=next_path,
        started=platform.now().timestamp(),
    )
    scope = "openid profile email" + (" groups" if platform.config.auth.groups_import else "")
    params = {"scope": scope, **dict(provider.auth_url_params)}
    params.update(
        client_id=provider.client_id,
        response_type="code",
        redirect_uri=redirect_uri,
        state=flow.state,
        nonce=flow.nonce,
        code_challenge=_b64(hashlib.sha256(flow.verifier.encode()).digest()),
        code_challenge_method="S256",
    )
    endpoint: str = doc["authorization_endpoint"]
    joiner = "&" if "?" in endpoint else "?"
    return f"{endpoint}{joiner}{urlencode(params)}", flow


_PROVIDER_ERRORS = {
    "access_denied": "the log-in was cancelled or refused at the identity provider",
    "unauthorized_client": "the identity provider does not allow airpool's client to log in this way",
    "invalid_request": "the identity provider refused the log-in request",
    "invalid_scope": "the identity provider refused the requested scopes (check the provider's authUrlParams.scope)",
    "server_error": "the identity provider failed",
    "temporarily_unavailable": "the identity provider is temporarily unavailable",
}


def finish(platform: Platform, flow: Flow | None, params: Mapping[str, str]) -> Identity:
    """Check what the provider sent back and redeem it; the verified identity."""
    if flow is None:
        raise SsoFailed(
            "this browser has no single sign-on in progress (the log-in was started in another browser, the cookie "
            "was lost, or it already finished); start again from the log-in page"
        )
    provider = _provider(platform, flow.provider)
    if "error" in params:
        error = params["error"]
        cause = _PROVIDER_ERRORS.get(error, "the identity provider refused the log-in")
        detail = params.get("error_description", "").strip()
        raise SsoFailed(f"{cause} ({error}{': ' + detail if detail else ''})")
    state = params.get("state", "")
    if not state or not hmac.compare_digest(state.encode(), flow.state.encode()):
        raise SsoFailed(
            "the answer from the identity provider does not belong to the log-in this browser started (state "
            "mismatch); start again from the log-in page"
        )
    started = datetime.fromtimestamp(flow.started, tz=UTC)
    if platform.now() - started > FLOW_MAX_AGE:
        minutes = int(FLOW_MAX_AGE.total_seconds() // 60)
        raise SsoFailed(f"the log-in took longer than {minutes} minutes; start again from the log-in page")
    code = params.get("code", "")
    if not code:
        raise SsoFailed("the identity provider sent no authorization code back")
    tokens = _redeem(platform, provider, flow, code)
    return _verify(platform, provider, flow, tokens)


def _redeem(platform: Platform, provider: OidcProvider, flow: Flow, code: str) -> dict[str, Any]:
    endpoint: str = discovery(platform, provider)["token_endpoint"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": flow.redirect_uri,
        "code_verifier": flow.verifier,
    }
    basic: tuple[str, str] | None = None
    if provider.client_secret is not None:
        basic = (provider.client_id, provider.client_secret)
    else:
        form["client_id"] = provider.client_id
    import httpx

    try:
        response = httpx.post(endpoint, data=form, auth=basic, timeout=HTTP_TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise _upstream(f"cannot reach the identity provider's token endpoint {endpoint}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        detail = body.get("error_description") if isinstance(body, dict) else None
        said = f" ({error}{': ' + detail if detail else ''})" if error else ""
        if error == "invalid_client" or response.status_code == 401:
            raise _upstream(
                f"the identity provider refused airpool's client credentials{said}: check "
                f"{auth_config.OIDC}.{provider.name}.clientId and the client secret "
                f"({auth_config.secret_env_name(provider.name)} or clientSecret)"
            )
        raise _upstream(
            f"the identity provider's token endpoint answered HTTP {response.status_code}{said}; start again "
            "from the log-in page"
        )
    if not isinstance(body.get("id_token"), str):
        raise _upstream("the identity provider's token answer has no ID token (is the scope openid granted?)")
    return body


def _verify(platform: Platform, provider: OidcProvider, flow: Flow, tokens: Mapping[str, Any]) -> Identity:
    doc = discovery(platform, provider)
    claims = verify_id_token(
        tokens["id_token"],
        key=lambda kid, algorithm: _signing_key(platform, provider, doc["jwks_uri"], kid, algorithm),
        issuer=doc["issuer"],
        client_id=provider.client_id,
        nonce=flow.nonce,
        now=platform.now().timestamp(),
        leeway=platform.config.auth.clock_tolerance,
    )
    return _identity(platform, provider, claims)


def verify_id_token(
    raw: str,
    *,
    key: Callable[[object, str], Any],
    issuer: str,
    client_id: str,
    nonce: str,
    now: float,
    leeway: int,
) -> dict[str, Any]:
    """The claims of ``raw`` once every check an ID token needs passed (no I/O but ``key``).

    ``key(kid, algorithm)`` returns the provider's public key for the token's header (or raises ``SsoFailed``)."""
    import jwt  # here, not at the top: jwt brings cryptography, which every serve start would import

    try:
        header = jwt.get_unverified_header(raw)
    except jwt.PyJWTError as exc:
        raise _upstream(f"the ID token is not a JSON Web Token: {exc}") from None
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise _upstream(
            f"the ID token is signed with {algorithm!r}; allowed: {', '.join(ALGORITHMS)} (asymmetric keys)"
        )
    try:
        claims: dict[str, Any] = jwt.decode(
            raw,
            key=key(header.get("kid"), algorithm),
            algorithms=[algorithm],
            audience=client_id,
            issuer=issuer,
            options={"require": ["iss", "sub", "aud", "exp", "iat"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.InvalidSignatureError:
        raise _upstream("the ID token's signature does not verify with the identity provider's keys") from None
    except jwt.InvalidAudienceError:
        raise _upstream(f"the ID token was issued for another client, not {client_id!r}") from None
    except jwt.InvalidIssuerError:
        raise _upstream(f"the ID token was issued by another issuer, not {issuer!r}") from None
    except jwt.PyJWTError as exc:
        raise _upstream(f"the ID token is not valid: {exc}") from None
    if not isinstance(claims["exp"], int | float) or now > claims["exp"] + leeway:
        raise _upstream(
            "the ID token has expired (check that this server's clock is right, or raise "
            f"{auth_config.OIDC}.clockTolerance)"
        )
    if not isinstance(claims["iat"], int | float) or claims["iat"] > now + leeway + 60:
        raise _upstream(
            "the ID token was issued in the future (this server's clock is behind the provider's; fix the clock "
            f"or raise {auth_config.OIDC}.clockTolerance)"
        )
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise _upstream("the ID token names several audiences but was not issued to airpool (azp)")
    said = claims.get("nonce")
    if not isinstance(said, str) or not hmac.compare_digest(said.encode(), nonce.encode()):
        raise _upstream("the ID token does not carry this log-in's nonce (a replayed token?); start again")
    return claims


def _signing_key(platform: Platform, provider: OidcProvider, uri: str, kid: object, algorithm: str) -> Any:
    for refresh in (False, True):
        keys = _jwks(platform, provider, uri, refresh=refresh)
        candidates = [k for k in keys.keys if (kid is None or k.key_id == kid) and k.key_type != "oct"]
        if kid is None and len(candidates) > 1:
            candidates = [k for k in candidates if k.algorithm_name == algorithm] or candidates[:1]
        if candidates:
            return candidates[0].key
    raise _upstream(f"the ID token names the key {kid!r}, which is not in the identity provider's key set")


def _identity(platform: Platform, provider: OidcProvider, claims: Mapping[str, Any]) -> Identity:
    email = claims.get(provider.email_claim)
    name = claims.get(provider.name_claim)
    groups: tuple[str, ...] | None = None
    if platform.config.auth.groups_import:
        raw_groups = claims.get(provider.groups_claim, [])
        if isinstance(raw_groups, str):
            raw_groups = [raw_groups]
        if not isinstance(raw_groups, list):
            raise _upstream(
                f"the ID token's {provider.groups_claim!r} claim is not a list of group names "
                f"(claimsMapping.groups names the claim)"
            )
        groups = tuple(str(g) for g in raw_groups if isinstance(g, str))
    return Identity(
        provider=provider.name,
        issuer=str(claims["iss"]),
        subject=str(claims["sub"]),
        email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
        email_verified=claims.get("email_verified") is True,
        name=name.strip() if isinstance(name, str) else "",
        groups=groups,
    )


# --- the account --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SsoLogin:
    login: auth.LoginResult
    created: bool
    teams: tuple[str, ...]


def login_with_claims(platform: Platform, identity: Identity) -> SsoLogin:
    """Find or create the user of ``identity``, sync its teams, and log it in."""
    now = platform.now()
    created = False
    team_names: tuple[str, ...] = ()
    with platform.db.write() as s:
        link = s.scalar(
            sa.select(models.UserIdentity).where(
                models.UserIdentity.provider == identity.provider, models.UserIdentity.subject == identity.subject
            )
        )
        user: models.User | None = s.get(models.User, link.user_id) if link is not None else None
        if link is None:
            if identity.email is None:
                email_claim = _provider(platform, identity.provider).email_claim
                raise SsoFailed(
                    f"the identity provider sent no e-mail address (claim {email_claim!r}); "
                    "airpool names accounts by e-mail: grant the email scope to airpool's client"
                )
            user = s.scalar(sa.select(models.User).where(models.User.username == identity.email))
            if user is not None and not identity.email_verified:
                raise SsoFailed(
                    f"an account named {identity.email} exists already, and the identity provider does not say the "
                    "address is verified (email_verified), so it is not linked; ask an administrator"
                )
            if user is None:
                first = sql.insert_ignore(s, models.PlatformSecret, [{"name": _FIRST_ADMIN, "value": identity.email}])
                user = models.User(
                    id=str(uuid.uuid4()),
                    username=identity.email,
                    full_name=identity.name[:255],
                    password_hash=None,
                    is_system_admin=bool(first),
                    created_at=now,
                    updated_at=now,
                )
                s.add(user)
                s.flush()
                created = True
                audit.record(
                    s, actor=user.username, action="user.sso.create", target_kind="user", target_id=user.id, at=now
                )
            link = models.UserIdentity(
                id=str(uuid.uuid4()),
                user_id=user.id,
                provider=identity.provider,
                subject=identity.subject,
                issuer=identity.issuer,
                created_at=now,
                last_login_at=now,
            )
            s.add(link)
        if user is None:  # the link's foreign key cascades with its user: only a concurrent delete gets here
            raise SsoFailed("the account was deleted while logging in; start again from the log-in page")
        if user.status != "active":
            raise SsoFailed(f"the account {user.username} is disabled; ask an administrator", status=403)
        link.last_login_at = now
        if identity.name and not user.full_name:
            user.full_name = identity.name[:255]
        if identity.groups is not None:
            team_names = tuple(teams.sync_from_groups(s, user_id=user.id, groups=identity.groups, at=now))
        audit.record(s, actor=user.username, action="user.sso.login", target_kind="user", target_id=user.id, at=now)
        view = views.UserView.of(user)
    return SsoLogin(login=auth.start_session(platform, view), created=created, teams=team_names)


def base_url(platform: Platform, request_base: str) -> str:
    """The server's URL for links handed out: the configured public URL, else the one the request came to."""
    return (platform.config.server.public_url or request_base).rstrip("/")


def redirect_uri(base: str) -> str:
    return base.rstrip("/") + REDIRECT_PATH


def local_path(target: str | None) -> str:
    """Only local paths: a ``next`` like ``//evil.example`` must not turn the log-in into an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
