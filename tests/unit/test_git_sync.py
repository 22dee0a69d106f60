"""git-sync DAG deploys as pure data: the rendered containers, volumes, Secret and dags_folder for each executor,
and how commander words a failed sync from git-sync's termination message."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
import yaml
from lightkube.models.core_v1 import (
    ContainerState,
    ContainerStateRunning,
    ContainerStateTerminated,
    ContainerStateWaiting,
    ContainerStatus,
    PodStatus,
)
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Pod

from airpool.commander import status
from airpool.domain import dags
from airpool.domain.deployments import Executor
from airpool.manifests.airflow import render, settings
from airpool.manifests.airflow.spec import AirflowSecrets, AirflowSpec, DagDeployment

REPO = "ssh://git@git.example.com/srv/dags.git"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-body\n-----END OPENSSH PRIVATE KEY-----\n"


def _spec(executor: Executor = Executor.CELERY, version: str = "3.3.2", *, ssh: bool = True) -> AirflowSpec:
    git = dags.GitSync(repository_url=REPO, rev="v2", dag_directory_location="team/dags", ssh=ssh, known_hosts=ssh)
    return AirflowSpec(
        deployment_id="dep-1",
        release_name="rel",
        namespace="pool-a",
        executor=executor,
        airflow_version=version,
        dags=DagDeployment.of(dags.DagDeploy(type=dags.DagDeployType.GIT_SYNC, git=git)),
        git_ssh_key=KEY if ssh else "",
        git_known_hosts="git.example.com ssh-ed25519 AAAA\n" if ssh else "",
    )


def _pods(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o["spec"]["template"]["spec"] for o in objs if o["kind"] == "Deployment"}


@pytest.mark.parametrize(("executor", "version"), [(e, v) for e in Executor for v in ("3.3.2", "2.11.2")])
def test_dag_readers_get_git_sync_and_the_others_do_not(executor: Executor, version: str) -> None:
    spec = _spec(executor, version)
    objs = render.render(spec, AirflowSecrets.generate())
    readers = {"rel-scheduler", "rel-dag-processor", "rel-worker", "rel-triggerer"}
    for name, pod in _pods(objs).items():
        inits = [c["name"] for c in pod.get("initContainers", [])]
        containers = [c["name"] for c in pod["containers"]]
        if name in readers:
            assert inits[0] == "git-sync-init", name
            assert containers[-1] == "git-sync", name
            env = {e["name"]: e["value"] for e in pod["containers"][-1]["env"]}
            assert env["GITSYNC_REF"] == "v2"  # rev wins over the branch
            assert env["GITSYNC_SSH_KEY_FILE"] == "/etc/git-secret/ssh"
            # The first failed fetch ends the sidecar too (after good syncs): commander sees it at its next check.
            assert env["GITSYNC_MAX_FAILURES"] == "0"
            assert pod["containers"][-1]["terminationMessagePolicy"] == "FallbackToLogsOnError"
        else:
            assert "git-sync" not in containers + inits, name
        assert KEY.splitlines()[1] not in json.dumps(pod)
    secrets = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Secret"}
    assert set(secrets["rel-git-sync-ssh"]["data"]) == {"gitSshKey", "knownHosts"}
    assert "dags_folder = /opt/airflow/dags/repo/team/dags" in settings.airflow_cfg(spec)
    if executor is Executor.KUBERNETES:
        config = next(o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "rel-config")
        template = yaml.safe_load(config["data"]["pod_template_file.yaml"])["spec"]
        assert [c["name"] for c in template["initContainers"]] == ["git-sync-init"]
        assert [c["name"] for c in template["containers"]] == ["base"]


def test_no_key_no_secret_and_a_new_key_rolls_the_pods() -> None:
    secrets = AirflowSecrets.generate()
    plain = render.render(_spec(ssh=False), secrets)
    assert not [o for o in plain if o["kind"] == "Secret" and o["metadata"]["name"] == "rel-git-sync-ssh"]
    other = dataclasses.replace(_spec(), git_ssh_key=KEY.replace("secret", "other"))
    templates = [
        o["spec"]["template"]
        for spec in (_spec(), _spec(), other)
        for o in render.render(spec, secrets)
        if o["metadata"]["name"] == "rel-scheduler" and o["kind"] == "Deployment"
    ]
    assert templates[0] == templates[1]
    assert templates[0]["spec"] == templates[2]["spec"]  # the pod spec itself is the same ...
    assert templates[0]["metadata"] != templates[2]["metadata"]  # ... but its checksum changes, so the pods roll


def _pod(name: str, cs: ContainerStatus, *, init: bool) -> Pod:
    st = PodStatus(initContainerStatuses=[cs]) if init else PodStatus(containerStatuses=[cs])
    return Pod(metadata=ObjectMeta(name=name), status=st)


def _failed(message: str, *, waiting: bool) -> ContainerStatus:
    ended = ContainerStateTerminated(exitCode=1, message=message)
    if waiting:
        return ContainerStatus(
            name="git-sync-init",
            image="x",
            imageID="",
            ready=False,
            restartCount=2,
            state=ContainerState(waiting=ContainerStateWaiting(reason="CrashLoopBackOff")),
            lastState=ContainerState(terminated=ended),
        )
    return ContainerStatus(
        name="git-sync-init", image="x", imageID="", ready=False, restartCount=0, state=ContainerState(terminated=ended)
    )


@pytest.mark.parametrize(
    ("message", "cause"),
    [
        (
            "git@git.example.com: Permission denied (publickey).\r\nfatal: Could not read from remote repository.",
            "the git server refused the SSH key (check dagDeployment.sshKey)",
        ),
        (
            json.dumps(
                {
                    "msg": "too many failures, aborting",
                    "error": 'Run(git fetch): exit status 128: { stderr: "Host key verification failed.\\r\\n" }',
                }
            ),
            "the git server's host key is not in dagDeployment.knownHosts",
        ),
        (
            "ssh: Could not resolve hostname nowhere: Name or service not known",
            "the git server's host name does not resolve",
        ),
        ("fatal: couldn't find remote ref nope", "the branch or rev does not exist"),
    ],
)
def test_a_failed_sync_is_named_with_its_cause_and_gits_words(message: str, cause: str) -> None:
    spec = _spec()
    for waiting in (True, False):
        why = status._git_sync_failure(_pod("p", _failed(message, waiting=waiting), init=True), spec)
        assert why is not None
        assert why.startswith(f"git-sync cannot fetch {REPO}: {cause}"), why


def test_a_running_sidecar_with_an_old_failure_is_no_problem() -> None:
    cs = ContainerStatus(
        name="git-sync",
        image="x",
        imageID="",
        ready=True,
        restartCount=1,
        state=ContainerState(running=ContainerStateRunning()),
        lastState=ContainerState(terminated=ContainerStateTerminated(exitCode=1, message="Permission denied")),
    )
    assert status._git_sync_failure(_pod("p", cs, init=False), _spec()) is None
