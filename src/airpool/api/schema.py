"""The executable schema: ``schema.graphql`` plus the resolvers of every area, built once per process."""

from __future__ import annotations

import functools
from importlib import resources

from ariadne import make_executable_schema
from graphql import GraphQLSchema

from airpool.api import fastpath, scalars
from airpool.api.resolvers import app_config, audit, auth, deployments, logs, people, pool, workspaces

SDL_FILE = "schema.graphql"


def sdl() -> str:
    return resources.files("airpool.api").joinpath(SDL_FILE).read_text(encoding="utf-8")


@functools.cache
def executable_schema() -> GraphQLSchema:
    return make_executable_schema(
        sdl(),
        *scalars.SCALARS,
        *auth.BINDABLES,
        *app_config.BINDABLES,
        *workspaces.BINDABLES,
        *deployments.BINDABLES,
        *pool.BINDABLES,
        *audit.BINDABLES,
        *people.BINDABLES,
        *logs.BINDABLES,
        convert_names_case=True,
    )


#: Root fields ``api.fastpath`` may answer without graphql-core's per-field completion (long lists of flat objects).
SHORTCUTS = {"availableNamespaces": fastpath.LeafList(fields=frozenset({"name"}), load=pool.available)}

#: Root fields whose resolvers read only the process's configuration: no database, no Kubernetes, no file or
#: network I/O, and nothing of the request (caller, headers). An operation made of them alone runs on the event loop,
#: and its answer is remembered by request body (``graphql_http``). Add a field here only if its resolver (and
#: everything it calls) can never block and answers the same for every caller.
NON_BLOCKING = frozenset({"appConfig"})
