"""Airflow's own REST API, as a user of a Deployment calls it: log in, unpause a DAG, trigger a run, wait for it,
read its task's log. Airflow 3 (``/api/v2``, a JWT from ``/auth/token``) and 2.x (``/api/v1``, basic auth).

The test process reaches the API server pod directly at its pod IP: the real node's pod network is a bridge on
this machine (no ingress controller runs in the dev cluster).
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import lightkube
from lightkube.resources.core_v1 import Pod, Secret

from airpool.manifests.airflow import common

#: A DAG that proves a task really ran: it prints a marker with the host it ran on (the task log shows it).
SMOKE_DAG_ID = "airpool_smoke"
MARKER = "AIRPOOL-SMOKE-OK"
#: Twelve parallel tasks that each print where they ran (Celery: more than one worker's concurrency).
FANOUT_DAG_ID = "airpool_fanout"
FANOUT_TASKS = 12
#: One task that prints ``PLAIN_VARIABLE`` and the SHA-256 of ``SECRET_VARIABLE`` (never the secret itself).
ENV_DAG_ID = "airpool_env"
ENV_MARKER = "AIRPOOL-ENV"
PLAIN_VARIABLE = "AIRPOOL_PLAIN"
SECRET_VARIABLE = "AIRPOOL_SECRET"
SMOKE_DAG = f'''
"""airpool's real-node test DAGs: tasks that print where they ran (and what they see)."""
from datetime import datetime

try:
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2.x
    from airflow.decorators import dag, task


@dag(dag_id="{SMOKE_DAG_ID}", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["airpool"])
def smoke():
    @task
    def hello():
        import socket

        print("{MARKER} on " + socket.gethostname())
        return socket.gethostname()

    hello()


smoke()


@dag(dag_id="{FANOUT_DAG_ID}", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["airpool"])
def fanout():
    """More tasks at once than one Celery worker takes ({FANOUT_TASKS} > its concurrency 8)."""

    @task
    def part():
        import socket
        import time

        print("{MARKER} on " + socket.gethostname())
        time.sleep(20)

    for index in range({FANOUT_TASKS}):
        part.override(task_id=f"part_{{index}}")()


fanout()


@dag(dag_id="{ENV_DAG_ID}", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["airpool"])
def environment():
    """Prints a plain variable and only a digest of the secret one."""

    @task
    def show():
        import hashlib
        import os

        print("{ENV_MARKER} plain=" + os.environ.get("{PLAIN_VARIABLE}", "<unset>"))
        secret = os.environ.get("{SECRET_VARIABLE}", "")
        print("{ENV_MARKER} secret-sha256=" + hashlib.sha256(secret.encode()).hexdigest())

    show()


environment()
'''


@dataclass
class AirflowApi:
    """One Deployment's API server (``base`` = ``http://<pod ip>:8080/<release>/airflow``)."""

    base: str
    airflow3: bool
    password: str
    username: str = common.ADMIN_USER
    timeout: float = 120.0
    _token: str | None = field(default=None, repr=False)

    @property
    def api(self) -> str:
        return f"{self.base}/api/v2" if self.airflow3 else f"{self.base}/api/v1"

    def _auth(self) -> dict[str, Any]:
        if not self.airflow3:
            return {"auth": (self.username, self.password)}
        if self._token is None:
            answer = httpx.post(
                f"{self.base}/auth/token",
                json={"username": self.username, "password": self.password},
                timeout=self.timeout,
            )
            assert answer.status_code in (200, 201), (answer.status_code, answer.text)
            self._token = answer.json()["access_token"]
        return {"headers": {"Authorization": f"Bearer {self._token}"}}

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        auth = self._auth()
        merged = {**auth.pop("headers", {}), **(headers or {})}
        return httpx.request(method, f"{self.api}{path}", timeout=self.timeout, headers=merged, **auth, **kw)

    def dag_known(self, dag_id: str) -> bool:
        return self.request("GET", f"/dags/{dag_id}").status_code == 200

    def trigger(self, dag_id: str) -> str:
        answer = self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = {"logical_date": None} if self.airflow3 else {}
        answer = self.request("POST", f"/dags/{dag_id}/dagRuns", json=body)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        answer = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
        assert answer.status_code == 200, answer.text
        return str(answer.json()["state"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        answer = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        assert answer.status_code == 200, answer.text
        return list(answer.json()["task_instances"])

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        answer = self.request(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": "true"},
            headers={"Accept": "application/json" if self.airflow3 else "text/plain"},
        )
        assert answer.status_code == 200, answer.text
        if answer.headers.get("content-type", "").startswith("application/json"):
            content = answer.json().get("content")
            if isinstance(content, list):
                return "\n".join(
                    str(item.get("event", item)) if isinstance(item, dict) else str(item) for item in content
                )
            return str(content)
        return answer.text


def admin_password(admin: lightkube.Client, namespace: str, release: str) -> str:
    secret = admin.get(Secret, f"{release}-airflow-admin", namespace=namespace)
    assert secret.data is not None
    return base64.b64decode(secret.data["password"]).decode()


def api_server_pod_ip(admin: lightkube.Client, namespace: str, release: str, component: str) -> str:
    selector = {"release": release, common.COMPONENT_LABEL: component}
    pods = [p for p in admin.list(Pod, namespace=namespace, labels=selector) if p.status and p.status.podIP]
    ready = [p for p in pods if any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))]
    assert ready, f"no ready {component} pod of {release} in {namespace}"
    return str(ready[0].status.podIP)


def connect(admin: lightkube.Client, namespace: str, release: str, *, airflow3: bool) -> AirflowApi:
    component = "api-server" if airflow3 else "webserver"
    ip = api_server_pod_ip(admin, namespace, release, component)
    return AirflowApi(
        base=f"http://{ip}:{common.API_PORT}/{release}/airflow",
        airflow3=airflow3,
        password=admin_password(admin, namespace, release),
    )


def wait(predicate: Any, *, timeout: float, what: str, interval: float = 2.0) -> Any:
    """Poll until ``predicate()`` is truthy; Airflow under load answers slowly, so limits are generous."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (httpx.HTTPError, AssertionError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")
