"""Every GraphQL document the CLI sends, as plain strings: Houston's operations plus airpool's additions.

Kept apart from the commands so the selections are reviewed in one place against ``api/schema.graphql`` (the
e2e tests run each of them against a real server).
"""

from __future__ import annotations

AUTH_CONFIG = "query AuthConfig { authConfig { localEnabled publicSignup initialSignup providers { name } } }"
SELF = "query Self { self { username } }"

CREATE_TOKEN = """
mutation CreateToken($identity: String, $password: String!) {
  createToken(identity: $identity, password: $password) {
    user { id username fullName isSystemAdmin }
    token { value payload { exp } }
  }
}
"""

_APP_CONFIG_FIELDS = """
    version manualNamespaceNames namespaceFreeFormEntry hardDeleteDeployment featureFlags
    defaultExecutor defaultAirflowVersion
"""

APP_CONFIG = f"""
query AppConfig {{
  appConfig {{ {_APP_CONFIG_FIELDS} }}
}}
"""

#: The Airflow versions the server offers (values.yaml airpool.airflow.versions), oldest first.
AIRFLOW_VERSIONS = "query DeploymentVersions { deploymentConfig { airflowVersions } }"

WORKSPACES = "query Workspaces { workspaces { id label description createdAt } }"

#: Your workspaces with who you are and your role in each (``workspace list``).
WORKSPACES_AND_SELF = """
query WorkspacesAndSelf {
  self { username fullName isSystemAdmin }
  workspaces { id label description createdAt roleBindings { role user { username } } }
}
"""

CREATE_WORKSPACE = """
mutation CreateWorkspace($label: String!, $description: String) {
  createWorkspace(label: $label, description: $description) { id label description createdAt }
}
"""

_DEPLOYMENT_FIELDS = """
  id label releaseName executor namespace airflowVersion status statusMessage
  createdAt updatedAt deletedAt releasesAt
  workspace { id label }
  urls { type url }
  dagDeployment { type nfsLocation repositoryUrl branchName rev dagDirectoryLocation syncInterval }
  desiredAirflowVersion image rolloutPhase rolloutError
"""

WORKSPACE_DEPLOYMENTS = f"""
query WorkspaceDeployments($workspaceUuid: Uuid!, $releaseName: String) {{
  workspaceDeployments(workspaceUuid: $workspaceUuid, releaseName: $releaseName) {{ {_DEPLOYMENT_FIELDS} }}
}}
"""

AVAILABLE_NAMESPACES = "query AvailableNamespaces { availableNamespaces { name } }"

