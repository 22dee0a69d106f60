"""``airpool dev``: the local Kubernetes control plane for development and tests.

Thin: every command is one call into ``airpool.devcluster``; its ``DevClusterError`` messages are printed as they
are (``exits.handled``), never as a traceback.
"""

from __future__ import annotations

import enum
import os
import time
from pathlib import Path

import typer

from airpool.cli import exits, hints

app = typer.Typer(
    help="Run a local Kubernetes control plane (etcd, kube-apiserver with RBAC, kwok).", no_args_is_help=True
)

DEFAULT_DATA_DIR = Path(".airpool/devcluster")

DataDir = typer.Option(
    DEFAULT_DATA_DIR, "--data-dir", help="Where the cluster keeps its PKI, etcd data, logs and kubeconfigs."
)


def _dir_hint(data_dir: Path) -> str:
    return "" if data_dir == DEFAULT_DATA_DIR else f" --data-dir {data_dir}"


@app.command()
@exits.handled
def build(
    images_too: bool = typer.Option(
        os.geteuid() == 0,
        "--images/--no-images",
        help="Also build the real node's container images (`airpool dev images`); default: when running as root.",
    ),
) -> None:
    """Build the control plane (etcd, kube-apiserver, ..., kwok) and the real node's programs into the cache (once),
    and, as root, the container images a real node runs (`airpool dev images`)."""
    from airpool.devcluster import build as devbuild

    started = time.monotonic()
    built = devbuild.build_all(report=typer.echo)
    if images_too:
        from airpool.devcluster import images as devimages

        built = any(not item.cached for item in devimages.build(devimages.IMAGES, report=typer.echo)) or built
    typer.echo(f"done in {time.monotonic() - started:.0f} s" if built else "nothing to build")


class Nodes(enum.StrEnum):
    FAKE = "fake"
    REAL = "real"
    AUTO = "auto"


@app.command()
@exits.handled
def images(
    names: list[str] = typer.Argument(
        None, help="Only these images, by name or name:tag (default: every image the dev cluster runs)."
    ),
    jobs: int = typer.Option(2, "--jobs", min=1, max=8, help="Build up to this many images at once."),
    show: bool = typer.Option(False, "--list", help="List the images, their local names and cache state; build none."),
    dockerfile: str | None = typer.Option(
        None, "--dockerfile", metavar="IMAGE", help="Print a Dockerfile equivalent of IMAGE's recipe; build none."
    ),
) -> None:
    """Build the images the real node runs (Airflow, PostgreSQL, Redis, PgBouncer, StatsD exporter, airpool) into
    OCI archives in the cache; a second run builds nothing."""
    from airpool.devcluster import images as devimages
    from airpool.devcluster.images import dockerfile as render

    try:
        selected = [devimages.find(name) for name in names] if names else list(devimages.IMAGES)
        if dockerfile is not None:
            typer.echo(render.dockerfile(devimages.find(dockerfile)), nl=False)
            return
    except LookupError as exc:
        raise exits.fail(str(exc.args[0])) from None
    if show:
        for image in selected:
            path = devimages.archive(image)
            state = f"cached {path}" if path else "not built"
            typer.echo(f"{image.key_name:<26} {image.reference:<44} {state}")
        return
    started = time.monotonic()
    built = devimages.build(selected, report=typer.echo, jobs=jobs)
    fresh = [item for item in built if not item.cached]
    typer.echo(f"done in {time.monotonic() - started:.0f} s" if fresh else "nothing to build")
    for item in built:
        typer.echo(f"  {item.image.reference:<44} {item.size / 1e6:>6.0f} MB  {item.archive}")


