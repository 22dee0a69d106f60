"""The astro CLI's documents for creating, listing, updating and deleting Deployments and their variables,
exactly as its ``houston`` package sends them to a Houston 0.37 server (astronomer/astro-cli houston/deployment.go:
for each operation the variant with the greatest version not above 0.37.0, named beside it). Protocol facts used as
test fixtures.

- ``astro deployment create`` sends ``CREATE_DEPLOYMENT``; ``astro deployment delete`` ``DELETE_DEPLOYMENT``.
- ``astro deployment list`` sends ``WORKSPACE_DEPLOYMENTS`` with ``{workspaceId}``, and with ``--all``
  ``PAGINATED_DEPLOYMENTS`` with ``{take: -1}``; it prints ``deployInfo.current`` in its TAG column ("?" when
  empty) and ``airflowVersion`` as ``<image type>-<version>``.
"""

from __future__ import annotations

#: DeploymentCreateRequest (variant 0.29.0)
CREATE_DEPLOYMENT = """
			mutation CreateDeployment(
				$label: String!
				$type: String = "airflow"
				$releaseName: String
				$workspaceId: Uuid!
				$executor: ExecutorType!
				$airflowVersion: String
				$runtimeVersion: String
				$namespace: String
				$config: JSON
				$cloudRole: String
				$dagDeployment: DagDeployment
				$triggererReplicas: Int
			){
				createDeployment(
					label: $label
					type: $type
					workspaceUuid: $workspaceId
					releaseName: $releaseName
					executor: $executor
					airflowVersion: $airflowVersion
					runtimeVersion: $runtimeVersion
					namespace: $namespace
					config: $config
					cloudRole: $cloudRole
					dagDeployment: $dagDeployment
					triggerer: {
						replicas: $triggererReplicas
					}
				){
					id
					type
					label
					releaseName
					version
					airflowVersion
					runtimeVersion
					urls {
						type
						url
					}
					createdAt
					updatedAt
				}
			}"""

#: DeploymentsGetRequest (variant 0.29.0)
WORKSPACE_DEPLOYMENTS = """
			query GetDeployment(
				$workspaceId: Uuid!
				$releaseName: String
			){
				workspaceDeployments(
					workspaceUuid: $workspaceId
					releaseName: $releaseName
				){
					id
					type
					label
					releaseName
					workspace {
						id
					}
					deployInfo {
						nextCli
						current
					}
					version
					airflowVersion
					runtimeVersion
					createdAt
					updatedAt
				}
			}"""

#: PaginatedDeploymentsGetRequest (variant 0.32.0)
PAGINATED_DEPLOYMENTS = """
			query paginatedDeployments( $take: Int, $name: String, $cursor: Uuid, $pageNumber: Int) {
				paginatedDeployments(
					take: $take
					name: $name
					cursor: $cursor
					pageNumber: $pageNumber
				) {
					id
					type
					label
					releaseName
					workspace {
						id
					}
					deployInfo {
						nextCli
						current
					}
					version
					airflowVersion
					runtimeVersion
					createdAt
					updatedAt
				}
			}"""

#: DeploymentDeleteRequest
DELETE_DEPLOYMENT = """
	mutation DeleteDeployment(
		$deploymentId: Uuid!
		$deploymentHardDelete: Boolean
	){
		deleteDeployment(
			deploymentUuid: $deploymentId
			deploymentHardDelete: $deploymentHardDelete
		){
			id
			type
			label
			description
			releaseName
			version
			workspace {
				id
			}
			createdAt
			updatedAt
		}
	}"""

#: DeploymentUpdateRequest (astro deployment update)
UPDATE_DEPLOYMENT = """
mutation UpdateDeployment(
  $deploymentId: Uuid!,
  $payload: JSON!,
  $executor: ExecutorType,
  $cloudRole: String,
  $dagDeployment: DagDeployment,
  $triggererReplicas: Int
){
  updateDeployment(
    deploymentUuid: $deploymentId,
    payload: $payload,
    executor: $executor,
    cloudRole: $cloudRole,
    dagDeployment: $dagDeployment,
    triggerer:{ replicas: $triggererReplicas }
  ){
    id
    type
    label
    description
    releaseName
    version
    airflowVersion
    workspace {
      id
    }
    deployInfo {
      current
    }
    createdAt
    updatedAt
  }
}"""

#: DeploymentVariablesGetRequest / UpdateDeploymentVariablesRequest (astro deployment variables)
VARIABLES = """
query deploymentVariables($deploymentUuid: Uuid!, $releaseName: String!) {
  deploymentVariables(deploymentUuid: $deploymentUuid, releaseName: $releaseName) { key value isSecret }
}"""
UPDATE_VARIABLES = """
mutation UpdateDeploymentVariables(
  $deploymentUuid: Uuid!, $releaseName: String!, $environmentVariables: [InputEnvironmentVariable!]!
) {
  updateDeploymentVariables(
    deploymentUuid: $deploymentUuid, releaseName: $releaseName, environmentVariables: $environmentVariables
  ) { key value isSecret }
}"""
