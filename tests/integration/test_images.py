"""``airpool dev images``: every image the real node runs, built here into an OCI archive that honours the contract
of the public image it stands in for, and cached by its inputs.

The first test session on a machine builds them (minutes; scripts/setup.sh usually has already), every later one
finds them cached. The checks run commands inside the built images (``sandbox``: unpacked layers, chroot, the
image's user, entrypoint and environment, a network namespace of its own)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from airpool.devcluster import images
from airpool.devcluster.images import recipes, sandbox

AIRPOOL = str(Path(sys.executable).parent / "airpool")
BUILD_TIMEOUT = 3600

# The module's first test waits for the images: scripts/test.sh builds them beside the earlier tests (a cold
# build takes tens of minutes), and the builder's lock makes this one wait for that build.
pytestmark = [pytest.mark.images, pytest.mark.slow, pytest.mark.timeout(BUILD_TIMEOUT)]


@pytest.fixture(scope="module")
def built() -> dict[str, images.Built]:
    lines: list[str] = []
    results = images.build(images.IMAGES, report=lines.append)
    return {item.image.key_name: item for item in results}


Unpacked = tuple[Path, dict[str, object]]


@pytest.fixture(scope="module")
def unpacked(built: dict[str, images.Built]) -> Iterator[Callable[[str], Unpacked]]:
    """Each image's root filesystem, unpacked once for the module (as a runtime would: whiteouts applied)."""
    with contextlib.ExitStack() as stack:
        done: dict[str, Unpacked] = {}

        def get(key_name: str) -> Unpacked:
            if key_name not in done:
                done[key_name] = stack.enter_context(sandbox.unpacked(built[key_name].archive))
            return done[key_name]

        yield get


def _blob(tar: tarfile.TarFile, digest: str) -> bytes:
    handle = tar.extractfile("blobs/sha256/" + digest.removeprefix("sha256:"))
    assert handle is not None, digest
    return handle.read()


@pytest.mark.parametrize("image", images.IMAGES, ids=lambda image: image.key_name)
def test_each_image_is_an_oci_layout_with_its_recipe_config(
    built: dict[str, images.Built], image: recipes.Image
) -> None:
    archive = built[image.key_name].archive
    with tarfile.open(archive) as tar:
        assert json.loads(_blob_named(tar, "oci-layout")) == {"imageLayoutVersion": "1.0.0"}
        index = json.loads(_blob_named(tar, "index.json"))
        (entry,) = index["manifests"]
        assert entry["annotations"]["org.opencontainers.image.ref.name"] == image.reference
        manifest_raw = _blob(tar, entry["digest"])
        assert f"sha256:{hashlib.sha256(manifest_raw).hexdigest()}" == entry["digest"]
        manifest = json.loads(manifest_raw)
        assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
        config_raw = _blob(tar, manifest["config"]["digest"])
        assert f"sha256:{hashlib.sha256(config_raw).hexdigest()}" == manifest["config"]["digest"]
        config = json.loads(config_raw)
        assert len(manifest["layers"]) == len(config["rootfs"]["diff_ids"]) == 2  # the shared base + its own
        for layer, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"], strict=True):
            data = _blob(tar, layer["digest"])
            assert len(data) == layer["size"]
            assert f"sha256:{hashlib.sha256(data).hexdigest()}" == layer["digest"]
            with tarfile.open(fileobj=_gunzip_hashing(data, diff_id)):
                pass
    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    assert config["config"]["User"] == image.user
    assert config["config"]["Entrypoint"] == list(image.entrypoint)
    assert config["config"]["WorkingDir"] == image.workdir
    env = dict(item.split("=", 1) for item in config["config"]["Env"])
    assert env == dict(image.env)


def _blob_named(tar: tarfile.TarFile, name: str) -> bytes:
    handle = tar.extractfile(name)
    assert handle is not None, name
    return handle.read()


def _gunzip_hashing(data: bytes, diff_id: str) -> object:
    import gzip
    import io

    plain = gzip.decompress(data)
    assert f"sha256:{hashlib.sha256(plain).hexdigest()}" == diff_id
    return io.BytesIO(plain)


