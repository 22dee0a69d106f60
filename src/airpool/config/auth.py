"""``astronomer.houston.config.auth``: local accounts and the OpenID Connect providers, read as Houston reads them.

Houston keeps one mapping per provider under ``auth.openidConnect`` (``okta``, ``auth0``, ``microsoft``, ``google``
or any name) beside a few settings that are not providers (``clockTolerance``, ``flow``,
``idpGroupsImportEnabled``). A provider counts only with ``enabled: true``, as in Houston, so a values file can keep
a disabled provider's settings around. airpool always runs the authorization-code flow with PKCE, whatever
``flow`` says (Houston's default implicit flow hands tokens to the browser; it is warned about, not refused).

``discoveryUrl`` may be written as the issuer (Auth0's guide does) or as the full
``/.well-known/openid-configuration`` URL; it must be https, except on a loopback address (a provider run on the
same machine for testing).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from airpool.config import model
from airpool.config.reader import Reader, show

AUTH = "astronomer.houston.config.auth"
OIDC = f"{AUTH}.openidConnect"
WELL_KNOWN = "/.well-known/openid-configuration"
#: Keys under ``openidConnect`` that are settings, not providers.
SETTINGS = ("clockTolerance", "flow", "idpGroupsImportEnabled")
FLOWS = ("code", "implicit")
#: Houston's built-in provider names and how its log-in page shows them.
DISPLAY_NAMES = {
    "google": "Google",
    "github": "GitHub",
    "okta": "Okta",
    "auth0": "Auth0",
    "microsoft": "Microsoft",
    "adfs": "ADFS",
}
#: Houston ships Google's discovery URL; every other provider needs its own.
DEFAULT_DISCOVERY = {"google": "https://accounts.google.com/.well-known/openid-configuration"}
#: The environment variable Houston's chart fills from a Secret (``astronomer.houston.secret``) for a client secret.
SECRET_ENV = "AUTH__OPENID_CONNECT__{name}__CLIENT_SECRET"
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_CLAIM = re.compile(r"^[A-Za-z0-9_.:/-]{1,128}$")
#: A minute of skew is already generous; more hides a broken clock.
MAX_CLOCK_TOLERANCE = 300


def secret_env_name(provider: str) -> str:
    return SECRET_ENV.format(name=provider.upper().replace("-", "_"))


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def discovery_url(raw: str) -> str:
    """The full discovery document URL for what an admin wrote (issuer or discovery URL)."""
    raw = raw.strip()
    return raw if raw.rstrip("/").endswith(WELL_KNOWN) else raw.rstrip("/") + WELL_KNOWN


def read(reader: Reader) -> tuple[model.AuthSettings, list[str]]:
    """The auth settings and the warnings about them; problems go to ``reader``."""
    warnings: list[str] = []
    local = bool(reader.boolean(f"{AUTH}.local.enabled", True))
    tolerance = reader.integer(f"{OIDC}.clockTolerance", 0, minimum=0, maximum=MAX_CLOCK_TOLERANCE)
    groups_import = bool(reader.boolean(f"{OIDC}.idpGroupsImportEnabled", False))
    flows = {OIDC: _flow(reader, f"{OIDC}.flow")}
    providers: list[model.OidcProvider] = []
    section = reader.raw(OIDC) if reader.present(OIDC) else None
    if section is not None and not isinstance(section, Mapping):
        reader.bad_type(OIDC, section, "a mapping of provider names to their settings")
        section = None
    if isinstance(section, Mapping):
        for key in section:
            if key in SETTINGS:
                continue
            path = f"{OIDC}.{key}"
            if not isinstance(key, str) or not _NAME.match(key):
                reader.problem(
                    f"{OIDC}.{key if isinstance(key, str) else show(key)}",
                    "is not a provider name; allowed: lower-case letters, digits and '-', starting with a letter "
                    f"(or one of the settings {', '.join(SETTINGS)})",
                )
                continue
            value = section[key]
            if value is None:
                continue
            if not isinstance(value, Mapping):
                reader.bad_type(path, value, "a mapping with enabled, clientId, discoveryUrl, ...")
                continue
            if not reader.boolean(f"{path}.enabled", False):
                continue
            flows[path] = _flow(reader, f"{path}.flow")
            provider = _provider(reader, key, path)
            if provider is not None:
                providers.append(provider)
    for path, flow in flows.items():
        if flow == "implicit":
            warnings.append(
                f"{path}.flow: implicit is not used; airpool always logs in with the authorization-code flow and "
                "PKCE (register <public URL>/v1/oauth/redirect/ as the redirect URI)."
            )
    if not local and not providers:
        reader.problem(
            f"{AUTH}.local.enabled",
            "false leaves nobody a way to log in; allowed: true, or enable an OpenID Connect provider under "
            f"{OIDC}.<name> (enabled: true, clientId, discoveryUrl)",
        )
    if groups_import and not providers:
        warnings.append(f"{OIDC}.idpGroupsImportEnabled is true but no OpenID Connect provider is enabled.")
    return (
        model.AuthSettings(
            local_enabled=local, providers=tuple(providers), clock_tolerance=tolerance, groups_import=groups_import
        ),
        warnings,
    )


def _flow(reader: Reader, path: str) -> str | None:
    flow = reader.string(path, None)
    if flow is not None and flow not in FLOWS:
        reader.problem(path, f"{show(flow)} is not allowed; allowed: {', '.join(FLOWS)}")
        return None
    return flow


def _provider(reader: Reader, name: str, path: str) -> model.OidcProvider | None:
    client_id = reader.string(f"{path}.clientId", None)
    if client_id is None:
        reader.problem(f"{path}.clientId", "is required for an enabled provider: the client ID the provider issued")
    raw_url = reader.string(f"{path}.discoveryUrl", DEFAULT_DISCOVERY.get(name))
    url: str | None = None
    if raw_url is None:
        reader.problem(
            f"{path}.discoveryUrl",
            "is required for an enabled provider: the provider's issuer or its "
            f"{WELL_KNOWN} URL, e.g. https://login.example.com{WELL_KNOWN}",
        )
    else:
        parts = urlsplit(raw_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            reader.problem(f"{path}.discoveryUrl", f"{show(raw_url)} is not an http(s) URL")
        elif parts.scheme == "http" and not is_loopback(parts.hostname):
            reader.problem(
                f"{path}.discoveryUrl",
                f"{show(raw_url)} must use https (plain http is allowed only on a loopback address, for testing)",
            )
        else:
            url = discovery_url(raw_url)
    params = reader.string_map(f"{path}.authUrlParams")
    for reserved in ("client_id", "redirect_uri", "response_type", "state", "nonce", "code_challenge"):
        if reserved in params:
            reader.problem(f"{path}.authUrlParams.{reserved}", "is set by airpool itself and may not be overridden")
    claims = {}
    for claim, default in (("email", "email"), ("name", "name"), ("groups", "groups")):
        value = reader.string(f"{path}.claimsMapping.{claim}", default)
        if not _CLAIM.match(value):
            reader.problem(f"{path}.claimsMapping.{claim}", f"{show(value)} is not a claim name")
            value = default
        claims[claim] = value
    display = reader.string(f"{path}.displayName", DISPLAY_NAMES.get(name, name.replace("-", " ").title()))
    secret = reader.string(f"{path}.clientSecret", None)
    if client_id is None or url is None:
        return None
    return model.OidcProvider(
        name=name,
        display_name=display,
        discovery_url=url,
        client_id=client_id,
        client_secret=secret,
        auth_url_params=tuple(sorted(params.items())),
        email_claim=claims["email"],
        name_claim=claims["name"],
        groups_claim=claims["groups"],
    )
