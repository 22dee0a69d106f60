"""Container images for the dev cluster's real node, built on this machine (no registry is reachable).

- ``oci``: write an OCI image archive from a root filesystem directory or a set of files, and import it into a
  containerd (``oci.write_image``, ``oci.Layer``, ``oci.ImageConfig``, ``oci.import_image``).
- ``node``: the images the node itself needs, the pause image (sandbox) and a busybox image (the volume
  provisioner's helper pods), cached under ``~/.cache/airpool/images``.
- ``recipes`` + ``builder``: the images a Deployment (and airpool itself) runs, built by ``airpool dev images``
  from Debian packages, PyPI and Go modules, cached by a key of their inputs (docs/images.md)::

    from airpool.devcluster import images

    built = images.build(images.IMAGES, report=print)   # a second call builds nothing
    built[0].archive            # ~/.cache/airpool/images/built/airflow-3.3.2-<key>/image.oci.tar
    images.local_references()   # {"airflow": "localhost/airpool/airflow", "redis": "localhost/airpool/redis:8.0", ...}

  ``dockerfile`` renders the same recipe as a Dockerfile for other tooling; ``sandbox`` runs a command inside a
  built image without a container runtime (the checks).

To run an image on the real node, import its archive into the node's containerd with
``airpool.devcluster.realnode.import_image(archive)`` (or the pytest fixture's ``import_image``) and
name its reference in the pod with ``imagePullPolicy: Never`` or ``IfNotPresent``: nothing is ever pulled, a
missing image fails at once.
"""

from __future__ import annotations

from airpool.devcluster.images.builder import Built, archive, build, cache_dir, image_key
from airpool.devcluster.images.recipes import (
    AIRFLOW_VERSIONS,
    AIRPOOL,
    IMAGES,
    LOCAL_REGISTRY,
    Image,
    airflow,
    by_reference,
    find,
    local_references,
    local_values,
)

__all__ = [
    "AIRFLOW_VERSIONS",
    "AIRPOOL",
    "IMAGES",
    "LOCAL_REGISTRY",
    "Built",
    "Image",
    "airflow",
    "archive",
    "build",
    "by_reference",
    "cache_dir",
    "find",
    "image_key",
    "local_references",
    "local_values",
]
