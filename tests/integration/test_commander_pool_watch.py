"""Commander's watches on the pool: a Role edited or a namespace deleted is noticed within seconds, without waiting
for the next periodic pass, and a pass skips the namespaces whose watches saw no change."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import lightkube
import msgspec
import pytest
from lightkube.resources.core_v1 import Namespace
from lightkube.resources.rbac_authorization_v1 import RoleBinding
from prometheus_client import REGISTRY

from airpool.commander import errors, health, pool_monitor, pool_watch, worker
from airpool.devcluster import ClusterInfo
from airpool.domain.pool import NamespaceState
from airpool.manifests import pool as pool_manifests
from airpool.manifests import rbac
from airpool.services import platform as platform_mod
from airpool.services import pool, schema
from airpool.services.platform import Platform
from tests.support import cluster as cluster_support
from tests.support import commander_env
from tests.support import platform as platform_support

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def pool_of(sqlite_url: str, admin: lightkube.Client, count: int) -> Iterator[tuple[Platform, tuple[str, ...]]]:
    """``count`` prepared pool namespaces and a platform whose periodic pass is an hour apart: whatever is noticed
    sooner was noticed by the watches."""
    with contextlib.ExitStack() as stack:
        names = tuple(stack.enter_context(commander_env.pool_namespace(admin)) for _ in range(count))
        cfg = dataclasses.replace(platform_support.config(pool_names=names), health_check_interval=3600)
        schema.upgrade(sqlite_url)
        plat = platform_mod.connect(cfg, url=sqlite_url, clock=platform_support.Clock())
        stack.callback(plat.close)
        pool.sync(plat)
        yield plat, names


def state(plat: Platform, name: str) -> tuple[NamespaceState, str]:
    row = next(ns for ns in pool.status(plat, worker.SYSTEM_ACTOR) if ns.name == name)
    return row.state, row.health_reason or ""


def pass_metric(name: str) -> float:
    return REGISTRY.get_sample_value(f"airpool_pool_health_pass_{name}", {"kind": "pass"}) or 0.0


def time_until(plat: Platform, name: str, wanted: NamespaceState, *, what: str) -> float:
    start = time.monotonic()
    cluster_support.wait_for(lambda: state(plat, name)[0] is wanted, timeout=120, interval=0.1, what=what)
    return time.monotonic() - start


def test_a_role_edited_or_a_namespace_deleted_is_noticed_within_seconds(
    sqlite_url: str, admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    with pool_of(sqlite_url, admin_client, 3) as (plat, (edited, deleted, untouched)):
        monitor = pool_monitor.PoolMonitor(plat, commander_client)
        stop = threading.Event()
        thread = threading.Thread(target=monitor.run, args=(stop,), kwargs={"interval": 3600}, daemon=True)
        thread.start()
        try:
            cluster_support.wait_for(
                lambda: pool.available_namespaces(plat) == sorted([edited, deleted, untouched]),
                timeout=120,
                what="the first pass to offer the pool",
            )
            assert monitor.watch is not None
            # The admin narrows commander's Role: no more pods.
            narrowed = tuple(r for r in rbac.COMMANDER_NAMESPACE_RULES if r.resources != ("pods",))
            name = pool_manifests.commander_role_name(commander_env.CONFIG)
            commander_env.admin_apply(admin_client, [pool_manifests.role(commander_env.CONFIG, name, edited, narrowed)])
            role_s = time_until(plat, edited, NamespaceState.MISCONFIGURED, what=f"{edited} misconfigured")
            assert f"create pods (core) in namespace {edited}" in state(plat, edited)[1]

            admin_client.delete(Namespace, deleted)
            deleted_s = time_until(plat, deleted, NamespaceState.MISCONFIGURED, what=f"{deleted} misconfigured")
            assert deleted in state(plat, deleted)[1]

            # The fix is noticed the same way.
            commander_env.grant_pool_role(admin_client, edited)
            fixed_s = time_until(plat, edited, NamespaceState.AVAILABLE, what=f"{edited} offered again")
            assert state(plat, untouched) == (NamespaceState.AVAILABLE, "")
            print(f"noticed: Role edited {role_s:.1f} s, namespace deleted {deleted_s:.1f} s, fixed {fixed_s:.1f} s")
        finally:
            stop.set()
            thread.join(60)
        assert not thread.is_alive()
        assert monitor.watch is None  # stopped with the monitor


def test_a_pass_skips_what_the_watches_saw_unchanged_and_checks_what_changed(
    sqlite_url: str, admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    with pool_of(sqlite_url, admin_client, 4) as (plat, names):
        monitor = pool_monitor.PoolMonitor(plat, commander_client, deep_share=2, leftover_share=4)
        monitor.start_watch()
        try:
            first = monitor.run_pass()
            assert sorted(v.namespace for v in first.verdicts) == sorted(names)
            assert all(v.ok for v in first.verdicts)
            full = first.verdicts[0].calls  # namespace read + rules review + one list per managed kind
            # Nothing changed: each later pass checks only the namespaces whose round-robin turns it is: half of them
            # (existence and access again: 2 requests), one of which (a quarter) is also searched for leftovers,
            # plus one list for the resource version of that search. In four passes each was searched once.
            searched: list[str] = []
            cost_before = pass_metric("requests_sum")
            looked_before = pass_metric("namespaces_sum")
            for _ in range(4):
                again = monitor.run_pass()
                assert len(again.verdicts) == 2, again.verdicts
                assert sorted(v.calls for v in again.verdicts) == [2, full]
                assert again.api_calls == 1 + 2 + full
                searched += [v.namespace for v in again.verdicts if v.calls == full]
            assert sorted(searched) == sorted(names)
            # each pass's cost and size, exported
            assert pass_metric("requests_sum") - cost_before == 4 * (1 + 2 + full)
            assert pass_metric("namespaces_sum") - looked_before == 4 * 2
            assert REGISTRY.get_sample_value("airpool_pool_health_pass_running") == 0

            # The admin labels commander's RoleBinding in one namespace: the watches name exactly that one.
            target = names[2]
            binding = pool_manifests.commander_role_name(commander_env.CONFIG)
            admin_client.patch(RoleBinding, binding, {"metadata": {"labels": {"team": "data"}}}, namespace=target)
            assert monitor.watch is not None
            cluster_support.wait_for(monitor.watch.changed.is_set, timeout=60, interval=0.05, what="the change seen")
            changed = monitor.run_changes()
            assert changed is not None
            assert [v.namespace for v in changed.verdicts] == [target]
            assert changed.verdicts[0] == health.PoolHealth(target, True, None)
        finally:
            monitor.stop_watch()


def test_a_refusal_right_after_the_api_server_came_back_is_not_taken_at_its_word(
    sqlite_url: str, admin_client: lightkube.Client, commander_client: lightkube.Client, dev_cluster: ClusterInfo
) -> None:
    """Issue 11's rule in the pool monitor: the watches see the API server go away, and within
    ``errors.WARMUP_SECONDS`` a refusal (here a real one: commander's RoleBinding removed) leaves the namespace as it
    was recorded, offered; once the window has passed, the same refusal moves it to misconfigured."""
    errors.forget_unreachable()  # no earlier test's evidence
    with pool_of(sqlite_url, admin_client, 1) as (plat, (ns,)):
        monitor = pool_monitor.PoolMonitor(plat, commander_client)
        try:
            monitor.run_pass()
            assert state(plat, ns) == (NamespaceState.AVAILABLE, "")
            watch = monitor.start_watch()
            watch.set_names([ns])
            cluster_support.wait_for(lambda: watch.covered_since(ns) is not None, timeout=120, what="watches on")
            with cluster_support.api_server_down(dev_cluster.data_dir, admin_client):
                cluster_support.wait_for(
                    lambda: errors.recently_unreachable() is not None, timeout=120, what="the watches to see it gone"
                )
            commander_env.revoke_pool_role(admin_client, commander_client, ns)
            result = monitor.run_changes({ns}, settle=False)
            assert result is not None
            assert result.verdicts == ()
            assert "not taken at its word: the API server was unreachable" in result.failed[ns], result.failed
            assert state(plat, ns) == (NamespaceState.AVAILABLE, "")

            errors.forget_unreachable()  # as when WARMUP_SECONDS have passed
            result = monitor.run_changes({ns}, settle=False)
            assert result is not None
            assert result.failed == {}, result
            moved, reason = state(plat, ns)
            assert moved is NamespaceState.MISCONFIGURED
            assert reason.startswith(f"commander cannot read namespace {ns}") or reason.startswith("commander lacks ")
        finally:
            monitor.stop_watch()
            errors.forget_unreachable()  # this process's evidence must not make later tests' refusals temporary


@contextlib.contextmanager
def closing_proxy(upstream: tuple[str, int], *, after: float) -> Iterator[int]:
    """A TCP proxy to ``upstream`` that closes every connection ``after`` seconds from its start, as a load balancer
    or HAProxy does with a quiet connection; yields the port it listens on."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)

    def carry(client: socket.socket) -> None:
        with client, socket.create_connection(upstream) as server:
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=pump, args=(source, sink), daemon=True).start()
            stop.wait(after)
            for end in (client, server):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                threading.Thread(target=carry, args=(client,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()


def test_a_watch_a_proxy_keeps_closing_is_no_evidence_of_an_unreachable_api_server(
    admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    """A proxy in front of the API server closes each quiet watch's connection after a while; the API server answered
    every time. Each break counted as the API server unreachable, which renewed the evidence for good: no refusal
    (a namespace whose access was removed) was ever taken at its word."""
    config = commander_client.config
    server = urlsplit(config.cluster.server)
    assert server.hostname is not None
    assert server.port is not None
    with (
        commander_env.pool_namespace(admin_client) as ns,
        closing_proxy((server.hostname, server.port), after=2.0) as port,
    ):
        proxied = msgspec.structs.replace(config.cluster, server=f"https://{server.hostname}:{port}")
        watch = pool_watch.PoolWatch(config._replace(cluster=proxied), backoff_max=1.0)
        try:

            def broken() -> float:
                return REGISTRY.get_sample_value("airpool_pool_watch_errors_total") or 0.0

            before = broken()
            watch.set_names([ns])
            assert watch.streams == 2  # its Role and RoleBinding watches, through the proxy
            cluster_support.wait_for(lambda: broken() >= before + 4, timeout=120, what="the proxy to close watches")
            assert errors.recently_unreachable() is None
        finally:
            watch.stop()
