"""Session-wide real servers shared by the suite: PostgreSQL, SQLite files and (later) the dev cluster."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import lightkube
import pytest

from airpool import devcluster
from airpool.kube import client as kube_client
from tests.support import cluster as cluster_support
from tests.support import realnode as realnode_support
from tests.support.postgres import postgres_server


@pytest.fixture(autouse=True)
def _no_evidence_of_an_unreachable_api_server() -> None:
    """Commander's process-wide record of an unreachable API server (``errors.note_unreachable``) makes refusals
    temporary for two minutes: a test that stopped the API server, or reached a closed port, must not change how
    the next test's refusals are judged."""
    from airpool.commander import errors

    errors.forget_unreachable()


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """URL of the ``postgres`` database of a throwaway server started once per test session."""
    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty database on the throwaway server for one test."""
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield postgres_admin_url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'airpool.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Runs a test once on SQLite and once on PostgreSQL: one schema, two engines."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


# --- the local Kubernetes control plane (airpool.devcluster) -------------------------------------------------------
# `dev_cluster` starts one real control plane per session (about 2-5 s once the binaries are built) and stops it at
# the end. Tests that use it (directly or through the fixtures below) get the `cluster` marker automatically.

CLUSTER_FIXTURES = {"dev_cluster", "admin_client", "commander_client", "namespace"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)
        if "real_node_cluster" in getattr(item, "fixturenames", ()) or item.get_closest_marker("realnode"):
            item.add_marker(pytest.mark.realnode)
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.timeout(1800))  # the node's start under load, or waiting for another's node

    # Real-node tests last (the node starts once, for all of them); those that start their own node (marked
    # realnode, without the fixture) before the fixture's node exists, since a machine holds one node at a time.
    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("realnode") is None:
            return 0
        return 2 if "real_node_cluster" in getattr(item, "fixturenames", ()) else 1

    items.sort(key=rank)


@pytest.fixture(scope="session")
def dev_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devcluster.ClusterInfo]:
    """A running control plane: ``.admin_kubeconfig``, ``.commander_kubeconfig``, ``.server``, ``.data_dir``."""
    data_dir = tmp_path_factory.mktemp("devcluster")
    try:
        cluster = devcluster.start(data_dir, die_with_caller=True)  # a killed session leaves no cluster behind
    except devcluster.DevClusterError as exc:
        pytest.fail(exc.message, pytrace=False)
    try:
        yield cluster
    finally:
        devcluster.stop(data_dir)


@pytest.fixture(scope="session")
def real_node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[realnode_support.RealNodeCluster]:
    """A dev cluster with a real node (containerd, kubelet, kube-proxy, CoreDNS; tests/support/realnode.py):
    ``.info`` (ClusterInfo), ``.import_image(archive)`` -> reference, ``.admin_client()``, ``.node_name``.
    Tests using it are marked ``realnode`` and run last."""
    with realnode_support.running(tmp_path_factory.mktemp("realnode")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def admin_client(dev_cluster: devcluster.ClusterInfo) -> lightkube.Client:
    """lightkube client as cluster admin (group system:masters)."""
    return kube_client.connect(dev_cluster.admin_kubeconfig, field_manager=kube_client.ADMIN_FIELD_MANAGER)


@pytest.fixture(scope="session")
def commander_client(dev_cluster: devcluster.ClusterInfo) -> lightkube.Client:
    """lightkube client as system:serviceaccount:astronomer:astronomer-commander (its minted token; no RBAC yet)."""
    return kube_client.connect(dev_cluster.commander_kubeconfig, field_manager=kube_client.COMMANDER_FIELD_MANAGER)


@pytest.fixture
def namespace(admin_client: lightkube.Client) -> Iterator[str]:
    """A fresh, uniquely named namespace for one test, deleted afterwards."""
    with cluster_support.fresh_namespace(admin_client) as name:
        yield name


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium driven by Playwright, once per session (tests/support/browser.py)."""
    from tests.support.browser import chromium

    with chromium() as launched:
        yield launched


@pytest.fixture
def browser_page(browser: object) -> Iterator[object]:
    """A fresh browser context (own cookies) and page for one test, at a laptop-sized viewport."""
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    # Generous limits for a loaded 2-core machine: actions and ``expect`` assertions wait for their condition
    # (they return as soon as it holds), so a long limit costs nothing when the machine is fast.
    expect.set_options(timeout=60_000)
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(60_000)
    try:
        yield context.new_page()
    finally:
        context.close()