@app.command()
@exits.handled
def up(
    data_dir: Path = DataDir,
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="Serve the API on this port (default: a free one)."
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", help="Seconds to wait for every component to be healthy (default 90, 300 with a real node)."
    ),
    nodes: Nodes | None = typer.Option(
        None,
        "--nodes",
        help="fake: kwok's nodes only (pods turn Running without containers). real: also a real node "
        "(containerd, kubelet, kube-proxy, CoreDNS) that runs containers. auto: real when this machine can run "
        "containers, otherwise fake, saying why. Default: as the running cluster has it, else fake.",
    ),
    real_node: bool = typer.Option(False, "--real-node", help="Same as --nodes real."),
) -> None:
    """Start the control plane in the background and wait until it is healthy."""
    from airpool import devcluster
    from airpool.devcluster import realnode

    if real_node:
        nodes = Nodes.REAL
    if nodes is None:
        running = all(component.healthy for component in devcluster.status(data_dir))
        nodes = Nodes.REAL if running and devcluster.info(data_dir).real_node else Nodes.FAKE
    with_real_node = nodes is Nodes.REAL
    if nodes is Nodes.AUTO:
        reason = realnode.why_not()
        with_real_node = reason is None
        if reason is not None:
            typer.echo(realnode.explain(reason), err=True)
    if timeout is None:
        timeout = 300.0 if with_real_node else 90.0
    started = time.monotonic()
    was_up = all(component.healthy for component in devcluster.status(data_dir))
    if with_real_node:
        typer.echo("starting the control plane and a real node (containerd, kubelet, kube-proxy, CoreDNS) ...")
    try:
        cluster = devcluster.start(data_dir, port=port, timeout=timeout, real_node=with_real_node)
    except realnode.NodeBusy as busy:
        if nodes is not Nodes.AUTO:
            raise
        typer.echo(f"{busy.message}\nStarting with fake nodes only.", err=True)
        cluster = devcluster.start(data_dir, port=port, timeout=timeout, real_node=False)
    took = "already running" if was_up else f"up in {time.monotonic() - started:.1f} s"
    typer.echo(f"dev cluster {took}: API server {cluster.server}")
    if cluster.real_node:
        typer.echo(f"  real node:            {realnode.NODE_NAME} (pods run in containers; fake nodes are tainted)")
        imported, missing = realnode.import_built_images()
        typer.echo(f"  images:               {imported} imported into the node")
        if missing:
            typer.echo(
                f"  not built yet:        {', '.join(missing)} (build them with `{hints.command('dev images')}`)"
            )
    typer.echo(f"  admin kubeconfig:     {cluster.admin_kubeconfig}")
    typer.echo(f"  commander kubeconfig: {cluster.commander_kubeconfig}")
    typer.echo(f"try: kubectl --kubeconfig {cluster.admin_kubeconfig} get nodes")
    typer.echo(f"stop it with: airpool dev down{_dir_hint(data_dir)}")


#: The values overlays of the dev cluster, by node kind (see each file's header).
OVERLAYS = {True: "values-dev-realnode.yaml", False: "values-dev-fakenodes.yaml"}


@app.command()
@exits.handled
def values(data_dir: Path = DataDir) -> None:
    """Print the path of the values overlay that fits the running dev cluster: images built here on a real node,
    or the settings of simulated nodes (``-f examples/values.yaml -f "$(airpool dev values)"``)."""
    from airpool import devcluster

    if not all(component.healthy for component in devcluster.status(data_dir)):
        raise exits.fail(f"no dev cluster is running: start it with `airpool dev up{_dir_hint(data_dir)}`.")
    examples = Path(__file__).resolve().parents[3] / "examples"
    typer.echo(str(examples / OVERLAYS[devcluster.info(data_dir).real_node]))


@app.command()
@exits.handled
def down(data_dir: Path = DataDir) -> None:
    """Stop every process ``dev up`` started, undo the real node's changes to the host; keep the data."""
    from airpool import devcluster

    was_running = any(component.running for component in devcluster.status(data_dir))
    devcluster.stop(data_dir)
    typer.echo("dev cluster stopped" if was_running else f"no dev cluster was running in {data_dir}")


@app.command()
@exits.handled
def status(data_dir: Path = DataDir) -> None:
    """Show each component: running or not, healthy or not, its log. Exits 1 unless all are healthy."""
    from airpool import devcluster

    components = devcluster.status(data_dir)
    for component in components:
        state = "healthy" if component.healthy else "UNHEALTHY" if component.running else "stopped"
        pid = f"pid {component.pid}" if component.pid else "-"
        typer.echo(f"{component.name:<24} {state:<10} {pid:<11} {component.log}")
    if not all(component.healthy for component in components):
        raise typer.Exit(exits.ERROR)
    typer.echo(f"API server {devcluster.info(data_dir).server}")


@app.command()
@exits.handled
def kubeconfig(
    data_dir: Path = DataDir,
    commander: bool = typer.Option(False, "--commander", help="Commander's token kubeconfig instead of admin's."),
) -> None:
    """Print the path of the admin (or commander) kubeconfig, e.g. ``export KUBECONFIG=$(airpool dev kubeconfig)``."""
    from airpool import devcluster

    cluster = devcluster.info(data_dir)
    path = cluster.commander_kubeconfig if commander else cluster.admin_kubeconfig
    if not path.exists():
        raise exits.fail(f"{path} does not exist yet: start the cluster with `airpool dev up{_dir_hint(data_dir)}`.")
    typer.echo(str(path))
