"""``airpool dev``: the local Kubernetes control plane for development and tests."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Run a local Kubernetes control plane (etcd, kube-apiserver with RBAC, kwok).", no_args_is_help=True
)
