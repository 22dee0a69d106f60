"""Every GraphQL document the CLI sends, as plain strings: Houston's operations plus airpool's additions.

Kept apart from the commands so the selections are reviewed in one place against ``api/schema.graphql`` (the
e2e tests run each of them against a real server).
"""

from __future__ import annotations

AUTH_CONFIG = "query AuthConfig { authConfig { localEnabled publicSignup initialSignup } }"

CREATE_TOKEN = """
mutation CreateToken($identity: String, $password: String!) {
  createToken(identity: $identity, password: $password) {
    user { id username fullName isSystemAdmin }
    token { value payload { exp } }
  }
}
"""

APP_CONFIG = """
query AppConfig {
  appConfig {
    version manualNamespaceNames namespaceFreeFormEntry hardDeleteDeployment featureFlags
    defaultExecutor defaultAirflowVersion
  }
}
"""

WORKSPACES = "query Workspaces { workspaces { id label description createdAt } }"

_DEPLOYMENT_FIELDS = """
  id label releaseName executor namespace airflowVersion status statusMessage
  createdAt updatedAt deletedAt releasesAt
  workspace { id label }
  urls { type url }
  dagDeployment { type nfsLocation }
"""

WORKSPACE_DEPLOYMENTS = f"""
query WorkspaceDeployments($workspaceUuid: Uuid!, $releaseName: String) {{
  workspaceDeployments(workspaceUuid: $workspaceUuid, releaseName: $releaseName) {{ {_DEPLOYMENT_FIELDS} }}
}}
"""

AVAILABLE_NAMESPACES = "query AvailableNamespaces { availableNamespaces { name } }"

CREATE_DEPLOYMENT = f"""
mutation CreateDeployment(
  $label: String!, $workspaceUuid: Uuid!, $executor: ExecutorType!, $airflowVersion: String,
  $releaseName: String, $namespace: String, $description: String, $dagDeployment: DagDeployment
) {{
  createDeployment(
    label: $label, workspaceUuid: $workspaceUuid, executor: $executor, airflowVersion: $airflowVersion,
    releaseName: $releaseName, namespace: $namespace, description: $description, dagDeployment: $dagDeployment
  ) {{ {_DEPLOYMENT_FIELDS} }}
}}
"""

DELETE_DEPLOYMENT = f"""
mutation DeleteDeployment($deploymentUuid: Uuid!, $deploymentHardDelete: Boolean) {{
  deleteDeployment(deploymentUuid: $deploymentUuid, deploymentHardDelete: $deploymentHardDelete) {{
    {_DEPLOYMENT_FIELDS}
  }}
}}
"""

POOL_STATUS = """
query PoolStatus {
  poolStatus {
    enabled source nextRelease
    counts { state count }
    namespaces {
      name state since releasesAt healthReason inConfig
      holder { id label releaseName workspace { id label } }
    }
  }
}
"""

RELEASE_NAMESPACE = """
mutation ReleaseNamespace($name: String!, $force: Boolean) {
  releaseNamespace(name: $name, force: $force) { name state since releasesAt healthReason }
}
"""

DELETED_DEPLOYMENTS = f"""
query DeletedDeployments($workspaceUuid: Uuid!) {{
  deletedDeployments(workspaceUuid: $workspaceUuid) {{ {_DEPLOYMENT_FIELDS} }}
}}
"""

DELETED_DEPLOYMENT = f"""
query DeletedDeployment($deploymentUuid: Uuid!) {{
  deletedDeployment(deploymentUuid: $deploymentUuid) {{ {_DEPLOYMENT_FIELDS} }}
}}
"""

_JOB_FIELDS = "id kind state deploymentId namespace attempts runAfter lastError createdAt finishedAt"

RETRY_DEPLOYMENT = f"""
mutation RetryDeployment($deploymentUuid: Uuid!) {{
  retryDeployment(deploymentUuid: $deploymentUuid) {{ {_JOB_FIELDS} }}
}}
"""

DEPLOYMENT_JOBS = f"""
query DeploymentJobs($deploymentUuid: Uuid!) {{
  deploymentJobs(deploymentUuid: $deploymentUuid) {{ {_JOB_FIELDS} }}
}}
"""
