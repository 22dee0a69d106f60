"""Reading the caller's token from the ``authorization`` header.

The astro CLI sends the raw token (``authorization: <token>``) as Houston expects; browsers' tools and scripts
usually send ``Bearer <token>``. Both are accepted. Whether the token is valid (signature, expiry, revocation) is
the services' call; this module only says whether a token was sent and whether the header is well formed.
"""

from __future__ import annotations

from collections.abc import Mapping

from airpool.domain.errors import Unauthenticated

HEADER = "authorization"
#: Tokens are short; anything longer is not one of ours and is refused before it reaches a parser.
MAX_TOKEN_LENGTH = 4096


class TokenRejected(Unauthenticated):
    """The token sent (or its absence) cannot identify a caller: the client must log in (again).

    Kept apart from other ``Unauthenticated`` errors (a wrong password at ``createToken``) because the astro CLI
    turns this one's Houston message into "your token has expired, log in again" (see ``api.errors``).
    """


NO_TOKEN = "no token: log in first (createToken) and send the token in the 'authorization' header"


def token_from_headers(headers: Mapping[str, str]) -> str | None:
    """The token, or None when no (or an empty) ``authorization`` header was sent.

    Raises ``TokenRejected`` for a header that cannot hold a token (a scheme other than Bearer, spaces inside,
    an absurd length), so a typo is reported as such rather than as an expired token.
    """
    raw = headers.get(HEADER)
    if raw is None or not raw.strip():
        return None
    parts = raw.strip().split()
    if len(parts) == 2 and parts[0].lower() == "bearer":
        token = parts[1]
    elif len(parts) == 1:
        token = parts[0]
    else:
        raise TokenRejected("malformed authorization header: expected '<token>' or 'Bearer <token>'")
    if len(token) > MAX_TOKEN_LENGTH or not token.isprintable():
        raise TokenRejected("malformed token in the authorization header")
    return token