#: ``deployment delete``'s first look: the workspace's Deployments and the server's settings in one round trip.
DELETE_LOOKUP = f"""
query DeleteLookup($workspaceUuid: Uuid!) {{
  workspaceDeployments(workspaceUuid: $workspaceUuid) {{ {_DEPLOYMENT_FIELDS} }}
  appConfig {{ {_APP_CONFIG_FIELDS} }}
}}
"""

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
query PoolStatus(
  $take: Int, $skip: Int, $states: [NamespaceState!], $search: String, $sortBy: PoolSortField, $sortDesc: Boolean
) {
  poolStatus(take: $take, skip: $skip, states: $states, search: $search, sortBy: $sortBy, sortDesc: $sortDesc) {
    enabled source nextRelease total
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

_JOB_FIELDS = "id kind reason state deploymentId namespace attempts runAfter lastError createdAt finishedAt"

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

# --- people and access (airpool workspace user / deployment user / service-account / team) -----------------------

_MEMBER_FIELDS = "id username fullName roleBindings { role workspace { id } deployment { id } }"

WORKSPACE_USERS = f"""
query WorkspaceUsers($workspaceUuid: Uuid!) {{ workspaceUsers(workspaceUuid: $workspaceUuid) {{ {_MEMBER_FIELDS} }} }}
"""

WORKSPACE_ADD_USER = """
mutation WorkspaceAddUser($workspaceUuid: Uuid!, $email: String!, $role: Role!) {
  workspaceAddUser(workspaceUuid: $workspaceUuid, email: $email, role: $role) { id label }
}
"""

WORKSPACE_USER = """
query WorkspaceUser($workspaceUuid: Uuid!, $email: String!) {
  workspaceUser(workspaceUuid: $workspaceUuid, user: { email: $email }) { id username }
}
"""

WORKSPACE_UPSERT_USER_ROLE = """
mutation WorkspaceUpsertUserRole($workspaceUuid: Uuid!, $email: String!, $role: Role!) {
  workspaceUpsertUserRole(workspaceUuid: $workspaceUuid, email: $email, role: $role)
}
"""

WORKSPACE_REMOVE_USER = """
mutation WorkspaceRemoveUser($workspaceUuid: Uuid!, $userUuid: Uuid!) {
  workspaceRemoveUser(workspaceUuid: $workspaceUuid, userUuid: $userUuid) { id label }
}
"""

DEPLOYMENT_USERS = f"""
query DeploymentUsers($deploymentId: Id!) {{ deploymentUsers(deploymentId: $deploymentId) {{ {_MEMBER_FIELDS} }} }}
"""

_DEPLOYMENT_BINDING = "id role user { username } deployment { id releaseName }"

DEPLOYMENT_ADD_USER_ROLE = f"""
mutation DeploymentAddUserRole($deploymentId: Id!, $email: String!, $role: Role!) {{
  deploymentAddUserRole(deploymentId: $deploymentId, email: $email, role: $role) {{ {_DEPLOYMENT_BINDING} }}
}}
"""

DEPLOYMENT_UPDATE_USER_ROLE = f"""
mutation DeploymentUpdateUserRole($deploymentId: Id!, $email: String!, $role: Role!) {{
  deploymentUpdateUserRole(deploymentId: $deploymentId, email: $email, role: $role) {{ {_DEPLOYMENT_BINDING} }}
}}
"""

DEPLOYMENT_REMOVE_USER_ROLE = f"""
mutation DeploymentRemoveUserRole($deploymentId: Id!, $email: String!) {{
  deploymentRemoveUserRole(deploymentId: $deploymentId, email: $email) {{ {_DEPLOYMENT_BINDING} }}
}}
"""

_SERVICE_ACCOUNT_FIELDS = "id label category entityType entityUuid lastUsedAt createdAt roleBinding { role }"

WORKSPACE_SERVICE_ACCOUNTS = f"""
query WorkspaceServiceAccounts($workspaceUuid: Uuid!) {{
  workspaceServiceAccounts(workspaceUuid: $workspaceUuid) {{ {_SERVICE_ACCOUNT_FIELDS} }}
}}
"""

DEPLOYMENT_SERVICE_ACCOUNTS = f"""
query DeploymentServiceAccounts($deploymentUuid: Uuid!) {{
  deploymentServiceAccounts(deploymentUuid: $deploymentUuid) {{ {_SERVICE_ACCOUNT_FIELDS} }}
}}
"""

CREATE_WORKSPACE_SERVICE_ACCOUNT = f"""
mutation CreateWorkspaceServiceAccount($label: String!, $category: String, $workspaceUuid: Uuid!, $role: Role!) {{
  createWorkspaceServiceAccount(label: $label, category: $category, workspaceUuid: $workspaceUuid, role: $role) {{
    {_SERVICE_ACCOUNT_FIELDS} apiKey
  }}
}}
"""

CREATE_DEPLOYMENT_SERVICE_ACCOUNT = f"""
mutation CreateDeploymentServiceAccount($label: String!, $category: String, $deploymentUuid: Uuid!, $role: Role!) {{
  createDeploymentServiceAccount(label: $label, category: $category, deploymentUuid: $deploymentUuid, role: $role) {{
    {_SERVICE_ACCOUNT_FIELDS} apiKey
  }}
}}
"""

DELETE_WORKSPACE_SERVICE_ACCOUNT = """
mutation DeleteWorkspaceServiceAccount($serviceAccountUuid: Uuid!, $workspaceUuid: Uuid!) {
  deleteWorkspaceServiceAccount(serviceAccountUuid: $serviceAccountUuid, workspaceUuid: $workspaceUuid) { id label }
}
"""

DELETE_DEPLOYMENT_SERVICE_ACCOUNT = """
mutation DeleteDeploymentServiceAccount($serviceAccountUuid: Uuid!, $deploymentUuid: Uuid!) {
  deleteDeploymentServiceAccount(serviceAccountUuid: $serviceAccountUuid, deploymentUuid: $deploymentUuid) {
    id label
  }
}
"""

TEAMS = """
query Teams($workspaceUuid: Uuid) {
  paginatedTeams(workspaceUuid: $workspaceUuid) {
    count
    teams { id name source roleBindings { role workspace { id label } deployment { id releaseName } } }
  }
}
"""

CREATE_TEAM = "mutation CreateTeam($name: String!) { createTeam(name: $name) { id name } }"
DELETE_TEAM = "mutation DeleteTeam($teamUuid: Uuid!) { deleteTeam(teamUuid: $teamUuid) { id name } }"
TEAM_ADD_USER = """
mutation TeamAddUser($teamUuid: Uuid!, $email: String!) { teamAddUser(teamUuid: $teamUuid, email: $email) { id name } }
"""
TEAM_USERS = "query TeamUsers($teamUuid: Uuid!) { teamUsers(teamUuid: $teamUuid) { id username } }"
TEAM_REMOVE_USER = """
mutation TeamRemoveUser($teamUuid: Uuid!, $userUuid: Uuid!) {
  teamRemoveUser(teamUuid: $teamUuid, userUuid: $userUuid) { id name }
}
"""
WORKSPACE_ADD_TEAM = """
mutation WorkspaceAddTeam($workspaceUuid: Uuid!, $teamUuid: Uuid!, $role: Role!) {
  workspaceAddTeam(workspaceUuid: $workspaceUuid, teamUuid: $teamUuid, role: $role) { id label }
}
"""