def test_images_on_one_base_share_its_layer(built: dict[str, images.Built]) -> None:
    def first_layer(key_name: str) -> str:
        _, manifest, _ = sandbox.read_archive(built[key_name].archive)
        layers = manifest["layers"]
        assert isinstance(layers, list)
        return str(layers[0]["digest"])

    assert first_layer("airflow:3.3.2") == first_layer("airflow:2.11.2") == first_layer(images.AIRPOOL.key_name)
    assert first_layer("postgres:17") == first_layer("redis:8.0") == first_layer("pgbouncer:1.24")
    assert first_layer("airflow:3.3.2") != first_layer("postgres:17")


def test_a_second_build_is_a_cache_hit(built: dict[str, images.Built]) -> None:
    before = {name: item.archive.stat().st_mtime_ns for name, item in built.items()}
    result = subprocess.run([AIRPOOL, "dev", "images"], capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": cached") == len(images.IMAGES)
    assert "nothing to build" in result.stdout
    assert {name: item.archive.stat().st_mtime_ns for name, item in built.items()} == before
    for image in images.IMAGES:
        assert image.reference in result.stdout


@pytest.mark.parametrize("version", recipes.AIRFLOW_VERSIONS)
def test_airflow_version_runs_inside_the_airflow_image(unpacked: Callable[[str], Unpacked], version: str) -> None:
    root, config = unpacked(f"airflow:{version}")
    started = time.monotonic()
    # a pod's `args: [airflow, version]`, run by the image's entrypoint as user 50000, group 0
    result = sandbox.run(root, config, ["airflow", "version"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == version
    print(f"airflow {version}: `airflow version` in {time.monotonic() - started:.1f} s")
    who = sandbox.run(root, config, ["bash", "-c", 'id -u; id -g; echo "$AIRFLOW_HOME"; touch "$AIRFLOW_HOME/x"'])
    assert who.returncode == 0, who.stderr
    assert who.stdout.split() == ["50000", "0", "/opt/airflow"]


@pytest.mark.parametrize("version", recipes.AIRFLOW_VERSIONS)
def test_airflow_image_has_what_the_executors_import(unpacked: Callable[[str], Unpacked], version: str) -> None:
    root, config = unpacked(f"airflow:{version}")
    modules = [
        "airflow.providers.celery.executors.celery_executor",
        "airflow.providers.cncf.kubernetes.executors.kubernetes_executor",
        "airflow.providers.postgres.hooks.postgres",
        "airflow.providers.redis.hooks.redis",
        "airflow.providers.fab.auth_manager.fab_auth_manager",
        "psycopg2",
        "statsd",
    ]
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\nprint('ok')"
    result = sandbox.run(root, config, ["python", "-c", code, *modules])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "ok"  # after whatever warnings the providers log
    # a subcommand without "airflow" in front, as the official entrypoint allows
    cheat = sandbox.run(root, config, ["config", "get-value", "core", "executor"])
    assert cheat.returncode == 0, cheat.stderr[-2000:]
    default = {"3": "LocalExecutor", "2": "SequentialExecutor"}[version.split(".")[0]]
    assert cheat.stdout.strip().splitlines()[-1] == default


def test_postgres_image_initialises_a_utf8_database_from_the_official_variables(
    built: dict[str, images.Built],
) -> None:
    with sandbox.unpacked(built["postgres:17"].archive) as (root, config):
        env = {"POSTGRES_USER": "airflow", "POSTGRES_PASSWORD": "s3cret", "POSTGRES_DB": "airflow_db"}
        env["PGDATA"] = "/var/lib/postgresql/data/pgdata"
        # started as root, like the official image: initdb as postgres, then the command (here: --version)
        init = sandbox.run(root, config, ["postgres", "--version"], env=env)
        assert init.returncode == 0, init.stderr[-3000:]
        assert "initialised /var/lib/postgresql/data/pgdata (UTF8) with database airflow_db owned by airflow" in (
            init.stdout
        )
        query = "SELECT datname || '=' || pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'airflow_db';"
        check = sandbox.run(
            root,
            config,
            ["-c", f'echo "{query}" | postgres --single -D "$PGDATA" -j postgres'],
            env=env,
            user="999:999",
            command=["bash"],
        )
        assert check.returncode == 0, check.stderr[-3000:]
        assert "airflow_db=UTF8" in check.stdout
        refused = sandbox.run(root, config, ["postgres"], env={"PGDATA": "/var/lib/postgresql/data/other"})
        assert refused.returncode == 1
        assert "POSTGRES_PASSWORD is not set" in refused.stderr


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("redis:8.0", ["--version"], "v=8.0"),
        ("pgbouncer:1.24", ["--version"], "PgBouncer 1.24"),
        ("statsd-exporter:v0.28.0", ["--version"], "version v0.28.0"),
        ("git-sync:v4-compatible", ["--version"], "git-sync v4-compatible"),
    ],
)
def test_helper_images_run_their_program(
    built: dict[str, images.Built], name: str, args: list[str], expected: str
) -> None:
    with sandbox.unpacked(built[name].archive) as (root, config):
        result = sandbox.run(root, config, args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert expected in result.stdout + result.stderr


def test_git_sync_image_publishes_a_commit_and_fails_saying_why(built: dict[str, images.Built]) -> None:
    """The dev image of git-sync's interface: a one-time sync of a repository publishes its commit behind the link;
    a missing repository exits non-zero with git's own words (what commander reads)."""
    script = (
        "set -e; cd /tmp; git init -q --bare r.git; git clone -q r.git w 2>/dev/null; cd w; mkdir dags; "
        "echo 'x = 1' > dags/a.py; git add .; git -c user.email=a@b -c user.name=t commit -qm one; "
        "git push -q origin HEAD:main; "
        "GITSYNC_REPO=file:///tmp/r.git GITSYNC_REF=main GITSYNC_ROOT=/tmp/root GITSYNC_LINK=repo "
        "GITSYNC_ONE_TIME=true /git-sync; cat /tmp/root/repo/dags/a.py; set +e; "
        "GITSYNC_REPO=file:///tmp/nope.git GITSYNC_ROOT=/tmp/r2 GITSYNC_ONE_TIME=true /git-sync; echo rc=$?"
    )
    with sandbox.unpacked(built["git-sync:v4-compatible"].archive) as (root, config):
        result = sandbox.run(root, config, [], command=["/bin/sh", "-c", script])
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-2000:]
    assert "updated successfully: ref main is commit" in out
    assert "x = 1" in out
    assert "does not appear to be a git repository" in out
    assert "rc=1" in out


