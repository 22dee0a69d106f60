"""Read back the secret values a Deployment already has, so that a re-apply or an upgrade never rotates them.

Only the values travel (as ``AirflowSecrets``); nothing here logs them.
"""

from __future__ import annotations

from lightkube import ApiError, Client
from lightkube.resources.core_v1 import Secret

from airpool.commander import errors, kinds
from airpool.manifests.airflow import settings
from airpool.manifests.airflow.spec import AirflowSecrets, AirflowSpec


def load_or_generate(client: Client, spec: AirflowSpec) -> AirflowSecrets:
    """One label-selected list; missing values are generated.

    This is also commander's first request in the namespace: outside the pool it fails with the API server's own
    403 before any change.
    """
    wanted = set(settings.secret_names(spec))
    try:
        found = {
            s.metadata.name: dict(s.data or {})
            for s in client.list(Secret, namespace=spec.namespace, labels=kinds.owned_by(spec.deployment_id))
            if s.metadata is not None and s.metadata.name in wanted
        }
    except ApiError as exc:
        raise errors.from_api_error(exc) from exc
    return settings.secrets_from_existing(spec, found)
