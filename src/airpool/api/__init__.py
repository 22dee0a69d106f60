"""The HTTP front end: Houston-compatible GraphQL at ``/v1``, health and metrics, in one ASGI app (``app.create_app``).

Thin by rule: resolvers read arguments, call one ``airpool.services`` function with the caller, and return its
view; errors become GraphQL errors in one place (``errors``). The api never touches the database or Kubernetes
(import contracts in pyproject.toml).
"""
