# ruff: noqa: E101 -- the documents keep the CLI's own mix of tabs and spaces, byte for byte
"""The astro CLI's GraphQL documents for people and access, exactly as its ``houston`` package sends them to a
Houston 0.37 server (astronomer/astro-cli, houston/workspace_users.go, workspace.go, deployment_user.go,
service_account.go, teams.go, workspace_teams.go, deployment_teams.go). Protocol facts used as test fixtures:
the tests send these byte for byte, with the variables the CLI builds (its Go structs' JSON names)."""

from __future__ import annotations

WORKSPACE_USER_ADD = """
	mutation AddWorkspaceUser(
		$workspaceId: Uuid!,
		$email: String!,
		$role: Role!
	){
		workspaceAddUser(
			workspaceUuid: $workspaceId,
			email: $email,
			role: $role
		) {
			id
			label
			description
			users {
				id
				username
				roleBindings {
          			role
        		}
			}
			createdAt
			updatedAt
		}
	}"""

WORKSPACE_USER_REMOVE = """
	mutation RemoveWorkspaceUser(
		$workspaceId: Uuid!
		$userId: Uuid!
	){
		workspaceRemoveUser(
			workspaceUuid: $workspaceId
			userUuid: $userId
		){
			id
			label
			description
			users {
				id
				username
			}
			createdAt
			updatedAt
		}
	}"""

WORKSPACE_USERS = """
	query workspaceListUsers($workspaceUuid: Uuid!) {
		workspaceUsers(
        	workspaceUuid: $workspaceUuid
        ){
			id
			username
			fullName
			emails {
				address
			}
			roleBindings {
		  		workspace{
					id
		  		}
		  		role
			}
		}
	}"""

WORKSPACE_USERS_PAGINATED = """
	query paginatedWorkspaceUsers(
		$workspaceUuid: Uuid!,
		$cursorUuid: Uuid,
		$take: Int
	){
		paginatedWorkspaceUsers(
			workspaceUuid: $workspaceUuid
			cursor: $cursorUuid
			take: $take
		){
			id
			username
			fullName
			emails {
				address
			}
			roleBindings {
				workspace{
					id
				}
				role
			}
		}
	}"""

WORKSPACE_USER_UPDATE = """
	mutation workspaceUpsertUserRole(
		$workspaceUuid: Uuid!,
		$email: String!,
		$role: Role!
	) {
		workspaceUpsertUserRole(
        	workspaceUuid: $workspaceUuid
            email: $email
            role: $role
        )
	}"""

WORKSPACE_USER_GET = """
	query workspaceGetUser(
		$workspaceUuid: Uuid!,
		$email: String!
	) {
		workspaceUser(
        	workspaceUuid: $workspaceUuid
            user: { email: $email }
        ){
			id
			username
			roleBindings {
		  		workspace{
					id
		  		}
		  		role
			}
		}
	}"""

WORKSPACE_CREATE = """
	mutation CreateWorkspace(
		$label: String!,
		$description: String = "N/A"
	) {
		createWorkspace(
			label: $label,
			description: $description
		) {
			id
			label
			description
			createdAt
			updatedAt
		}
	}"""

WORKSPACE_DELETE = """
	mutation DeleteWorkspace($workspaceId: Uuid!) {
		deleteWorkspace(workspaceUuid: $workspaceId) {
			id
			label
			description
		}
	}"""

WORKSPACE_UPDATE = """
	mutation UpdateWorkspace(
		$workspaceId: Uuid!,
		$payload: JSON!
	) {
		updateWorkspace(
			workspaceUuid: $workspaceId,
			payload: $payload
		) {
			id
			label
			description
			createdAt
			updatedAt
		}
	}"""

WORKSPACES = """
	query GetWorkspaces {
		workspaces {
			id
			label
			description
			createdAt
			updatedAt
			roleBindings {
				role
				user {
					id
					username
				}
				serviceAccount {
					id
					label
				}
			}
		}
	}"""

DEPLOYMENT_USERS = """
	query deploymentUsers(
		$deploymentId: Id!
		$user: UserSearch
	){
		deploymentUsers(
				deploymentId: $deploymentId
				user: $user
		){
			id
			fullName
			username
			roleBindings {
				role
				deployment {
					id
				}
			}
		}
	}"""

