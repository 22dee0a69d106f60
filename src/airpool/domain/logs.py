"""Deployment logs: which components have them, what a request may ask for, and one log line.

Houston names four components (the astro CLI sends ``webserver``, ``scheduler``, ``worker``, ``triggerer``);
airpool's Deployments also run a DAG processor on Airflow 3, where the webserver is the API server. A request
names a component by Houston's name or by the pod label commander gives it (``api-server``, ``dag-processor``);
both resolve to the pod label. Which components a Deployment has depends on its Airflow version and executor,
so an unknown or absent one is refused with the list that Deployment does have.

``since`` durations are Go's (``astro deployment logs --since 25m``): ``1h30m``, ``90s``, ``2h``; ``d`` (days)
is accepted too. Houston returns at most 800 lines per ``logs`` query (the newest, oldest first); so does airpool
unless ``limit`` asks for fewer (or up to ``MAX_LIMIT``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from airpool.domain.deployments import Executor
from airpool.domain.errors import AirpoolError, InvalidInput

#: Houston's page size for ``logs`` (its Elasticsearch query's ``size``).
DEFAULT_LIMIT = 800
MAX_LIMIT = 5000
#: Longest search text (a phrase, not a program).
MAX_SEARCH = 200
#: A ``since`` time this far ahead of the server's clock still counts as "now" (clients' clocks drift).
FUTURE_SLACK = timedelta(minutes=5)


class LogsUnavailable(AirpoolError):
    """No commander can read the logs right now (none running, or none answering): a temporary state."""

    code = "LOGS_UNAVAILABLE"


#: Houston's and airpool's names -> the pod label ``component`` (``webserver`` is resolved per version).
_ALIASES = {
    "scheduler": "scheduler",
    "sch": "scheduler",
    "webserver": "webserver",
    "web": "webserver",
    "api-server": "webserver",
    "apiserver": "webserver",
    "api_server": "webserver",
    "worker": "worker",
    "workers": "worker",
    "triggerer": "triggerer",
    "triggerers": "triggerer",
    "dag-processor": "dag-processor",
    "dag_processor": "dag-processor",
    "dagprocessor": "dag-processor",
}


def is_airflow3(airflow_version: str) -> bool:
    head = airflow_version.split(".", 1)[0]
    return head.isdigit() and int(head) >= 3


def components(*, airflow_version: str, executor: Executor | str) -> list[str]:
    """The components with logs, as pod labels, in the order a user would look at them."""
    airflow3 = is_airflow3(airflow_version)
    out = ["scheduler", "api-server" if airflow3 else "webserver", "triggerer"]
    if airflow3:
        out.append("dag-processor")
    if Executor(executor) in (Executor.CELERY, Executor.KUBERNETES):
        out.append("worker")  # Celery workers; the KubernetesExecutor's task pods carry the same label
    return out


def resolve_component(name: str | None, *, airflow_version: str, executor: Executor | str) -> str:
    """``name`` (Houston's or airpool's) -> the pod label; InvalidInput naming what this Deployment has."""
    have = components(airflow_version=airflow_version, executor=executor)
    allowed = ", ".join(named(c) for c in have)
    text = (name or "").strip().lower()
    if not text:
        raise InvalidInput(f"component is required; this Deployment has: {allowed}")
    wanted = _ALIASES.get(text)
    if wanted == "webserver":
        wanted = "api-server" if is_airflow3(airflow_version) else "webserver"
    if wanted is None or wanted not in have:
        shown = repr(name) if len(name or "") <= 40 else repr((name or "")[:40]) + "..."
        why = ""
        if wanted == "worker":
            why = f" (the {Executor(executor).value} runs tasks in the scheduler, so there are no workers)"
        elif wanted == "dag-processor":
            why = " (Airflow 2 parses DAGs inside the scheduler)"
        raise InvalidInput(f"component {shown} has no logs in this Deployment{why}; allowed: {allowed}")
    return wanted


def is_component(name: str) -> bool:
    """Whether ``name`` is any component's name (Houston's, airpool's or an alias), in any Deployment."""
    return name.strip().lower() in _ALIASES


def named(label: str) -> str:
    """How a refusal names a pod label: as the astro CLI and ``airpool deployment logs`` take it (``workers``)."""
    return "workers" if label == "worker" else houston_name(label)


def houston_name(label: str) -> str:
    """The name the astro CLI uses for a pod label (``api-server`` is Houston's ``webserver``)."""
    return "webserver" if label == "api-server" else label


def check_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit {limit} is out of range; allowed: 1 to {MAX_LIMIT} lines")
    return limit


