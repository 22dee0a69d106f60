"""Server-side render time of the web UI's Deployments list with 500 Deployments (p50, aim < 100 ms).

Usage: ``python bench/ui_render.py [--deployments 500] [--runs 30]``. Each figure is a whole GET request through
the real ASGI app in process (session cookie check, token check, the services' reads on a real SQLite file,
Jinja2 rendering), without a network hop. The baseline, measured in the same run, is the same page for a
workspace with no Deployments: the fixed cost of a page. The Jinja2 render alone of the 500 rows is printed too,
to show where the time goes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from starlette.testclient import TestClient

from airpool.api.app import create_app
from airpool.config.model import PlatformConfig
from airpool.services import auth, deployments, pool, schema, workspaces
from airpool.services import platform as platform_service
from airpool.ui import templating

PASSWORD = "correct horse battery"


def timings_ms(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm-up: template compilation, connection pool
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return sorted(out)


def p(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deployments", type=int, default=500)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'airpool.db'}"
        schema.upgrade(url)
        # No pool: namespaces are derived from release names, so any number of Deployments can be created.
        plat = platform_service.connect(PlatformConfig(), url=url)
        pool.sync(plat)
        try:
            login = auth.signup(plat, username="bench", password=PASSWORD)
            actor = auth.authenticate(plat, login.token)
            full = workspaces.list_for(plat, actor)[0]
            empty = workspaces.create(plat, actor, label="Empty")
            start = time.perf_counter()
            for i in range(args.deployments):
                deployments.create(plat, actor, workspace_id=full.id, label=f"Pipeline {i:04d}")
            created_s = time.perf_counter() - start

            client = TestClient(create_app(plat), base_url="http://127.0.0.1")
            page = client.get("/signup")  # a session cookie, then log in through the form like a browser
            csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf_token": csrf, "next": "/"})

            def get(workspace_id: str) -> Callable[[], object]:
                def run() -> object:
                    response = client.get(f"/w/{workspace_id}/deployments")
                    assert response.status_code == 200, response.status_code
                    return response

                return run

            listing = client.get(f"/w/{full.id}/deployments")
            assert listing.text.count("data-deployment=") == args.deployments
            baseline = timings_ms(get(empty.id), args.runs)
            measured = timings_ms(get(full.id), args.runs)
            rows = deployments.list_for_workspace(plat, actor, full.id)
            context = {
                "csrf": "x",
                "user": actor,
                "workspaces": [full, empty],
                "workspace": full,
                "nav": "deployments",
                "version": "bench",
                "error": None,
                "notices": [],
                "title": "Deployments",
                "deployments": rows,
                "deleted": deployments.list_deleted(plat, actor, full.id),
                "role": "admin",
                "can_create": True,
            }
            template_only = timings_ms(lambda: templating.render("deployments.html", context), args.runs)
            reads_only = timings_ms(lambda: deployments.list_for_workspace(plat, actor, full.id), args.runs)
        finally:
            plat.close()

    print(f"Deployments list page, {args.deployments} Deployments, {args.runs} requests each (SQLite, in process)")
    print(f"  created {args.deployments} Deployments in {created_s:.1f} s (setup)")
    print(f"  baseline: empty list          p50 {p(baseline, 0.5):7.2f} ms   p90 {p(baseline, 0.9):7.2f} ms")
    print(
        f"  {args.deployments} Deployments              p50 {p(measured, 0.5):7.2f} ms   p90 {p(measured, 0.9):7.2f} ms"
    )
    print(f"    of which services read      p50 {p(reads_only, 0.5):7.2f} ms")
    print(f"    of which Jinja2 render      p50 {p(template_only, 0.5):7.2f} ms")
    print(f"  ratio {args.deployments} / empty: {p(measured, 0.5) / p(baseline, 0.5):.1f}x   (aim: p50 < 100 ms)")


if __name__ == "__main__":
    main()
