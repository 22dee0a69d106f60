"""The web UI: server-rendered pages (Jinja2) over ``airpool.services``, mounted into the API's ASGI app.

Thin by rule: pages read a form, call a service, render a template. They never touch the database or Kubernetes
(import contracts in pyproject.toml). ``routes(platform)`` is the one entry point the app factory uses.
"""

from airpool.ui.routes import routes

__all__ = ["routes"]