DEPLOYMENT_USER_ADD = """
	mutation AddDeploymentUser(
		$userId: Id
		$email: String!
		$deploymentId: Id!
		$role: Role!
	){
		deploymentAddUserRole(
			userId: $userId
			email: $email
			deploymentId: $deploymentId
			role: $role
		){
			id
			user {
				username
			}
			role
			deployment {
				id
				releaseName
			}
		}
	}"""

DEPLOYMENT_USER_DELETE = """
	mutation DeleteDeploymentUser(
		$userId: Id
		$email: String!
		$deploymentId: Id!
	){
		deploymentRemoveUserRole(
			userId: $userId
			email: $email
			deploymentId: $deploymentId
		){
			id
			role
		}
	}"""

DEPLOYMENT_USER_UPDATE = """
	mutation UpdateDeploymentUser(
		$userId: Id
		$email: String!
		$deploymentId: Id!
		$role: Role!
	){
		deploymentUpdateUserRole(
			userId: $userId
			email: $email
			deploymentId: $deploymentId
			role: $role
		){
			id
			user {
				username
			}
			role
			deployment {
				id
				releaseName
			}
		}
	}"""

CREATE_DEPLOYMENT_SERVICE_ACCOUNT = """
	mutation createDeploymentServiceAccount(
		$label: String!,
		$category: String,
		$deploymentUuid: Uuid!,
		$role: Role!
  	){
		createDeploymentServiceAccount(
		  label: $label,
		  category: $category,
		  deploymentUuid: $deploymentUuid,
		  role: $role
    	){
		    id
		    label
		    apiKey
		    entityType
		    deploymentUuid
		    category
		    active
		    lastUsedAt
		    createdAt
		    updatedAt
    	}
  	}"""

CREATE_WORKSPACE_SERVICE_ACCOUNT = """
	mutation createWorkspaceServiceAccount(
		$label: String!,
		$category: String,
		$workspaceUuid: Uuid!,
		$role: Role!
	){
		createWorkspaceServiceAccount(
		  label: $label,
		  category: $category,
		  workspaceUuid: $workspaceUuid,
		  role: $role
		){
			id
			label
			apiKey
			entityType
			workspaceUuid
			category
			active
			lastUsedAt
			createdAt
			updatedAt
		}
    }"""

DELETE_DEPLOYMENT_SERVICE_ACCOUNT = """
	mutation deleteDeploymentServiceAccount(
         $serviceAccountUuid: Uuid!
         $deploymentUuid: Uuid!
    ){
		deleteDeploymentServiceAccount(
          serviceAccountUuid: $serviceAccountUuid
          deploymentUuid: $deploymentUuid
        ){
			id
			apiKey
			label
			category
			entityType
			entityUuid
			active
			createdAt
			updatedAt
			lastUsedAt
		}
	}"""

DELETE_WORKSPACE_SERVICE_ACCOUNT = """
	mutation deleteWorkspaceServiceAccount(
          $serviceAccountUuid: Uuid!
          $workspaceUuid: Uuid!
    ){
        deleteWorkspaceServiceAccount(
          serviceAccountUuid: $serviceAccountUuid
          workspaceUuid: $workspaceUuid
        ){
            id
			apiKey
			label
			category
			entityType
			entityUuid
			active
			createdAt
			updatedAt
			lastUsedAt
         }
    }"""

DEPLOYMENT_SERVICE_ACCOUNTS = """
	query GetDeploymentServiceAccounts(
		$deploymentUuid: Uuid!
  	){
		deploymentServiceAccounts(
			deploymentUuid: $deploymentUuid
		){
			id
			apiKey
			label
			category
			entityType
			entityUuid
			active
			createdAt
			updatedAt
			lastUsedAt
		}
  	}"""

WORKSPACE_SERVICE_ACCOUNTS = """
	query GetWorkspaceServiceAccounts(
		$workspaceUuid: Uuid!
	){
		workspaceServiceAccounts(
			workspaceUuid: $workspaceUuid
		){
			id
			apiKey
			label
			category
			entityType
			entityUuid
			active
			createdAt
			updatedAt
			lastUsedAt
		}
	}"""

TEAM_GET = """
	query team($teamUuid: Uuid!, $workspaceUuid: Uuid) {
		team(teamUuid: $teamUuid, workspaceUuid: $workspaceUuid) {
			name
			id
			createdAt
			roleBindings {
				id
				role
				workspace {
					id
					label
				}
				deployment {
					id
					label
					releaseName
				}
			}
		}
	}
	"""

