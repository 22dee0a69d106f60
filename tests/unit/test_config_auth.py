"""``astronomer.houston.config.auth``: local accounts and OpenID Connect providers, read as Houston reads them."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from airpool import config
from airpool.config.describe import describe
from airpool.domain.errors import ConfigError

PREFIX = "astronomer.houston.config.auth.openidConnect"


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> config.PlatformConfig:
    path = tmp_path / "values.yaml"
    path.write_text(textwrap.dedent(text))
    return config.load([path], environ=environ or {})


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return caught.value.message


def test_defaults_are_local_accounts_only() -> None:
    auth = config.load([], environ={}).auth
    assert auth.local_enabled is True
    assert auth.providers == ()
    assert auth.groups_import is False
    assert auth.clock_tolerance == 0


def test_enabled_providers_in_order_disabled_ones_skipped(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        """
        astronomer:
          houston:
            config:
              auth:
                openidConnect:
                  clockTolerance: 30
                  idpGroupsImportEnabled: true
                  okta:
                    enabled: true
                    clientId: okta-client
                    discoveryUrl: https://example.okta.com/.well-known/openid-configuration
                  auth0:
                    enabled: true
                    clientId: auth0-client
                    discoveryUrl: https://example.auth0.com/
                    authUrlParams:
                      audience: airpool
                  microsoft:
                    enabled: false
                    clientId: unused
                  google:
                    enabled: true
                    clientId: google-client
                  corp-sso:
                    enabled: true
                    displayName: Corporate SSO
                    clientId: corp
                    clientSecret: from-values
                    discoveryUrl: http://127.0.0.1:5556/dex
                    claimsMapping:
                      groups: roles
        """,
        environ={"AUTH__OPENID_CONNECT__CORP_SSO__CLIENT_SECRET": "from-env"},
    )
    auth = cfg.auth
    assert [p.name for p in auth.providers] == ["okta", "auth0", "google", "corp-sso"]
    assert auth.clock_tolerance == 30
    assert auth.groups_import is True
    okta, auth0, google, corp = auth.providers
    assert okta.display_name == "Okta"
    assert okta.discovery_url == "https://example.okta.com/.well-known/openid-configuration"
    assert okta.client_secret is None
    assert auth0.discovery_url == "https://example.auth0.com/.well-known/openid-configuration"
    assert auth0.auth_url_params == (("audience", "airpool"),)
    assert google.discovery_url == "https://accounts.google.com/.well-known/openid-configuration"
    assert corp.display_name == "Corporate SSO"
    assert corp.discovery_url == "http://127.0.0.1:5556/dex/.well-known/openid-configuration"
    assert corp.client_secret == "from-env"  # Houston's environment variable wins over values.yaml
    assert corp.groups_claim == "roles"
    assert auth.provider("corp-sso") is corp
    assert auth.provider("microsoft") is None
    # `config validate` and the Settings page show the providers, never a client secret
    shown = describe(cfg)["auth"]
    assert shown["openidConnect"]["corp-sso"]["clientSecret"] == "(set)"
    assert shown["openidConnect"]["okta"]["clientSecret"] == "(none: public client)"
    assert "from-env" not in json.dumps(shown)
    assert "from-values" not in json.dumps(shown)


def test_every_provider_error_names_its_key(tmp_path: Path) -> None:
    message = problems(
        tmp_path,
        """
        astronomer:
          houston:
            config:
              auth:
                openidConnect:
                  clockTolerance: 9999
                  flow: hybrid
                  okta:
                    enabled: true
                    discoveryUrl: http://login.example.com
                  custom:
                    enabled: true
                    clientId: c
                  Bad_Name:
                    enabled: true
                  other:
                    enabled: true
                    clientId: o
                    discoveryUrl: ftp://example.com
                    authUrlParams:
                      redirect_uri: https://evil.example.com
        """,
    )
    assert f"{PREFIX}.clockTolerance: 9999 is out of range; allowed: an integer at least 0 and at most 300" in message
    assert f'{PREFIX}.flow: "hybrid" is not allowed; allowed: code, implicit' in message
    assert f"{PREFIX}.okta.clientId: is required for an enabled provider" in message
    assert f'{PREFIX}.okta.discoveryUrl: "http://login.example.com" must use https' in message
    assert f"{PREFIX}.custom.discoveryUrl: is required for an enabled provider" in message
    assert f"{PREFIX}.Bad_Name: is not a provider name" in message
    assert f'{PREFIX}.other.discoveryUrl: "ftp://example.com" is not an http(s) URL' in message
    assert f"{PREFIX}.other.authUrlParams.redirect_uri: is set by airpool itself" in message


def test_local_off_needs_a_provider(tmp_path: Path) -> None:
    message = problems(tmp_path, "astronomer: {houston: {config: {auth: {local: {enabled: false}}}}}")
    assert "astronomer.houston.config.auth.local.enabled: false leaves nobody a way to log in" in message


def test_implicit_flow_is_warned_about_not_refused(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        """
        astronomer:
          houston:
            config:
              auth:
                local: {enabled: false}
                openidConnect:
                  flow: implicit
                  okta: {enabled: true, clientId: c, discoveryUrl: "https://example.okta.com"}
        """,
    )
    assert cfg.auth.local_enabled is False
    assert any(w.startswith(f"{PREFIX}.flow: implicit is not used") for w in cfg.warnings)