def check_search(search: str | None) -> str | None:
    if search is None or search == "":
        return None
    if len(search) > MAX_SEARCH:
        raise InvalidInput(f"search is {len(search)} characters long; at most {MAX_SEARCH} are allowed")
    if "\n" in search or "\r" in search:
        raise InvalidInput("search must be one line of text (a log line never contains a line break)")
    return search


def check_since(since: datetime | None, *, now: datetime) -> datetime | None:
    """A ``since`` time in the future is a mistake (a wrong clock or date), not an empty answer."""
    if since is None:
        return None
    if since.tzinfo is None:
        raise InvalidInput("timestamp needs a zone (Z or an offset such as +02:00)")
    if since > now + FUTURE_SLACK:
        raise InvalidInput(
            f"timestamp {since.isoformat()} is in the future (the server's time is {now.isoformat()}); "
            "give the time logs should start after"
        )
    return since


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str) -> timedelta:
    """``25m``, ``1h30m``, ``90s``, ``2d`` -> a timedelta (Go's duration syntax, as ``astro ... --since``)."""
    raw = text.strip().lower()
    pos, total = 0, 0.0
    for match in _DURATION.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT[match.group(2)]
        pos = match.end()
    if not raw or pos != len(raw) or raw == "0":
        raise InvalidInput(
            f"since {text!r} is not a duration; use a number with a unit: 90s, 25m, 1h30m or 2d"
            if raw != "0"
            else "since 0 means no time at all; use e.g. 5m, or leave --since out for the newest lines"
        )
    if total <= 0:
        raise InvalidInput(f"since {text!r} must be longer than zero, e.g. 5m")
    if total > 400 * 86400:
        raise InvalidInput(f"since {text!r} is too long; at most 400d")
    return timedelta(seconds=total)


@dataclass(frozen=True)
class LogLine:
    """One line of one container: when the runtime recorded it, where it came from, and its text (no newline)."""

    id: str
    timestamp: datetime
    component: str
    pod: str
    container: str
    message: str


@dataclass(frozen=True)
class PodLog:
    """Whether one pod of a component has a log to read, as commander finds it."""

    pod: str
    #: The container whose log is the component's.
    container: str
    #: Pending, Running, Succeeded, Failed.
    phase: str
    #: Its container has started (or restarted): the node has a log for it.
    started: bool
    #: Started, yet no container runtime reported a container: a node that runs no containers (kwok's fake nodes).
    simulated: bool
    #: Why its container waits (ContainerCreating, ImagePullBackOff, CrashLoopBackOff), else "".
    waiting: str = ""


#: The kinds of ``why_no_lines``' answer, for a caller that adds what to do next.
NO_POD, NO_TASK_POD, NOT_STARTED = "no-pod", "no-task-pod", "not-started"
SIMULATED, QUIET, FILTERED = "simulated", "quiet", "filtered"

#: Where the dev cluster's fake nodes keep the one log file of every fake container (``airpool dev``'s data dir).
FAKE_LOG_FILE = ".airpool/devcluster/fake-pod-logs/containers.log"


def why_no_lines(
    pods: list[PodLog], *, component: str, namespace: str, executor: Executor | str, filtered: bool
) -> tuple[str, str]:
    """Why a read of ``component`` found no lines, in a user's words: ``(kind, reason)``."""
    name = named(component)
    if not pods:
        if component == "worker" and Executor(executor) is Executor.KUBERNETES:
            return NO_TASK_POD, (
                f"no task pod runs in namespace {namespace} now: the KubernetesExecutor starts one per task and "
                "removes it when the task ends (finished tasks' logs are in the Airflow UI)"
            )
        return NO_POD, (
            f"no {name} pod exists in namespace {namespace}: commander has not started it yet, or the Deployment "
            "runs none"
        )
    started = [p for p in pods if p.started]
    if not started:
        first = pods[0]
        others = f" (and {len(pods) - 1} more)" if len(pods) > 1 else ""
        return NOT_STARTED, (
            f"the {name} pod {first.pod}{others} is not running yet ({first.waiting or first.phase}), so it has "
            "logged nothing yet"
        )
    if all(p.simulated for p in started):
        return SIMULATED, (
            f"the {name} pods run on simulated nodes (kwok's fake nodes of the dev cluster), where no Airflow "
            "process runs, so nothing writes log lines: every fake container's log is one file of the dev cluster, "
            f"{FAKE_LOG_FILE} by default, and shows what is appended to it. On the dev cluster's real node "
            "(`airpool dev up --nodes real`) Airflow runs and logs"
        )
    running = ", ".join(p.pod for p in started[:3]) + (f" and {len(started) - 3} more" if len(started) > 3 else "")
    if filtered:
        return FILTERED, f"its pods run ({running}), but none of their lines matches the search and time asked for"
    return QUIET, f"the {name} has logged nothing yet (running: {running})"
