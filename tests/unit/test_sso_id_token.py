"""ID-token checks (``services.sso.verify_id_token``): signature, issuer, audience, times, nonce, algorithms.

A real provider (Dex, in tests/e2e/test_ui_sso.py) only ever hands out good tokens; the bad ones are made here
with real keys, signed by PyJWT, so every refusal is shown to happen and to say why.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from airpool.services import sso

ISSUER = "https://login.example.com"
CLIENT = "airpool"
NONCE = "n-0123456789"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def claims(**change: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "sub": "user-1", "aud": CLIENT, "exp": now + 600, "iat": now, "nonce": NONCE}
    base.update(change)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], *, key: Any = KEY, algorithm: str = "RS256", kid: str = "k1") -> str:
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})


def verify(token: str, *, leeway: int = 0, now: float | None = None) -> dict[str, Any]:
    def key(kid: object, algorithm: str) -> Any:
        if kid != "k1":
            raise sso.SsoFailed(f"unknown key {kid!r}", status=502)
        return KEY.public_key()

    return sso.verify_id_token(
        token,
        key=key,
        issuer=ISSUER,
        client_id=CLIENT,
        nonce=NONCE,
        now=time.time() if now is None else now,
        leeway=leeway,
    )


def refused(token: str, match: str, **kwargs: Any) -> None:
    with pytest.raises(sso.SsoFailed, match=match) as caught:
        verify(token, **kwargs)
    assert caught.value.status == 502


def test_a_good_token_gives_its_claims() -> None:
    got = verify(sign(claims(email="ada@example.com", groups=["a"])))
    assert got["sub"] == "user-1"
    assert got["email"] == "ada@example.com"
    assert got["groups"] == ["a"]


def test_signature_issuer_audience_and_nonce_are_checked() -> None:
    refused(sign(claims(), key=OTHER_KEY), "signature does not verify")
    refused(sign(claims(iss="https://other.example.com")), "issued by another issuer")
    refused(sign(claims(aud="someone-else")), "issued for another client, not 'airpool'")
    refused(sign(claims(nonce="replayed")), "does not carry this log-in's nonce")
    refused(sign(claims(nonce=None)), "does not carry this log-in's nonce")
    refused(sign(claims(), kid="rotated-away"), "unknown key 'rotated-away'")


def test_several_audiences_need_azp_naming_airpool() -> None:
    refused(sign(claims(aud=[CLIENT, "api"])), "several audiences")
    assert verify(sign(claims(aud=[CLIENT, "api"], azp=CLIENT)))["azp"] == CLIENT


def test_expiry_and_issued_at_respect_the_clock_tolerance() -> None:
    now = time.time()
    expired = sign(claims(exp=int(now) - 20, iat=int(now) - 600))
    refused(expired, "has expired")
    assert verify(expired, leeway=30)["sub"] == "user-1"
    future = sign(claims(iat=int(now) + 600, exp=int(now) + 1200))
    refused(future, "issued in the future")
    for missing in ("exp", "iat", "sub"):
        refused(sign(claims(**{missing: None})), "not valid")


def test_only_asymmetric_algorithms_are_accepted() -> None:
    refused(jwt.encode(claims(), "client-secret-as-hmac-key-32-bytes!", algorithm="HS256"), "signed with 'HS256'")
    unsigned = jwt.encode(claims(), None, algorithm="none")
    refused(unsigned, "signed with 'none'")
    refused("not-a-token", "not a JSON Web Token")
    # an elliptic-curve signature is fine when the key matches
    ec_key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": "ec"})
    got = sso.verify_id_token(
        token,
        key=lambda kid, alg: ec_key.public_key(),
        issuer=ISSUER,
        client_id=CLIENT,
        nonce=NONCE,
        now=time.time(),
        leeway=0,
    )
    assert got["sub"] == "user-1"
