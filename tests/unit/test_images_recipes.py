"""The image recipes as data: names the dev cluster uses, cache keys, and the Dockerfile rendered from a recipe (and
shown in docs/images.md) staying the recipe."""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import tarfile
from pathlib import Path

import pytest
import yaml

from airpool.devcluster import images
from airpool.devcluster.images import builder, dockerfile, oci, recipes, sandbox

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "images.md"


def test_local_names_live_under_localhost() -> None:
    refs = images.local_references()
    assert refs["airflow"] == "localhost/airpool/airflow"
    assert all(ref.startswith("localhost/airpool/") for ref in refs.values())
    assert {image.reference for image in images.IMAGES} >= {refs[k] for k in refs if k != "airflow"}
    assert [images.airflow(v).reference for v in images.AIRFLOW_VERSIONS] == [
        "localhost/airpool/airflow:3.3.2",
        "localhost/airpool/airflow:2.11.2",
    ]


def test_values_entries_for_the_dev_cluster() -> None:
    values = images.local_values()
    assert values["airflow"] == {"repository": "localhost/airpool/airflow"}
    assert values["postgresql"] == {"repository": "localhost/airpool/postgres", "tag": "17"}
    assert values["statsd"] == {"repository": "localhost/airpool/statsd-exporter", "tag": "v0.28.0"}
    assert images.by_reference("localhost/airpool/pgbouncer:1.24") is recipes.PGBOUNCER
    with pytest.raises(LookupError, match="is not an image airpool builds"):
        images.by_reference("postgres:16")


def test_find_by_name_or_name_and_tag() -> None:
    assert images.find("redis").reference == "localhost/airpool/redis:8.0"
    assert images.find("airflow:2.11.2").tag == "2.11.2"
    with pytest.raises(LookupError, match=re.escape("names 2 images; pick one of: airflow:3.3.2, airflow:2.11.2")):
        images.find("airflow")
    with pytest.raises(LookupError, match=re.escape("no image 'nginx'; the images are: airflow:3.3.2")):
        images.find("nginx")


def test_keys_follow_every_input() -> None:
    image = recipes.airflow("3.3.2")
    assert builder.image_key(image) == builder.image_key(recipes.airflow("3.3.2"))
    for change in ({"user": "1:0"}, {"packages": ("curl",)}, {"env": ()}, {"base": recipes.TRIXIE}):
        assert builder.image_key(dataclasses.replace(image, **change)) != builder.image_key(image), change  # type: ignore[arg-type]
    assert builder.base_key(dataclasses.replace(recipes.TRIXIE, packages=("curl",))) != builder.base_key(recipes.TRIXIE)
    assert builder.image_key(recipes.airflow("2.11.2")) != builder.image_key(image)


def test_airflow_constraints_pin_the_release_and_its_providers() -> None:
    for version in recipes.AIRFLOW_VERSIONS:
        text = (recipes.TOOLS_DIR / recipes.airflow_constraints(version)).read_text()
        pins = dict(line.split("==", 1) for line in text.splitlines() if line and not line.startswith("#"))
        assert pins["apache-airflow"] == version
        for provider in ("celery", "cncf-kubernetes", "postgres", "redis"):
            assert f"apache-airflow-providers-{provider}" in pins
        assert all(re.fullmatch(r"[A-Za-z0-9_.+!-]+", value) for value in pins.values())


@pytest.mark.parametrize("image", images.IMAGES, ids=lambda image: image.key_name)
def test_the_dockerfile_is_the_recipe(image: recipes.Image) -> None:
    text = dockerfile.dockerfile(image)
    assert f"FROM debian:{image.base.suite}-slim" in text
    for package in (*image.base.packages, *image.packages):
        assert f" {package}" in text
    for line in (*image.pre_install, *image.post_install):
        assert line in text
    assert f"USER {image.user}\n" in text
    assert f"ENTRYPOINT {str(list(image.entrypoint)).replace(chr(39), chr(34))}\n" in text
    for name, value in image.env:
        assert f'ENV {name}="{value}"\n' in text
    if image.venv is not None and image.venv.constraints:
        assert f"COPY tools/images/{image.venv.constraints} /tmp/constraints.txt" in text


def test_docs_show_the_current_airpool_dockerfile() -> None:
    text = DOCS.read_text()
    marker = "<!-- generated: airpool dev images --dockerfile airpool -->\n```dockerfile\n"
    assert marker in text
    shown = text.split(marker, 1)[1].split("```", 1)[0]
    assert shown == dockerfile.dockerfile(images.AIRPOOL), (
        "docs/images.md is stale: paste the output of `airpool dev images --dockerfile airpool`"
    )


def test_overlay_deletions_become_whiteouts_and_unpack_applies_them(tmp_path: Path) -> None:
    lower, upper, out = tmp_path / "lower", tmp_path / "upper", tmp_path / "out"
    (lower / "etc" / "gone.d").mkdir(parents=True)
    (lower / "etc" / "gone.d" / "a").write_text("a")
    (lower / "etc" / "kept").write_text("kept")
    (lower / "etc" / "deleted").write_text("deleted")
    (lower / "var").mkdir()
    (lower / "var" / "old").write_text("old")
    # what overlayfs leaves in the upper directory: a 0/0 device for a deleted file or directory, and an opaque
    # directory for one that was removed and made again
    (upper / "etc").mkdir(parents=True)
    os.mknod(upper / "etc" / "deleted", stat.S_IFCHR | 0o600, 0)
    os.mknod(upper / "etc" / "gone.d", stat.S_IFCHR | 0o600, 0)
    (upper / "etc" / "new").write_text("new")
    (upper / "var").mkdir()
    os.setxattr(upper / "var", "trusted.overlay.opaque", b"y")
    (upper / "var" / "fresh").write_text("fresh")
    base = oci.pack_layer(oci.Layer.from_directory(lower), tmp_path / "base.tar.gz")
    own = oci.pack_layer(oci.Layer.from_directory(upper, overlay_upper=True), tmp_path / "own.tar.gz")
    with tarfile.open(own.path) as tar:
        names = set(tar.getnames())
    assert {"etc/.wh.deleted", "etc/.wh.gone.d", "var/.wh..wh..opq", "etc/new", "var/fresh"} <= names
    out.mkdir()
    sandbox.unpack([base.path, own.path], out)
    found = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert found == ["etc", "etc/kept", "etc/new", "var", "var/fresh"]


def test_the_real_node_overlay_names_the_images_built_here() -> None:
    overlay = yaml.safe_load((REPO / "examples" / "values-dev-realnode.yaml").read_text())["airpool"]["images"]
    for key, expected in images.local_values().items():
        if key == "airpool":
            continue  # airpool's own image is not part of a Deployment
        assert {k: v for k, v in overlay[key].items() if k != "pullPolicy"} == expected, key
