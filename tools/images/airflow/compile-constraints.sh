#!/usr/bin/env bash
# Writes constraints-<version>-python3.11.txt: every package of an Airflow image, pinned.
#
# Airflow publishes a constraints file per release on a GitHub branch (constraints-<version>), which these
# machines cannot reach. This derives the equivalent the honest way: the same resolution Airflow's release
# tooling runs (`uv pip install --resolution highest`), for the same extras, limited to what PyPI had when that
# Airflow release was uploaded (--exclude-newer = one hour after apache_airflow-<version>-py3-none-any.whl),
# for Python 3.11 on manylinux (the images' Debian bookworm python3). The build then installs with
# `pip install --constraint` and runs `pip check`; the tests run `airflow version` and import the executors.
#
# usage: tools/images/airflow/compile-constraints.sh 3.3.2
set -euo pipefail
cd "$(dirname "$0")"
version="$1"
repo_root="$(cd ../../.. && pwd)"
python=${PYTHON:-$repo_root/.venv/bin/python}
requirement=$("$python" -c "import sys; sys.path.insert(0, '$repo_root/src')
from airpool.devcluster.images.recipes import airflow_requirement; print(airflow_requirement('$version'))")
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools/venv"
"$tools/venv/bin/pip" install -q uv==0.13.9
export SSL_CERT_FILE=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
cutoff=$("$python" - "$version" <<'PY'
import datetime, json, sys, urllib.request
version = sys.argv[1]
request = urllib.request.Request(
    "https://pypi.org/simple/apache-airflow/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
)
files = json.load(urllib.request.urlopen(request, timeout=60))["files"]
times = [f["upload-time"] for f in files if f["filename"] == f"apache_airflow-{version}-py3-none-any.whl"]
if not times:
    sys.exit(f"apache-airflow {version} has no wheel on PyPI")
uploaded = datetime.datetime.fromisoformat(times[0].replace("Z", "+00:00"))
print((uploaded + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
PY
)
echo "$requirement" > "$tools/requirements.in"
out="constraints-$version-python3.11.txt"
{
  echo "# Constraints for $requirement on Python 3.11 (Debian bookworm), x86_64 manylinux."
  echo "# Resolved by tools/images/airflow/compile-constraints.sh: uv pip compile --resolution highest, limited to"
  echo "# packages on PyPI one hour after apache-airflow $version's wheel was uploaded ($cutoff)."
  "$tools/venv/bin/uv" pip compile --quiet --no-progress --no-header --no-annotate --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 --exclude-newer "$cutoff" "$tools/requirements.in"
} > "$out"
echo "wrote $out ($(grep -c '==' "$out") packages)"
