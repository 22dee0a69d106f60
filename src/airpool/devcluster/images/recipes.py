"""What each image the dev cluster runs is made of, as data: the builder (``build``) and the Dockerfile generator
(``dockerfile``) both read these recipes and nothing else.

An image is one Debian root filesystem (a ``Base``, built once by mmdebstrap and shared as the first layer) plus
one layer of its own: Debian packages installed on top, files copied in, a Python virtualenv, a Go binary, and a
few shell lines run as root inside the image. The result must honour the same contract as the public image the
rendered Deployment objects name (entrypoint, user, environment), so the dev cluster can run them unchanged.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

#: Repository root: recipes read files from tools/images (constraints, entrypoint scripts, Go modules).
REPO_ROOT = Path(__file__).resolve().parents[4]
TOOLS_DIR = REPO_ROOT / "tools" / "images"

#: Every local image is named ``localhost/airpool/<name>:<tag>``: ``localhost/`` can never be pulled from a registry.
LOCAL_REGISTRY = "localhost/airpool"

MIRROR = "http://deb.debian.org/debian"

#: dpkg leaves these out of every image (mmdebstrap writes them into /etc/dpkg/dpkg.cfg.d, so they also hold for
#: the packages an image installs on top of its base).
DPKG_EXCLUDES = (
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/info/*",
    "/usr/share/locale/*",
    "/usr/share/lintian/*",
)
DPKG_INCLUDES = ("/usr/share/doc/*/copyright",)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Base:
    """A minimal Debian root filesystem (``mmdebstrap --variant=minbase``): the shared first layer of images."""

    name: str
    suite: str
    packages: tuple[str, ...]
    mirror: str = MIRROR


@dataclasses.dataclass(frozen=True, kw_only=True)
class Venv:
    """A Python virtualenv made with the base's python3, filled by pip (no cache) from PyPI."""

    path: str
    requirements: tuple[str, ...]
    #: A pip constraints file under tools/images, pinning every transitive dependency.
    constraints: str | None = None
    #: Install the project's own wheel, built from this checkout (airpool's image).
    project_wheel: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class GoBinary:
    """A static binary built on the host from a wrapper module under tools/images (``CGO_ENABLED=0``)."""

    module_dir: str  # under tools/images
    package: str
    target: str  # path inside the image
    #: ``-X`` flags that stamp the version into the binary: ``{version}`` is the version the go.mod pins.
    version_ldflags: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Image:
    name: str
    tag: str
    base: Base
    summary: str
    #: Shell lines run as root inside the image before the packages are installed (users with fixed ids).
    pre_install: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    #: Files copied into the image: path inside the image -> (file under tools/images/files, mode).
    files: tuple[tuple[str, str, int], ...] = ()
    venv: Venv | None = None
    go: GoBinary | None = None
    #: Shell lines run as root inside the image after everything else (directories, ownership).
    post_install: tuple[str, ...] = ()
    user: str = "0:0"
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    workdir: str = "/"
    #: A command that prints the image's version when run inside it (a check that the image works).
    smoke: tuple[str, ...] = ()

    @property
    def repository(self) -> str:
        return f"{LOCAL_REGISTRY}/{self.name}"

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"

    @property
    def key_name(self) -> str:
        """``name:tag`` as the CLI and the progress lines show it."""
        return f"{self.name}:{self.tag}"


BOOKWORM_PYTHON = Base(
    name="bookworm-python",
    suite="bookworm",
    # Python 3.11 runs both Airflow 2.11 (< 3.13) and Airflow 3; libpq5 for psycopg, dumb-init as PID 1 like the
    # official Airflow image, tzdata for Airflow's time zones.
    packages=("python3", "python3-venv", "ca-certificates", "libpq5", "dumb-init", "tzdata"),
)

TRIXIE = Base(
    name="trixie",
    suite="trixie",
    # trixie, not bookworm, for the helpers: its PgBouncer 1.24 tracks prepared statements (max_prepared_statements,
    # since 1.21), which psycopg 3 needs behind PgBouncer in transaction mode; bookworm's 1.18 does not.
    packages=("ca-certificates",),
)

BASES = (BOOKWORM_PYTHON, TRIXIE)