TEAM_USERS = """
	query GetTeamUsers(
		$teamUuid: Uuid!
	){
		teamUsers(
			teamUuid: $teamUuid
		){
			username
			id
			emails {
				address
				verified
				primary
			}
			status
		}
	}"""

PAGINATED_TEAMS = """
	query paginatedTeams (
		$take: Int
		$cursor: Uuid
		$workspaceUuid: Uuid
	){
		paginatedTeams(take:$take, cursor:$cursor, workspaceUuid:$workspaceUuid) {
			count
			teams {
				id
				name
				roleBindings {
					role
				}
			}
		}
	}"""

CREATE_TEAM_SYSTEM_ROLE_BINDING = """
	mutation createTeamSystemRoleBinding (
		$teamUuid: Uuid!
		$role: Role!
	){
		createTeamSystemRoleBinding(teamUuid:$teamUuid, role:$role) {
			role
		}
	}"""

DELETE_TEAM_SYSTEM_ROLE_BINDING = """
	mutation deleteTeamSystemRoleBinding (
		$teamUuid: Uuid!
		$role: Role!
	){
		deleteTeamSystemRoleBinding(teamUuid:$teamUuid, role:$role) {
			role
		}
	}"""

WORKSPACE_TEAM_ADD = """
	mutation AddWorkspaceTeam(
		$workspaceUuid: Uuid!
		$teamUuid: Uuid!
		$role: Role! = WORKSPACE_VIEWER
		$deploymentRoles: [DeploymentRoles!] = []
	){
		workspaceAddTeam(
			workspaceUuid: $workspaceUuid
			teamUuid: $teamUuid
			role: $role
			deploymentRoles: $deploymentRoles) {
			id
			label
			description
			createdAt
			updatedAt
		}
	}"""

WORKSPACE_TEAM_UPDATE = """
	mutation workspaceUpdateTeamRole(
		$workspaceUuid: Uuid!
		$teamUuid: Uuid!
		$role: Role!
	){
		workspaceUpdateTeamRole(
      		workspaceUuid: $workspaceUuid
      		teamUuid: $teamUuid
      		role: $role
    	)
	}"""

WORKSPACE_TEAM_REMOVE = """
	mutation workspaceRemoveTeam(
		$workspaceUuid: Uuid!,
		$teamUuid: Uuid!
	){
		workspaceRemoveTeam(workspaceUuid: $workspaceUuid, teamUuid: $teamUuid) {
			id
			label
		}
	}
	"""

WORKSPACE_TEAMS = """
	query workspaceGetTeams($workspaceUuid: Uuid!) {
		workspaceTeams(
			workspaceUuid: $workspaceUuid
		){
			id
      		name
			roleBindings {
				role
				workspace {
					id
					label
				}
				deployment {
					id
					label
				}
			}
		}
	}"""

DEPLOYMENT_TEAMS = """
	query deploymentTeams($deploymentUuid: Uuid!) {
		deploymentTeams(deploymentUuid: $deploymentUuid) {
			id
			name
			roleBindings {
				role
				workspace {
					id
					label
				}
				deployment {
					id
					label
				}
			}
		}
	}"""

DEPLOYMENT_TEAM_ADD = """
	mutation deploymentAddTeamRole(
		$teamUuid: Uuid!
		$deploymentUuid: Uuid!
		$role: Role! = WORKSPACE_VIEWER
	){
		deploymentAddTeamRole(
			teamUuid: $teamUuid
			deploymentUuid: $deploymentUuid
			role: $role
		){
			id
			role
		}
	}"""

DEPLOYMENT_TEAM_REMOVE = """
	mutation deploymentRemoveTeamRole($deploymentUuid: Uuid!, $teamUuid: Uuid!) {
		deploymentRemoveTeamRole(
			deploymentUuid: $deploymentUuid
			teamUuid: $teamUuid
		){
			id
		}
	}"""

DEPLOYMENT_TEAM_UPDATE = """
	mutation deploymentUpdateTeamRole(
		$deploymentUuid: Uuid!
		$teamUuid: Uuid!
		$role: Role!
	){
		deploymentUpdateTeamRole(
			deploymentUuid: $deploymentUuid
			teamUuid: $teamUuid
			role: $role
		){
			id
			role
		}
	}"""
