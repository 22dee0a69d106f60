"""Is a pool namespace fit to be offered? It must exist, not be terminating, let commander do everything a
Deployment needs, and hold nothing of a former Deployment.

The answer carries a reason a human can act on; the services record it and move the namespace between
``available`` and ``misconfigured``. Checks run cheapest first and stop at the first failure.

What one check proves, with commander's own identity only (never an admin's):

- ``GET namespaces/<ns>`` as commander: the namespace exists and is not terminating (and commander's binding there
  is alive: a namespaced Role dies with its namespace);
- one SelfSubjectRulesReview in the namespace: the API server's own authorizer lists every rule commander holds
  there, through any Role, ClusterRole, binding or group, and every permission a Deployment needs is among them
  (``preflight.missing``; an incomplete answer is confirmed check by check with SelfSubjectAccessReviews). This is
  the proof of access: it is what the API server will decide, not our reading of RBAC objects, which would need
  cluster-wide read rights commander does not have in a pool and would miss aggregated ClusterRoles, group
  bindings and non-RBAC authorizers;
- optionally (``leftovers``): one labelled list per kind commander manages, finding objects of a former
  Deployment. It is 17 of a check's 19 calls, so a pass (``check_many``) asks it only where it is owed: for a
  namespace not yet offered (first check, or found misconfigured) and, round-robin, for a share of the offered
  ones (``PoolMonitor.leftover_share``). An offered namespace was verified clean when it became available (by
  this check, or by commander's uninstall, which waits until every labelled object is gone), and nothing of
  airpool writes into a namespace it does not hold.

A refusal (the namespace unreadable, permissions lacking) within ``errors.WARMUP_SECONDS`` of the API server being
unreachable is not a verdict: the check raises ``errors.TemporaryFailure`` and the namespace keeps its recorded
state (issue 11's rule for jobs, applied to the pool: a restarting API server refuses until its authorization caches
are loaded). ``pool_watch`` notes a watch whose request got no answer (or a 500/502/503), so a restart between
passes counts too; not a stream that broke after the API server answered (``pool_watch._says_unreachable``).

``check_many`` runs checks of many namespaces on a bounded thread pool, spread over ``parallel`` connections. Its
leftover lists are served from the API server's watch cache, no older than one resource version read when the pass
starts (``resourceVersionMatch=NotOlderThan``): as sure as a quorum read made at that moment, without one etcd
round trip per list (measured: a third less API server and etcd CPU per list). An object created after the pass
started may be missed, as it would be by a check that ran a moment earlier; nothing of airpool writes into a
namespace that is not held. lightkube's public ``list`` cannot ask for a resource version, so these lists go through
``kube.lists`` (the same identity and connections, items left undecoded).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import httpx2
from lightkube import ApiError, Client
from lightkube.core.selector import build_selector
from lightkube.resources.core_v1 import Namespace
from lightkube.resources.rbac_authorization_v1 import Role

from airpool.commander import errors, kinds, preflight
from airpool.kube import lists
from airpool.manifests.airflow import common


@dataclass(frozen=True)
class PoolHealth:
    namespace: str
    ok: bool
    reason: str | None = None
    #: API requests this check made (the pass's cost metric); not part of the verdict.
    calls: int = field(default=0, compare=False)


#: Namespaces checked at once by ``check_many`` (each check is sequential: about 2 requests, 19 with leftovers).
DEFAULT_PARALLEL = 16
#: Namespaces checked at once while commander runs an install, upgrade or uninstall job in this process.
PARALLEL_WHILE_JOBS_RUN = 2


class JobGate:
    """Health checks give way to jobs: while a job runs in this process (``job()``), at most ``while_jobs`` checks
    run at once instead of the pass's ``parallel``.

    Measured on the dev cluster (``bench/health_and_jobs.py``, one run) with passes over 200 namespaces back to
    back: with 16 checks at once throughout, an install took 1.42x and an uninstall 8.0x as long as on a commander
    without passes (its requests queued behind the pass's at the API server, its Python behind 16 threads); with
    the gate 0.89x and 1.96x. A pass only slows down while jobs run; it never stops."""

    def __init__(self, *, while_jobs: int = PARALLEL_WHILE_JOBS_RUN) -> None:
        self.while_jobs = max(while_jobs, 1)
        self._cond = threading.Condition()
        self._jobs = 0
        self._checks = 0
        #: The most checks that ran at once since the last ``reset_peak`` (tests read it).
        self.peak = 0

    @contextlib.contextmanager
    def job(self) -> Iterator[None]:
        with self._cond:
            self._jobs += 1
        try:
            yield
        finally:
            with self._cond:
                self._jobs -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def check(self, parallel: int) -> Iterator[None]:
        with self._cond:
            while self._checks >= (self.while_jobs if self._jobs else parallel):
                self._cond.wait()
            self._checks += 1
            self.peak = max(self.peak, self._checks)
        try:
            yield
        finally:
            with self._cond:
                self._checks -= 1
                self._cond.notify_all()

    def reset_peak(self) -> None:
        with self._cond:
            self.peak = self._checks


#: The gate of this process: the worker holds ``job()`` around every job, ``check_many`` a ``check`` per namespace.
GATE = JobGate()


def _labelled(client: Client, kind: kinds.Kind, namespace: str, version: str | None) -> list[dict[str, Any]]:
    """Every object of ``kind`` in ``namespace`` labelled with a Deployment, served from the watch cache at
    ``version`` or newer (None: a quorum read)."""
    try:
        return lists.labelled(
            client,
            api_version=kind.api_version,
            plural=kind.plural,
            namespace=namespace,
            selector=_SELECTOR,
            not_older_than=version,
        )
    except ApiError as exc:
        if not version or exc.status.code not in (504, 410):
            raise
        # The watch cache did not reach ``version`` in time (504, "Too large resource version") or it is compacted
        # away (410): read from etcd instead.
        return _labelled(client, kind, namespace, None)


_SELECTOR = build_selector(kinds.any_deployment())


def _leftovers(client: Client, namespace: str, *, threads: int = 8, version: str | None = None) -> list[str]:
    def owned(kind: kinds.Kind) -> list[str]:
        found = _labelled(client, kind, namespace, version)
        return [
            f"{kind.kind} {o['metadata']['name']} (Deployment {o['metadata']['labels'][common.DEPLOYMENT_LABEL]})"
            for o in found
        ]

    if threads <= 1:  # inside check_many: the pass is already parallel across namespaces
        return [item for kind in kinds.NAMESPACED_KINDS for item in owned(kind)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return [item for items in pool.map(owned, kinds.NAMESPACED_KINDS) for item in items]


def _namespace_problem(client: Client, namespace: str) -> str | None:
    try:
        ns: Any = client.get(Namespace, namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return f"namespace {namespace} does not exist in the cluster"
        if exc.status.code == 403:
            # A namespaced Role dies with its namespace, so a deleted or terminating pool namespace looks like
            # this to commander too: say all three possibilities.
            return _refused_access(
                f"commander cannot read namespace {namespace} (deleted, being deleted, or its Role/RoleBinding "
                f"for commander removed): {exc.status.message}"
            )
        raise
    if ns.metadata.deletionTimestamp is not None or (ns.status and ns.status.phase == "Terminating"):
        return f"namespace {namespace} is being deleted (Terminating)"
    return None


def check(
    client: Client,
    namespace: str,
    *,
    needs: preflight.Needs | None = None,
    leftovers: bool = True,
    list_version: str | None = None,
    _threads: int = 8,
) -> PoolHealth:
    """``needs`` defaults to what any executor's Deployment needs in a pool namespace; ``leftovers`` False skips
    the search for a former Deployment's objects (see the module docstring for when that is sound).
    ``list_version``: the leftover lists are served no older than this resource version (default: quorum reads)."""
    kinds.warm_up_decoders()
    calls = 1
    try:
        problem = _namespace_problem(client, namespace)
        if problem:
            return PoolHealth(namespace, False, problem, calls=calls)
        lacking, asked = preflight.missing_counted(client, namespace, needs or _pool_needs())
        calls += asked
        if lacking:
            shown = "; ".join(lacking[:8]) + (f"; and {len(lacking) - 8} more" if len(lacking) > 8 else "")
            reason = _refused_access(f"commander lacks {len(lacking)} permission(s) here: {shown}")
            return PoolHealth(namespace, False, reason, calls=calls)
        left = _leftovers(client, namespace, threads=_threads, version=list_version) if leftovers else []
        calls += len(kinds.NAMESPACED_KINDS) if leftovers else 0
    except (ApiError, httpx2.TransportError) as exc:
        raise errors.translate(exc) from exc
    return with_leftovers(PoolHealth(namespace, True, calls=calls), left)


def _refused_access(reason: str) -> str:
    """``reason``, a verdict of missing access, unless the API server was unreachable within
    ``errors.WARMUP_SECONDS``: one that has just restarted refuses what it will allow once its authorization caches
    are loaded (issue 11: installs failed for good with ``403 secrets is forbidden`` though commander had the
    permission). Then the check cannot finish (``errors.TemporaryFailure``): the namespace keeps its recorded state
    and a later pass decides."""
    ago = errors.recently_unreachable()
    if ago is not None:
        raise errors.TemporaryFailure(
            f"{reason}; not taken at its word: the API server was unreachable {ago:.0f} s ago and may still be "
            f"loading its authorization caches, so this is checked again once {errors.WARMUP_SECONDS:.0f} s have "
            "passed"
        )
    return reason


def with_leftovers(verdict: PoolHealth, left: Sequence[str]) -> PoolHealth:
    """``verdict`` (of a check without ``leftovers``), failed when ``left`` names objects of a former Deployment
    (``Kind name (Deployment id)``, as a leftover search or commander's uninstall found them)."""
    if not verdict.ok or not left:
        return verdict
    shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
    reason = f"{len(left)} object(s) of a former Deployment remain: {shown}"
    return PoolHealth(verdict.namespace, False, reason, calls=verdict.calls)


@functools.cache
def _pool_needs() -> preflight.Needs:
    """``preflight.pool_namespace_needs()`` renders every executor's objects (tens of ms): once per process."""
    return preflight.pool_namespace_needs()


@dataclass(frozen=True)
class Target:
    """One namespace of a pass, and whether its check also searches for a former Deployment's objects."""

    namespace: str
    leftovers: bool = True


@dataclass(frozen=True)
class PassResult:
    verdicts: tuple[PoolHealth, ...]
    #: Namespaces whose check could not finish (API server unreachable, throttled...): name -> error. Their
    #: recorded state is left as it was.
    failed: dict[str, str]
    api_calls: int
    seconds: float


def check_many(
    client: Client,
    targets: Sequence[Target],
    *,
    parallel: int = DEFAULT_PARALLEL,
    needs: preflight.Needs | None = None,
    on_verdicts: Callable[[Sequence[PoolHealth]], object] | None = None,
    batch: int = 100,
    batch_seconds: float = 2.0,
    gate: JobGate = GATE,
    stop: threading.Event | None = None,
) -> PassResult:
    """Check every target on at most ``parallel`` threads; a failing check never stops the others.

    ``on_verdicts`` is called in the calling thread with the verdicts as they come, every ``batch`` of them or
    ``batch_seconds`` (whichever first), while the other checks go on: a long first pass over many new namespaces
    offers the first ones within seconds, not when the last is checked. While a job runs (``gate``), fewer checks
    run at once. Once ``stop`` is set (commander is stopping), no further check starts: the checks under way finish
    and are recorded, the targets not checked yet keep their state (the result holds only what was checked), so a
    pass over thousands of namespaces does not hold up a shutdown for minutes."""
    kinds.warm_up_decoders()
    wanted = needs or _pool_needs()
    start = time.perf_counter()
    version, asked = current_version(client, [t.namespace for t in targets if t.leftovers])

    def one(target: Target) -> PoolHealth | tuple[str, str]:
        try:
            with gate.check(parallel):
                return check(
                    client, target.namespace, needs=wanted, leftovers=target.leftovers, list_version=version, _threads=1
                )
        except (errors.TemporaryFailure, errors.CommanderError) as exc:
            return (target.namespace, str(exc))

    verdicts: dict[str, PoolHealth] = {}
    failed: dict[str, str] = {}
    pending: list[PoolHealth] = []
    handed = time.monotonic()
    if targets:
        with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(targets)))) as pool:
            futures = [pool.submit(one, t) for t in targets]
            stopping = False
            for future in as_completed(futures):
                if future.cancelled():
                    continue
                outcome = future.result()
                if isinstance(outcome, PoolHealth):
                    verdicts[outcome.namespace] = outcome
                    pending.append(outcome)
                else:
                    failed[outcome[0]] = outcome[1]
                if on_verdicts and pending and (len(pending) >= batch or time.monotonic() - handed >= batch_seconds):
                    on_verdicts(pending)
                    pending, handed = [], time.monotonic()
                if stop is not None and stop.is_set() and not stopping:
                    stopping = True
                    for waiting in futures:
                        waiting.cancel()  # not started yet: never will; those running finish
    if on_verdicts and pending:
        on_verdicts(pending)
    ordered = [verdicts[t.namespace] for t in targets if t.namespace in verdicts]
    return PassResult(
        verdicts=tuple(ordered),
        failed=failed,
        api_calls=asked + sum(v.calls for v in ordered),
        seconds=time.perf_counter() - start,
    )


def current_version(client: Client, namespaces: Sequence[str], *, tries: int = 3) -> tuple[str | None, int]:
    """The API server's resource version now (a quorum list of at most one Role in one of the first ``namespaces``
    commander may list in), and the requests it took; None when there is nothing to search or no answer."""
    for asked, namespace in enumerate(namespaces[:tries], start=1):
        try:
            listed = client.list(Role, namespace=namespace, chunk_size=1)
            for _ in listed:
                break
            return str(listed.resourceVersion), asked
        except ApiError:  # commander cannot list there (a misconfigured namespace): try the next
            continue
    return None, min(len(namespaces), tries)