AIRFLOW_UID = 50000
AIRFLOW_HOME = "/opt/airflow"
AIRFLOW_VENV = "/opt/airflow-venv"
#: Airflow 3 and the supported 2.x; each with the extras the three executors and airpool's rendered settings need:
#: postgres (metadata database), celery + redis (CeleryExecutor), cncf-kubernetes (KubernetesExecutor), statsd
#: (metrics), fab (the auth manager with users).
AIRFLOW_VERSIONS = ("3.3.2", "2.11.2")
AIRFLOW_EXTRAS = {
    "3": "postgres,celery,cncf-kubernetes,redis,statsd,fab",
    "2": "postgres,celery,cncf-kubernetes,redis,statsd",
}


def airflow_requirement(version: str) -> str:
    return f"apache-airflow[{AIRFLOW_EXTRAS[version.split('.')[0]]}]=={version}"


def airflow_constraints(version: str) -> str:
    """The constraints file (under tools/images) that pins every package of this Airflow version's image."""
    return f"airflow/constraints-{version}-python3.11.txt"


def airflow(version: str) -> Image:
    """Airflow as the official apache/airflow image presents itself to Kubernetes: ``args: [airflow, ...]`` run by
    its entrypoint under dumb-init, user 50000 with group 0, AIRFLOW_HOME=/opt/airflow, ``airflow`` on PATH."""
    return Image(
        name="airflow",
        tag=version,
        base=BOOKWORM_PYTHON,
        summary=f"Apache Airflow {version} with {AIRFLOW_EXTRAS[version.split('.')[0]]}",
        pre_install=(
            f"useradd --uid {AIRFLOW_UID} --gid 0 --home-dir /home/airflow --create-home --shell /bin/bash airflow",
        ),
        files=(("/entrypoint", "airflow-entrypoint.sh", 0o755),),
        venv=Venv(
            path=AIRFLOW_VENV,
            requirements=(airflow_requirement(version),),
            constraints=airflow_constraints(version),
        ),
        post_install=(
            f"mkdir -p {AIRFLOW_HOME}/dags {AIRFLOW_HOME}/logs {AIRFLOW_HOME}/plugins",
            f"chown -R {AIRFLOW_UID}:0 {AIRFLOW_HOME} /home/airflow",
            # group 0 may write like the user (any uid with group 0 works, as in the official image)
            f"chmod -R g=u {AIRFLOW_HOME} /home/airflow",
        ),
        user=f"{AIRFLOW_UID}:0",
        entrypoint=("/usr/bin/dumb-init", "--", "/entrypoint"),
        env=(
            ("PATH", f"{AIRFLOW_VENV}/bin:{DEFAULT_PATH}"),
            ("AIRFLOW_HOME", AIRFLOW_HOME),
            ("AIRFLOW_USER_HOME_DIR", "/home/airflow"),
            ("AIRFLOW_UID", str(AIRFLOW_UID)),
            ("AIRFLOW_VERSION", version),
            ("DUMB_INIT_SETSID", "1"),
            ("LANG", "C.UTF-8"),
            ("LC_ALL", "C.UTF-8"),
            ("PYTHONUNBUFFERED", "1"),
        ),
        workdir=AIRFLOW_HOME,
        smoke=("airflow", "version"),
    )


POSTGRES_MAJOR = "17"
POSTGRES = Image(
    name="postgres",
    tag=POSTGRES_MAJOR,
    base=TRIXIE,
    summary=f"PostgreSQL {POSTGRES_MAJOR} (Debian), initialised like the official image from POSTGRES_* variables",
    pre_install=(
        # the official image's fixed ids; Debian's package reuses an existing postgres user
        "groupadd --system --gid 999 postgres",
        "useradd --system --uid 999 --gid 999 --home-dir /var/lib/postgresql --shell /bin/bash postgres",
        # the package must not create a cluster of its own: the entrypoint creates one in PGDATA
        "mkdir -p /etc/postgresql-common/createcluster.d",
        "echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/airpool.conf",
    ),
    packages=(f"postgresql-{POSTGRES_MAJOR}",),
    files=(("/usr/local/bin/docker-entrypoint.sh", "postgres-entrypoint.sh", 0o755),),
    post_install=(
        "mkdir -p /var/lib/postgresql/data /var/run/postgresql",
        "chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql",
        "chmod 3777 /var/run/postgresql",
    ),
    user="0:0",
    entrypoint=("/usr/local/bin/docker-entrypoint.sh",),
    cmd=("postgres",),
    env=(
        ("PATH", f"/usr/lib/postgresql/{POSTGRES_MAJOR}/bin:{DEFAULT_PATH}"),
        ("PGDATA", "/var/lib/postgresql/data"),
        ("LANG", "C.UTF-8"),
    ),
    smoke=("postgres", "--version"),
)

