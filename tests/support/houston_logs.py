# ruff: noqa: E101 -- the documents keep the CLI's own mix of tabs and spaces, byte for byte
"""The astro CLI's documents for Deployment logs, exactly as its ``houston`` package sends them to a Houston 0.37
server (astronomer/astro-cli: houston/deployment.go ``DeploymentLogsGetRequest``, houston/websocket.go
``DeploymentLogsSubscribeRequest``), and how it sends them. Protocol facts used as test fixtures.

- ``astro deployment logs <scheduler|webserver|workers|triggerer> <id> [--search s] [--since 5m]`` POSTs ``GET_LOGS``
  with variables ``{deploymentId, component, search, timestamp}`` (component ``scheduler``, ``webserver``,
  ``worker`` or ``triggerer``; search ``""`` when not given; timestamp = now - since as Go's RFC 3339 with
  nanoseconds) and prints each ``log`` with a newline.
- With ``--follow`` it dials the WebSocket ``wss://houston.<domain>/ws`` with ``Sec-WebSocket-Protocol:
  graphql-ws``, sends ``{"type": "connection_init", "payload": {"authorization": <token>}}`` and, without waiting
  for an answer, ``{"type": "start", "payload": {"query": SUBSCRIBE_LOGS, "variables": {...}}}`` (no ``id``),
  then prints every message's ``payload.data.log.log`` as it is (no newline added). Ctrl-C sends a close frame
  whose reason is ``{"id":"1","type":"stop"}``; a close from the server reads as "Your token has expired".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

GET_LOGS = """
	query GetLogs(
		$deploymentId: Uuid!
		$component: String
		$timestamp: DateTime
		$search: String
	){
		logs(
			deploymentUuid: $deploymentId
			component: $component
			timestamp: $timestamp
			search: $search
		){
			id
			createdAt: timestamp
			log: message
		}
	}"""

SUBSCRIBE_LOGS = """
    subscription log(
		$deploymentId: Uuid!
		$component: String
		$timestamp: DateTime
		$search: String
    ){
      	log(
			deploymentUuid: $deploymentId
			component: $component
			timestamp: $timestamp
			search: $search
		){
        	id
        	createdAt: timestamp
        	log: message
    	}
    }"""


def go_time(moment: datetime) -> str:
    """How Go's encoding/json writes a time.Time in UTC: RFC 3339 with up to nine fractional digits."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


def variables(
    deployment_id: str, component: str, *, search: str = "", since: timedelta = timedelta()
) -> dict[str, Any]:
    """The variables the CLI builds: timestamp = now - since (so ``--since`` 0 means "from now")."""
    return {
        "deploymentId": deployment_id,
        "component": component,
        "search": search,
        "timestamp": go_time(datetime.now(UTC) - since),
    }


def start_message(
    deployment_id: str, component: str, *, search: str = "", since: timedelta = timedelta()
) -> dict[str, Any]:
    """The CLI's ``start`` message: no id."""
    return {
        "type": "start",
        "payload": {
            "query": SUBSCRIBE_LOGS,
            "variables": variables(deployment_id, component, search=search, since=since),
        },
    }
