"""Which broken pool watches count as the API server unreachable (``pool_watch._says_unreachable``): that evidence
keeps refusals in doubt for ``errors.WARMUP_SECONDS``, so what renews it while the API server answers would keep a
namespace whose access was removed from ever being judged."""

from __future__ import annotations

import httpx2
import pytest
from lightkube import ApiError

from airpool.commander import pool_watch


def _api_error(code: int, reason: str, message: str) -> ApiError:
    request = httpx2.Request("GET", "https://127.0.0.1:6443/apis/rbac.authorization.k8s.io/v1/roles?watch=true")
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason}
    return ApiError(request=request, response=httpx2.Response(code, json={**status, "message": message}))


@pytest.mark.parametrize(
    ("error", "answered", "unreachable"),
    [
        (httpx2.ConnectError("[Errno 111] Connection refused"), False, True),  # a new watch finds nobody listening
        (httpx2.RemoteProtocolError("Server disconnected without sending a response."), False, True),
        (httpx2.RemoteProtocolError("peer closed connection (incomplete chunked read)"), True, False),  # a proxy
        (httpx2.ReadError("[Errno 104] Connection reset by peer"), True, False),
        (_api_error(503, "ServiceUnavailable", "the server is currently unable to handle the request"), True, True),
        (_api_error(500, "InternalError", "Internal error occurred"), True, True),
        (_api_error(504, "Timeout", "Too large resource version: 120, current: 80"), True, False),  # watch cache
        (_api_error(403, "Forbidden", 'roles.rbac.authorization.k8s.io is forbidden: User "commander"'), True, False),
        (_api_error(410, "Expired", "too old resource version: 1 (80)"), True, False),
    ],
)
def test_a_broken_watch_is_evidence_only_when_its_request_got_no_answer_or_a_server_error(
    error: BaseException, answered: bool, unreachable: bool
) -> None:
    assert pool_watch._says_unreachable(error, answered=answered) is unreachable