REDIS = Image(
    name="redis",
    tag="8.0",
    base=TRIXIE,
    summary="Redis 8.0 (Debian)",
    pre_install=(
        "groupadd --system --gid 999 redis",
        "useradd --system --uid 999 --gid 999 --home-dir /data --no-create-home --shell /usr/sbin/nologin redis",
    ),
    packages=("redis-server",),
    post_install=("mkdir -p /data", "chown redis:redis /data"),
    user="999:999",
    entrypoint=("redis-server",),
    env=(("PATH", DEFAULT_PATH),),
    workdir="/data",
    smoke=("redis-server", "--version"),
)

PGBOUNCER = Image(
    name="pgbouncer",
    tag="1.24",
    base=TRIXIE,
    summary="PgBouncer 1.24 (Debian 13: max_prepared_statements for psycopg 3 in transaction mode)",
    packages=("pgbouncer",),
    # The rendered Deployment passes ``-u nobody <ini>``: PgBouncer starts as root and drops to nobody itself.
    user="0:0",
    entrypoint=("/usr/sbin/pgbouncer",),
    env=(("PATH", DEFAULT_PATH),),
    smoke=("/usr/sbin/pgbouncer", "--version"),
)

STATSD_EXPORTER = Image(
    name="statsd-exporter",
    tag="v0.28.0",
    base=TRIXIE,
    summary="Prometheus statsd_exporter, built from its Go module",
    go=GoBinary(
        module_dir="statsd-exporter",
        package="github.com/prometheus/statsd_exporter",
        target="/bin/statsd_exporter",
        version_ldflags=("github.com/prometheus/common/version.Version={version}",),
    ),
    user="65534:65534",
    entrypoint=("/bin/statsd_exporter",),
    env=(("PATH", DEFAULT_PATH),),
    smoke=("/bin/statsd_exporter", "--version"),
)

#: git-sync's own user id in the public image (the rendered containers run as it).
GIT_SYNC_UID = 65533
GIT_SYNC = Image(
    name="git-sync",
    tag="v4-compatible",
    base=TRIXIE,
    summary=(
        "airpool's stand-in for git-sync v4 (git and ssh from Debian, tools/images/files/git-sync.sh): the part of "
        "git-sync's interface airpool renders; the Go module proxy does not serve k8s.io/git-sync"
    ),
    pre_install=(
        f"groupadd --gid {GIT_SYNC_UID} git-sync",
        f"useradd --uid {GIT_SYNC_UID} --gid {GIT_SYNC_UID} --home-dir /tmp --no-create-home --shell /usr/sbin/nologin "
        "git-sync",
    ),
    packages=("git", "openssh-client"),
    files=(("/git-sync", "git-sync.sh", 0o755),),
    # the worktree it publishes is read by Airflow's user, whoever owns the volume
    post_install=("git config --system --add safe.directory '*'",),
    user=f"{GIT_SYNC_UID}:{GIT_SYNC_UID}",
    entrypoint=("/git-sync",),
    env=(("PATH", DEFAULT_PATH), ("HOME", "/tmp"), ("LANG", "C.UTF-8")),
    smoke=("/git-sync", "--version"),
)

