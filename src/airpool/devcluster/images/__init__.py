"""Container images for the dev cluster's real node, built on this machine (no registry is reachable).

- ``oci``: write an OCI image archive from a root filesystem directory or a set of files, and import it into a
  containerd (``oci.write_image``, ``oci.Layer``, ``oci.ImageConfig``, ``oci.import_image``).
- ``node``: the images the node itself needs, the pause image (sandbox) and a busybox image (the volume
  provisioner's helper pods), cached under ``~/.cache/airpool/images``.

To run an image on the real node, import its archive into the node's containerd with
``airpool.devcluster.realnode.import_image(archive)`` (or the pytest fixture's ``import_image``) and
name its reference in the pod with ``imagePullPolicy: Never`` or ``IfNotPresent``: nothing is ever pulled, a
missing image fails at once.
"""
