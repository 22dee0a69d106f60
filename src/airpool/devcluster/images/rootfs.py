"""Root filesystems: a Debian base by mmdebstrap, and an image's own changes made inside an overlay of it.

An image step runs in a private mount namespace (``unshare --mount``): the overlay (base below, the image's upper
directory on top), /proc, /dev, and tmpfs on /tmp and apt's lists and archive cache are mounted there only, so
nothing stays mounted on the host when the step ends or dies, and apt's downloads and pip's build files never
reach the image. The host's resolv.conf and CA bundle are lent for the step (the CA bundle on the tmpfs) and are
not part of the result. Services are never started by package scripts (policy-rc.d answers 101).
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from airpool.devcluster.images.recipes import DPKG_EXCLUDES, DPKG_INCLUDES, Base

#: Where a step finds its staged inputs inside the image (on the step's tmpfs: never part of the image).
STAGE_IN_IMAGE = "/tmp/airpool-build"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def mmdebstrap_argv(base: Base, target: Path) -> list[str]:
    argv = [
        "mmdebstrap",
        "--variant=minbase",
        "--mode=root",
        "--format=directory",
        '--aptopt=APT::Install-Recommends "false"',
        '--aptopt=Acquire::Retries "3"',
        # the host's name and resolver have no place in an image; the runtime mounts its own over these
        '--customize-hook=: > "$1/etc/resolv.conf"; : > "$1/etc/hostname"',
    ]
    argv += [f"--dpkgopt=path-exclude={pattern}" for pattern in DPKG_EXCLUDES]
    argv += [f"--dpkgopt=path-include={pattern}" for pattern in DPKG_INCLUDES]
    if base.packages:
        argv.append(f"--include={','.join(base.packages)}")
    argv += [base.suite, str(target), base.mirror]
    return argv


def run_logged(argv: list[str], *, log: Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> int:
    """Run argv (no stdin) with stdout and stderr appended to log; its exit code."""
    with log.open("a") as out:
        out.write(f"$ {shlex.join(argv)}\n")
        out.flush()
        result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, env=env)
    return result.returncode


def step_script(*, lower: Path, upper: Path, work: Path, merged: Path, stage: Path) -> str:
    """The bash script (run under ``unshare --mount``) that mounts the overlay, runs the staged ``inner.sh`` as root
    inside the image with bash -euo pipefail, and takes back everything it lent."""
    q = shlex.quote
    m = q(str(merged))
    env = " ".join(
        [
            f"PATH={CHROOT_PATH}",
            "HOME=/root",
            "LANG=C.UTF-8",
            "DEBIAN_FRONTEND=noninteractive",
            f"PIP_CERT={STAGE_IN_IMAGE}/ca.crt",
            f"SSL_CERT_FILE={STAGE_IN_IMAGE}/ca.crt",
            "PIP_NO_CACHE_DIR=1",
            "PIP_DISABLE_PIP_VERSION_CHECK=1",
            "PIP_NO_INPUT=1",
            "PIP_PROGRESS_BAR=off",
        ]
    )
    # full copies in the upper directory (no metacopy, no redirects): it must hold the layer by itself
    options = f"lowerdir={lower},upperdir={upper},workdir={work},index=off,metacopy=off,redirect_dir=off"
    return f"""set -euo pipefail
mount --make-rprivate /
mount -t overlay overlay -o {q(options)} {m}
mount -t proc proc {m}/proc
mount --rbind /dev {m}/dev
mount -t tmpfs -o mode=1777 tmpfs {m}/tmp
mount -t tmpfs tmpfs {m}/var/lib/apt/lists
mount -t tmpfs tmpfs {m}/var/cache/apt
mkdir -p {m}/var/lib/apt/lists/partial {m}/var/cache/apt/archives/partial
cp -a {q(str(stage))}/. {m}{STAGE_IN_IMAGE}/
cp {q(str(HOST_CA_BUNDLE))} {m}{STAGE_IN_IMAGE}/ca.crt
mount --bind /etc/resolv.conf {m}/etc/resolv.conf
lent_policy=0
if [ ! -e {m}/usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\\nexit 101\\n' > {m}/usr/sbin/policy-rc.d; chmod 755 {m}/usr/sbin/policy-rc.d; lent_policy=1
fi
status=0
chroot {m} /usr/bin/env -i {env} /bin/bash -euo pipefail {STAGE_IN_IMAGE}/inner.sh || status=$?
if [ "$lent_policy" = 1 ]; then rm -f {m}/usr/sbin/policy-rc.d; fi
umount -R {m}
exit $status
"""


def run_step(*, lower: Path, upper: Path, work: Path, merged: Path, stage: Path, inner: str, log: Path) -> int:
    """Run ``inner`` (bash, as root inside the image) with its changes landing in ``upper``; the exit code."""
    for directory in (upper, work, merged):
        directory.mkdir(parents=True, exist_ok=True)
    (stage / "inner.sh").write_text(inner)
    outer = stage.parent / "outer.sh"
    outer.write_text(step_script(lower=lower, upper=upper, work=work, merged=merged, stage=stage))
    return run_logged(["unshare", "--mount", "--", "bash", str(outer)], log=log)
