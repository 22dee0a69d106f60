"""commander's rule sets as the Helm chart reads them (``charts/airpool/files/commander-rules.yaml``).

The chart cannot import Python, so it reads this generated file; ``tests/unit/test_chart.py`` fails whenever the
file and :mod:`airpool.manifests.rbac` disagree, which keeps the rules defined once. Regenerate with::

    .venv/bin/python -m airpool.manifests.chart_rules > charts/airpool/files/commander-rules.yaml
"""

from __future__ import annotations

import yaml

from airpool.manifests import rbac

HEADER = (
    "# Generated from airpool.manifests.rbac by `python -m airpool.manifests.chart_rules`; do not edit.\n"
    "# namespace: commander's Role in each pool namespace (and its ClusterRole without a pool);\n"
    "# namespaceLifecycle: added to the ClusterRole without a pool; persistentVolumes: NFS DAG deploys.\n"
)


def rule_sets() -> dict[str, list[dict[str, list[str]]]]:
    """The three rule sets by the name the chart's templates use."""
    return {
        "namespace": [rule.as_dict() for rule in rbac.COMMANDER_NAMESPACE_RULES],
        "namespaceLifecycle": [rule.as_dict() for rule in rbac.NAMESPACE_LIFECYCLE_RULES],
        "persistentVolumes": [rule.as_dict() for rule in rbac.PERSISTENT_VOLUME_RULES],
    }


def render() -> str:
    return HEADER + yaml.safe_dump(rule_sets(), sort_keys=False, default_flow_style=None, width=200)


if __name__ == "__main__":
    print(render(), end="")
