"""Use-cases and transactions: every business rule that touches the database lives here.

Callers (GraphQL resolvers, the web UI, CLI admin commands, commander) hold one ``platform.Platform`` (config,
database, clock) and call plain functions with it, the caller, and keyword arguments::

    from airpool.services import auth, deployments, platform, pool

    plat = platform.connect(config)              # raises schema.SchemaMismatch when the schema is not current
    pool.sync(plat)                              # at start-up and after a config reload
    actor = auth.authenticate(plat, token)       # session token or API token ("Bearer ..." accepted)
    dep = deployments.create(plat, actor, workspace_id=ws, label="Sales", executor="CeleryExecutor")

Modules:

- ``platform``: ``Platform`` and ``connect``.  ``schema``: ``upgrade``, ``check``, ``require_current``.
- ``auth``: sign-up, login, ``authenticate``, API tokens, the admin from environment variables.
- ``access``: ``Actor``, ``Role`` and the checks (viewer reads; editor creates/deletes; admin manages members;
  system admin everything). Whatever the caller may not see raises ``NotFound`` naming only the id they sent.
- ``workspaces``, ``deployments``: the user-facing use-cases.
- ``pool``: available namespaces, admin status, sync from config, health verdicts, early release.
- ``commander_jobs``: the job queue commander leases from and reports to (status, completion, failure).
- ``cleanup``: final step of soft deletes; ``audit``: the audit trail; ``metrics``: Prometheus collectors.
- ``views``: the frozen read types every function returns (never ORM rows).

Every function runs its own transaction(s); nothing is half-written on error. User mistakes raise
``airpool.domain.errors.AirpoolError`` subclasses with a message fit to show as is (a database that is down too:
``schema.DatabaseUnavailable``); anything else is a bug. The empty pool is ``pool.PoolEmpty`` (a
``PoolExhausted``) whose message starts "no kubernetes namespaces are available" and which carries its counts.

Commander's side: ``commander_jobs.lease`` -> work (``heartbeat`` meanwhile) -> ``complete`` or
``fail(temporary=...)``; ``report_status`` for Deployment health, ``pool.record_health`` for namespace access.
"""