def test_pgbouncer_starts_as_root_and_drops_to_nobody(built: dict[str, images.Built]) -> None:
    """The rendered Deployment runs ``pgbouncer -u nobody <ini>``; the prepared-statement setting is accepted."""
    ini = [
        "[databases]",
        "metadata = host=127.0.0.1 dbname=airflow",
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        "listen_port = 6543",
        "auth_type = scram-sha-256",
        "auth_file = /tmp/users.txt",
        "pool_mode = transaction",
        "max_prepared_statements = 100",
        "pidfile = /tmp/pgbouncer.pid",
    ]
    script = " && ".join(
        [
            "printf '%s\\n' " + " ".join(f"'{line}'" for line in ini) + " > /tmp/pgbouncer.ini",
            'echo \'"airflow" "x"\' > /tmp/users.txt',
            "/usr/sbin/pgbouncer -d -u nobody /tmp/pgbouncer.ini",  # -d: goes on in the background
            "for _ in $(seq 1200); do [ -s /tmp/pgbouncer.pid ] && break; sleep 0.1; done",
            "stat -c %U /proc/$(cat /tmp/pgbouncer.pid)",
        ]
    )
    with sandbox.unpacked(built["pgbouncer:1.24"].archive) as (root, config):
        result = sandbox.run(root, config, ["-c", script], command=["bash"])
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "nobody"


def test_airpool_image_runs_as_non_root_on_a_read_only_root(built: dict[str, images.Built]) -> None:
    values = Path(__file__).resolve().parents[2] / "examples" / "values.yaml"
    with sandbox.unpacked(built[images.AIRPOOL.key_name].archive) as (root, config):
        helped = sandbox.run(root, config, [], read_only=True)
        assert helped.returncode == 0, helped.stderr[-2000:]
        assert "Usage: airpool" in helped.stdout
        probe = "id -u; touch /opt/airpool/x 2>&1 || true"
        who = sandbox.run(root, config, ["-c", probe], command=["sh"], read_only=True)
        assert who.stdout.split()[0] == str(recipes.AIRPOOL_UID)
        assert "Read-only file system" in who.stdout
        validate = "airpool config validate -f /tmp/values.yaml"
        validated = sandbox.run(
            root,
            config,
            ["-c", f"cat > /tmp/values.yaml <<'EOF'\n{values.read_text()}\nEOF\n{validate}"],
            command=["sh"],
            read_only=True,
        )
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "airflow-pool-1" in validated.stdout
