"""The Deployment page's commander messages name why an upgrade job ran, not only that "upgrade" did."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airpool.services.views import JobView
from airpool.ui.pages import _job_event

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _job(**changes: Any) -> JobView:
    fields: dict[str, Any] = {
        "id": 7,
        "kind": "upgrade",
        "deployment_id": "d",
        "namespace": "pool-a",
        "payload": {},
        "state": "done",
        "attempts": 1,
        "max_attempts": 5,
        "lease_owner": None,
        "lease_expires_at": None,
        "run_after": AT,
        "last_error": "",
        "created_at": AT,
        "finished_at": AT,
    }
    return JobView(**{**fields, **changes})


def test_an_upgrade_job_says_why_it_ran() -> None:
    variables = _job(payload={"reason": "environment variables changed"})
    assert _job_event(variables)["message"] == "upgrade (environment variables changed) done"
    failing = _job(payload={"reason": "settings changed: executor"}, state="queued", attempts=2, last_error="boom")
    assert _job_event(failing) == {
        "at": AT,
        "level": "warning",
        "message": "upgrade (settings changed: executor): boom (attempt 2, retrying)",
    }


def test_jobs_without_a_reason_read_as_before() -> None:
    assert _job_event(_job(kind="install", state="queued", finished_at=None))["message"] == "install queued"
    assert _job_event(_job(payload={"dag_deployment": {"type": "image"}}))["message"] == "upgrade done"


def test_the_deployment_history_reads_as_words_not_audit_codes() -> None:
    from airpool.services.views import AuditEventView
    from airpool.ui.pages import history_text

    def line(action: str, **detail: Any) -> str:
        event = AuditEventView(
            id=1,
            at=AT,
            actor="ada",
            action=action,
            target_kind="deployment",
            target_id="d",
            workspace_id="w",
            detail=detail,
        )
        return history_text(event)

    assert line("deployment.create") == "created it"
    assert line("deployment.variables", changed=["API_TOKEN", "MODE"]) == (
        "changed its environment variables (API_TOKEN, MODE)"
    )
    assert line("deployment.upgrade", **{"from": "2.11.2", "to": "3.3.2"}) == (
        "asked for an upgrade from Airflow 2.11.2 to 3.3.2"
    )
    assert line("deployment.delete", hard=False) == "deleted it (soft delete)"
    assert line("deployment.member.add", username="vera", role="DEPLOYMENT_EDITOR") == "gave vera the editor role"
    assert line("deployment.something.new") == "deployment.something.new"