#: Test image: an SSH git server for the real-node git-sync tests (tests/e2e/test_realnode_git_sync.py).
GIT_SERVER = Image(
    name="git-server",
    tag="1",
    base=TRIXIE,
    summary="test image: an SSH git server (OpenSSH, git-shell) for the real-node git-sync tests",
    pre_install=("useradd --uid 1000 --create-home --home-dir /home/git --shell /usr/bin/git-shell git",),
    packages=("git", "openssh-server"),
    files=(("/usr/local/bin/git-server", "git-server-entrypoint.sh", 0o755),),
    post_install=(
        "rm -f /etc/ssh/ssh_host_*",  # the test gives the host key (its known_hosts line is then known)
        "git config --system --add safe.directory '*'",  # repositories on a volume owned by another user
        "passwd -u git >/dev/null 2>&1 || usermod -p '*' git",  # a locked account may not log in, even with a key
    ),
    user="0:0",
    entrypoint=("/usr/local/bin/git-server",),
    env=(("PATH", DEFAULT_PATH), ("LANG", "C.UTF-8")),
    smoke=("git", "--version"),
)

AIRPOOL_UID = 10001
AIRPOOL = Image(
    name="airpool",
    tag="dev",
    base=BOOKWORM_PYTHON,
    summary="airpool itself: the project's wheel in a virtualenv, non-root, read-only root filesystem",
    pre_install=(
        f"groupadd --gid {AIRPOOL_UID} airpool",
        f"useradd --uid {AIRPOOL_UID} --gid {AIRPOOL_UID} --home-dir /home/airpool --create-home "
        "--shell /usr/sbin/nologin airpool",
    ),
    venv=Venv(path="/opt/airpool", requirements=(), project_wheel=True),
    user=f"{AIRPOOL_UID}:{AIRPOOL_UID}",
    entrypoint=("/opt/airpool/bin/airpool",),
    cmd=("--help",),
    env=(
        ("PATH", f"/opt/airpool/bin:{DEFAULT_PATH}"),
        ("LANG", "C.UTF-8"),
        # nothing is written next to the code: the root filesystem may be read-only
        ("PYTHONDONTWRITEBYTECODE", "1"),
        ("PYTHONUNBUFFERED", "1"),
        ("HOME", "/home/airpool"),
    ),
    workdir="/home/airpool",
    smoke=("/opt/airpool/bin/airpool", "--help"),
)

IMAGES: tuple[Image, ...] = (
    *(airflow(version) for version in AIRFLOW_VERSIONS),
    POSTGRES,
    REDIS,
    PGBOUNCER,
    STATSD_EXPORTER,
    GIT_SYNC,
    GIT_SERVER,
    AIRPOOL,
)


def find(key_name: str) -> Image:
    """An image by ``name:tag`` or by ``name`` alone when only one tag exists."""
    matches = [image for image in IMAGES if key_name in (image.key_name, image.name)]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(image.key_name for image in IMAGES)
    if matches:
        raise LookupError(f"{key_name!r} names {len(matches)} images; pick one of: {known}")
    raise LookupError(f"no image {key_name!r}; the images are: {known}")


def local_references() -> dict[str, str]:
    """What the dev cluster points values.yaml at, by the key of ``airpool.images`` in values.yaml: ``airflow`` is a
    repository only (its tag is each Deployment's Airflow version); the others are full references."""
    return {
        "airflow": f"{LOCAL_REGISTRY}/airflow",
        "postgresql": POSTGRES.reference,
        "redis": REDIS.reference,
        "pgbouncer": PGBOUNCER.reference,
        "statsd": STATSD_EXPORTER.reference,
        "gitSync": GIT_SYNC.reference,
        "airpool": AIRPOOL.reference,
    }


def local_values() -> dict[str, dict[str, str]]:
    """The same as values.yaml ``airpool.images`` entries (``repository``, and ``tag`` except for Airflow)."""
    out: dict[str, dict[str, str]] = {}
    for key, reference in local_references().items():
        repository, _, tag = reference.rpartition(":") if key != "airflow" else (reference, "", "")
        out[key] = {"repository": repository, **({"tag": tag} if tag else {})}
    return out


def by_reference(reference: str) -> Image:
    """The recipe of a local image reference (``localhost/airpool/redis:8.0``)."""
    for image in IMAGES:
        if image.reference == reference:
            return image
    raise LookupError(f"{reference} is not an image airpool builds; they are: {', '.join(i.reference for i in IMAGES)}")
