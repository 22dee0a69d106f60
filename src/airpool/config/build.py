"""From a merged values tree to one ``PlatformConfig``: Astronomer's keys, airpool's section, the effective pool.

Precedence follows what Astronomer Software does, so a values file means the same thing here and there: the
standard settings (``global.features.namespacePools``) imply manual namespace names, the pre-created list and hard
delete; Houston reads the user's ``astronomer.houston.config`` after the chart's generated settings, so where the
advanced settings are set they win. Mixing both is allowed but warned about, with the outcome spelled out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from croniter import croniter

from airpool.config import auth, model
from airpool.config.reader import Problem, Reader, show
from airpool.domain import rollouts, sizes
from airpool.domain.deployments import Executor
from airpool.domain.errors import InvalidInput
from airpool.domain.names import SYSTEM_NAMESPACES, dns1123_label_problem
from airpool.domain.sizes import Resources

STANDARD = "global.features.namespacePools"
ADVANCED = "astronomer.houston.config.deployments"
COMMANDER_ENV = "astronomer.commander.env"
MANUAL_ENV_NAME = "COMMANDER_MANUAL_NAMESPACE_NAMES"
AIRPOOL = "airpool"

#: Ten years: a retained namespace further out is a typo (and a far date overflows date arithmetic).
MAX_RETENTION_DAYS = 3650

_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_IMAGE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
ACCESS_MODES = ("ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod")
#: Volume names airpool's own Airflow pods use; an extra volume may not take one of them.
RESERVED_VOLUME_NAMES = frozenset({"config", "logs", "dags", "webserver-config", "auth", "auth-secret"})
#: Paths airpool mounts into Airflow containers itself; an extra mount may go below the DAGs folder but not here.
RESERVED_MOUNT_PATHS = frozenset({"/opt/airflow", "/opt/airflow/airflow.cfg", "/opt/airflow/logs"})

_defaults = model.PlatformConfig()
_airflow_defaults = model.AirflowDefaults()
_server_defaults = model.ServerSettings()
_image_defaults = model.Images()


def build(tree: Mapping[str, Any], *, sources: tuple[str, ...] = ()) -> tuple[model.PlatformConfig, list[Problem]]:
    """The configuration and every problem found; the configuration is meaningful only without problems."""
    reader = Reader(tree)
    own = _read_airpool(reader)
    release, namespace = own.pop("platform_release"), own.pop("platform_namespace")
    deployments_raw = _read_deployment_flags(reader)
    pool, deployments, warnings = _effective_pool(reader, deployments_raw, platform_namespace=namespace)
    rbac_enabled = reader.boolean("global.rbacEnabled", True)
    cluster_roles = reader.boolean("global.clusterRoles", True)
    labels = reader.string_map("global.namespaceLabels")
    base_domain = reader.string("global.baseDomain", _defaults.base_domain)
    for key, value in labels.items():
        if not _LABEL_KEY.match(key) or len(key.rpartition("/")[2]) > 63:
            reader.problem(f"global.namespaceLabels.{key}", "is not a Kubernetes label name; allowed: [prefix/]name")
        elif value and (len(value) > 63 or not _LABEL_VALUE.match(value)):
            reader.problem(
                f"global.namespaceLabels.{key}",
                f"{show(value)} is not a label value; allowed: up to 63 letters, digits, '-', '_' or '.'",
            )
    warnings += _combination_warnings(
        pool=pool,
        deployments=deployments,
        cluster_roles=cluster_roles,
        retention_days=own["retention_days"],
    )
    images = _read_images(reader)
    auth_settings, auth_warnings = auth.read(reader)
    warnings += auth_warnings
    reader.report_unknown(AIRPOOL)
    ignored = tuple(
        path
        for path in reader.unread()
        if not path.startswith(f"{AIRPOOL}.") and path != AIRPOOL and not _read_by_chart(path)
    )
    config = model.PlatformConfig(
        platform_release=release,
        platform_namespace=namespace,
        base_domain=base_domain,
        rbac_enabled=rbac_enabled,
        cluster_roles=cluster_roles,
        namespace_labels=tuple(sorted(labels.items())),
        pool=pool,
        deployments=deployments,
        warnings=tuple(warnings),
        ignored_keys=ignored,
        sources=sources,
        images=images,
        auth=auth_settings,
        **own,
    )
    return config, reader.problems


#: Keys that airpool's Helm chart (charts/airpool) reads to run the server and commander: not ignored, so
#: ``config validate`` does not list them as unused when it checks the chart's values file.
CHART_KEYS = (
    "global.tlsSecret",
    "global.imagePullSecrets",
    "astronomer.images.houston",
    "astronomer.images.commander",
    "astronomer.houston.replicas",
    "astronomer.houston.maxUnavailable",
    "astronomer.houston.backendSecretName",
    "astronomer.houston.resources",
    "astronomer.houston.livenessProbe",
    "astronomer.houston.readinessProbe",
    "astronomer.houston.env",
    "astronomer.houston.secret",
    "astronomer.houston.persistence",
    "astronomer.houston.ingress",
    "astronomer.houston.cleanupDeployments",
    "astronomer.commander.replicas",
    "astronomer.commander.concurrency",
    "astronomer.commander.resources",
)


def _read_by_chart(path: str) -> bool:
    return any(path == key or path.startswith(f"{key}.") or key.startswith(f"{path}.") for key in CHART_KEYS)


# -- airpool's own section ----------------------------------------------------------------------------------


_DNS_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _read_airpool(reader: Reader) -> dict[str, Any]:
    release = reader.string(f"{AIRPOOL}.releaseName", _defaults.platform_release)
    namespace = reader.string(f"{AIRPOOL}.namespace", _defaults.platform_namespace)
    for key, value in (("releaseName", release), ("namespace", namespace)):
        problem = dns1123_label_problem(value)
        if problem:
            reader.problem(f"{AIRPOOL}.{key}", f"{show(value)} {problem}")
    schedule = reader.string(f"{AIRPOOL}.cleanupSchedule", _defaults.cleanup_schedule)
    if not croniter.is_valid(schedule):
        reader.problem(
            f"{AIRPOOL}.cleanupSchedule",
            f'{show(schedule)} is not a cron expression; allowed: five fields like "0 5 * * *"',
        )
    deployments_url = reader.string(f"{AIRPOOL}.deploymentsBaseUrl", None)
    if deployments_url is not None and not re.match(r"^https?://[^/\s]+/?$", deployments_url):
        reader.problem(
            f"{AIRPOOL}.deploymentsBaseUrl",
            f"{show(deployments_url)} is not allowed; allowed: http(s)://host[:port] without a path, "
            "e.g. https://deployments.example.com",
        )
    ingress_class = reader.string(f"{AIRPOOL}.ingress.className", None)
    tls_secret = reader.string("global.tlsSecret", None)
    for path, name, example in (
        (f"{AIRPOOL}.ingress.className", ingress_class, "nginx"),
        ("global.tlsSecret", tls_secret, "astronomer-tls"),
    ):
        if name and not _DNS_NAME.match(name):
            reader.problem(path, f"{show(name)} is not a valid name; allowed: lower-case DNS names like {example}")
    public_url = reader.string(f"{AIRPOOL}.server.publicUrl", None)
    if public_url is not None and not public_url.startswith(("http://", "https://")):
        reader.problem(f"{AIRPOOL}.server.publicUrl", f"{show(public_url)} must start with http:// or https://")
    executor = reader.string(f"{AIRPOOL}.airflow.executor", _airflow_defaults.executor)
    if executor not in {item.value for item in Executor}:
        allowed = ", ".join(item.value for item in Executor)
        reader.problem(f"{AIRPOOL}.airflow.executor", f"{show(executor)} is not supported; allowed: {allowed}")
    version = reader.string(f"{AIRPOOL}.airflow.version", _airflow_defaults.version)
    try:
        rollouts.version_key(version)
    except InvalidInput:
        reader.problem(f"{AIRPOOL}.airflow.version", f"{show(version)} is not allowed; allowed: a version like 3.3.2")
        version = _airflow_defaults.version
    return {
        "platform_release": release,
        "platform_namespace": namespace,
        "database_url": reader.string(f"{AIRPOOL}.databaseUrl", None),
        "deployments_base_url": deployments_url,
        "ingress_class_name": ingress_class or None,
        "ingress_tls_secret": tls_secret or None,
        "data_dir": reader.string(f"{AIRPOOL}.dataDir", _defaults.data_dir),
        "retention_days": reader.integer(
            f"{AIRPOOL}.retentionDays", _defaults.retention_days, minimum=0, maximum=MAX_RETENTION_DAYS
        ),
        "cleanup_schedule": schedule,
        "health_check_interval": reader.integer(
            f"{AIRPOOL}.healthCheckInterval", _defaults.health_check_interval, minimum=1, maximum=86_400
        ),
        "deployment_sizes": _deployment_sizes(reader),
        "server": model.ServerSettings(
            host=reader.string(f"{AIRPOOL}.server.host", _server_defaults.host),
            port=reader.integer(f"{AIRPOOL}.server.port", _server_defaults.port, minimum=1, maximum=65535),
            public_url=public_url,
        ),
        "airflow": model.AirflowDefaults(
            version=version,
            versions=_airflow_versions(reader, version),
            upgrade_timeout=reader.integer(  # 10 s at least: tests on simulated nodes use short limits
                f"{AIRPOOL}.airflow.upgradeTimeoutSeconds",
                _airflow_defaults.upgrade_timeout,
                minimum=10,
                maximum=86_400,
            ),
            executor=executor,
            database_admin_url=reader.string(f"{AIRPOOL}.airflow.databaseAdminUrl", None),
            read_health_endpoint=bool(
                reader.boolean(f"{AIRPOOL}.airflow.readHealthEndpoint", _airflow_defaults.read_health_endpoint)
            ),
            postgresql_persistence=_persistence(
                reader, f"{AIRPOOL}.airflow.postgresql.persistence", _airflow_defaults.postgresql_persistence
            ),
            logs_persistence=_persistence(
                reader, f"{AIRPOOL}.airflow.logs.persistence", _airflow_defaults.logs_persistence
            ),
            **_extra_volumes(reader),
        ),
    }


def _airflow_versions(reader: Reader, default_version: str) -> tuple[str, ...]:
    """``airpool.airflow.versions``: Airflow 2.x/3.x versions like ``3.3.2``, oldest first; unset: the built-in list
    plus the default version. A list that leaves out ``airpool.airflow.version`` is refused."""
    path = f"{AIRPOOL}.airflow.versions"
    if not reader.present(path):
        return tuple(sorted({*model.DEFAULT_AIRFLOW_VERSIONS, default_version}, key=rollouts.version_key))
    out: list[str] = []
    for item_path, item in reader.items(path):
        try:
            if not isinstance(item, str) or rollouts.version_key(item)[0] not in (2, 3):
                raise InvalidInput("not a version")
        except InvalidInput:
            reader.problem(item_path, f"{show(item)} is not allowed; allowed: an Airflow 2.x or 3.x version like 3.3.2")
            continue
        if item not in out:
            out.append(item)
    if out and default_version not in out:
        reader.problem(
            path, f"does not offer airpool.airflow.version ({default_version}); add it, or choose one of the list"
        )
    if not out:
        return (default_version,)
    return tuple(sorted(out, key=rollouts.version_key))


def _resources(reader: Reader, path: str, default: Resources) -> Resources:
    out: dict[str, str] = {}
    for field in ("cpu", "memory"):
        value = reader.string(f"{path}.{field}", getattr(default, field))
        try:
            sizes.quantity(value, "value")
        except InvalidInput as exc:
            reader.problem(f"{path}.{field}", exc.message)
        out[field] = value
    return Resources(cpu=out["cpu"], memory=out["memory"])


def _deployment_sizes(reader: Reader) -> tuple[tuple[str, sizes.ComponentLimits], ...]:
    """``airpool.deploymentSizes.<scheduler|webserver|workers|triggerer>``: default replicas and resources, and
    the largest a user may set (``maxReplicas``, ``maxResources``)."""
    out = []
    base = f"{AIRPOOL}.deploymentSizes"
    for name, default in model.DEFAULT_SIZES:
        path = f"{base}.{name}"
        minimum = default.min_replicas
        max_replicas = reader.integer(f"{path}.maxReplicas", default.max_replicas, minimum=max(minimum, 1))
        replicas = reader.integer(f"{path}.replicas", default.default.replicas, minimum=minimum)
        if replicas > max_replicas:
            reader.problem(f"{path}.replicas", f"{replicas} is more than {path}.maxReplicas ({max_replicas})")
        requests = _resources(reader, f"{path}.resources.requests", default.default.requests)
        limits = _resources(reader, f"{path}.resources.limits", default.default.limits)
        largest = _resources(reader, f"{path}.maxResources", default.max_limits)
        limited = sizes.ComponentLimits(
            default=sizes.ComponentSize(replicas=replicas, requests=requests, limits=limits),
            max_replicas=max_replicas,
            min_replicas=minimum,
            max_limits=largest,
        )
        try:
            sizes.check_component(name, {}, limited.default, limited, path=base)
        except InvalidInput as exc:
            reader.problem(f"{path}.resources", f"the defaults do not fit: {exc.message}")
        out.append((name, limited))
    return tuple(out)


# -- images and volumes -------------------------------------------------------------------------------------


def _image(reader: Reader, path: str, default: model.ImageRef, *, tag_optional: bool = False) -> model.ImageRef:
    repository = reader.string(f"{path}.repository", default.repository)
    if not _IMAGE_PART.match(repository):
        reader.problem(f"{path}.repository", f"{show(repository)} is not an image repository like registry/name")
    tag = reader.string(f"{path}.tag", default.tag)
    if tag is not None and not _TAG.match(tag):
        reader.problem(f"{path}.tag", f"{show(tag)} is not an image tag; allowed: letters, digits, '_', '.', '-'")
    if tag is None and not tag_optional:
        reader.problem(f"{path}.tag", "is missing; allowed: an image tag")
    policy = reader.string(f"{path}.pullPolicy", default.pull_policy)
    if policy not in model.PULL_POLICIES:
        reader.problem(
            f"{path}.pullPolicy", f"{show(policy)} is not allowed; allowed: {', '.join(model.PULL_POLICIES)}"
        )
    return model.ImageRef(repository=repository, tag=tag, pull_policy=policy)


def _read_images(reader: Reader) -> model.Images:
    base = f"{AIRPOOL}.images"
    d = _image_defaults
    exporter: model.ImageRef | None = None
    assert d.pgbouncer_exporter is not None
    if reader.boolean(f"{base}.pgbouncerExporter.enabled", True):
        exporter = _image(reader, f"{base}.pgbouncerExporter", d.pgbouncer_exporter)
    secret = reader.string(f"{AIRPOOL}.registry.secretName", None)
    if secret is not None and (len(secret) > 253 or not _SUBDOMAIN.match(secret)):
        reader.problem(f"{AIRPOOL}.registry.secretName", f"{show(secret)} is not a Secret name (DNS-1123 subdomain)")
    return model.Images(
        airflow=_image(reader, f"{base}.airflow", d.airflow, tag_optional=True),
        postgresql=_image(reader, f"{base}.postgresql", d.postgresql),
        redis=_image(reader, f"{base}.redis", d.redis),
        pgbouncer=_image(reader, f"{base}.pgbouncer", d.pgbouncer),
        pgbouncer_exporter=exporter,
        statsd=_image(reader, f"{base}.statsd", d.statsd),
        git_sync=_image(reader, f"{base}.gitSync", d.git_sync),
        pull_secret=secret,
    )


def _persistence(reader: Reader, path: str, default: model.Persistence) -> model.Persistence:
    size = reader.string(f"{path}.size", default.size)
    if not _QUANTITY.match(size):
        reader.problem(f"{path}.size", f"{show(size)} is not a storage size; allowed: a quantity like 8Gi or 500Mi")
    storage_class = reader.string(f"{path}.storageClassName", default.storage_class)
    if storage_class is not None and not _SUBDOMAIN.match(storage_class):
        reader.problem(f"{path}.storageClassName", f"{show(storage_class)} is not a StorageClass name")
    mode = reader.string(f"{path}.accessMode", default.access_mode)
    if mode not in ACCESS_MODES:
        reader.problem(f"{path}.accessMode", f"{show(mode)} is not allowed; allowed: {', '.join(ACCESS_MODES)}")
    return model.Persistence(
        enabled=bool(reader.boolean(f"{path}.enabled", default.enabled)),
        size=size,
        storage_class=storage_class,
        access_mode=mode,
    )


def _extra_volumes(reader: Reader) -> dict[str, tuple[str, ...]]:
    """``airpool.airflow.extraVolumes`` / ``extraVolumeMounts``: Kubernetes volume and volumeMount objects added
    to every Airflow container (an admin's way to bring DAG files from a ConfigMap, a CA bundle, ...)."""
    volumes: list[str] = []
    names: set[str] = set()
    for path, item in reader.items(f"{AIRPOOL}.airflow.extraVolumes"):
        name = item.get("name") if isinstance(item, Mapping) else None
        if not isinstance(name, str):
            reader.bad_type(path, item, "a Kubernetes volume: a mapping with a name and one volume source")
            continue
        problem = dns1123_label_problem(name)
        if problem:
            reader.problem(f"{path}.name", f"{show(name)} {problem}")
        elif name in RESERVED_VOLUME_NAMES:
            allowed = ", ".join(sorted(RESERVED_VOLUME_NAMES))
            reader.problem(f"{path}.name", f"{show(name)} is used by airpool itself; reserved: {allowed}")
        elif name in names:
            reader.problem(f"{path}.name", f"{show(name)} is listed twice; each volume name may appear once")
        elif len(item) < 2:
            reader.problem(path, f"volume {show(name)} names no source; allowed: configMap, secret, emptyDir, ...")
        else:
            names.add(name)
            volumes.append(json.dumps(dict(item), sort_keys=True))
    mounts: list[str] = []
    for path, item in reader.items(f"{AIRPOOL}.airflow.extraVolumeMounts"):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or "mountPath" not in item:
            reader.bad_type(path, item, "a volumeMount: a mapping with name and mountPath")
            continue
        mount_path = item["mountPath"]
        if item["name"] not in names:
            allowed = ", ".join(sorted(names)) or "(none: add it to airpool.airflow.extraVolumes)"
            reader.problem(f"{path}.name", f"{show(item['name'])} is not an extra volume; allowed: {allowed}")
        if not isinstance(mount_path, str) or not mount_path.startswith("/"):
            reader.problem(f"{path}.mountPath", f"{show(mount_path)} is not an absolute path")
        elif mount_path.rstrip("/") in RESERVED_MOUNT_PATHS:
            allowed = ", ".join(sorted(RESERVED_MOUNT_PATHS))
            reader.problem(f"{path}.mountPath", f"{show(mount_path)} is mounted by airpool itself; reserved: {allowed}")
        mounts.append(json.dumps(dict(item), sort_keys=True))
    return {"extra_volumes": tuple(volumes), "extra_volume_mounts": tuple(mounts)}


# -- the pool -----------------------------------------------------------------------------------------------


def _read_deployment_flags(reader: Reader) -> dict[str, bool | None]:
    """Houston's deployment flags as written (None when unset), so precedence can tell set from default."""
    return {
        "manual": reader.boolean(f"{ADVANCED}.manualNamespaceNames", None),
        "hard_delete": reader.boolean(f"{ADVANCED}.hardDeleteDeployment", None),
        "free_form": reader.boolean(f"{ADVANCED}.namespaceFreeFormEntry", None),
        "nfs": reader.boolean(f"{ADVANCED}.nfsMountDagDeployment", None),
        "git_sync": reader.boolean(f"{ADVANCED}.gitSyncDagDeployment", None),
        "triggerer": reader.boolean(f"{ADVANCED}.triggererEnabled", None),
        "global_manual": reader.boolean("global.manualNamespaceNamesEnabled", None),
        "commander_manual": _commander_manual_env(reader),
    }


def _commander_manual_env(reader: Reader) -> bool | None:
    """``COMMANDER_MANUAL_NAMESPACE_NAMES`` from commander's env list; other variables belong to the chart."""
    found: bool | None = None
    for path, item in reader.items(COMMANDER_ENV):
        if not isinstance(item, Mapping) or "name" not in item:
            reader.bad_type(path, item, "a mapping with name and value")
            continue
        if item["name"] != MANUAL_ENV_NAME:
            continue
        value = item.get("value")
        if isinstance(value, bool):
            found = value
        elif isinstance(value, str) and value.lower() in ("true", "false"):
            found = value.lower() == "true"
        else:
            reader.bad_type(f"{path}.value", value, 'true or false (or the strings "true" / "false")')
    return found


def _check_names(reader: Reader, entries: list[tuple[str, Any]], *, platform_namespace: str) -> tuple[str, ...]:
    """Valid, unique, unreserved names in order; every bad one reported at its own item path."""
    reserved = {*SYSTEM_NAMESPACES, platform_namespace}
    seen: dict[str, str] = {}
    names: list[str] = []
    for path, name in entries:
        if not isinstance(name, str):
            reader.bad_type(path, name, "a namespace name (string)")
            continue
        if reader.misread_text(path, name):
            continue
        problem = dns1123_label_problem(name)
        if problem:
            reader.problem(path, f"{show(name)} is not a valid namespace name: it {problem} (DNS-1123 label)")
        elif name in reserved:
            allowed = ", ".join(sorted(reserved))
            reader.problem(path, f"{show(name)} is reserved and cannot be in the pool; reserved: {allowed}")
        elif name in seen:
            reader.problem(path, f"{show(name)} is listed twice (also at {seen[name]}); each name may appear once")
        else:
            seen[name] = path
            names.append(name)
    return tuple(names)


def _advanced_entries(reader: Reader) -> list[tuple[str, Any]]:
    entries: list[tuple[str, Any]] = []
    for path, item in reader.items(f"{ADVANCED}.preCreatedNamespaces"):
        if isinstance(item, Mapping) and "name" in item:
            entries.append((f"{path}.name", item["name"]))
        else:
            reader.bad_type(path, item, "a mapping like {name: <namespace>}")
    return entries


def _effective_pool(
    reader: Reader, flags: dict[str, bool | None], *, platform_namespace: str
) -> tuple[model.PoolSettings | None, model.DeploymentSettings, list[str]]:
    warnings: list[str] = []
    enabled = bool(reader.boolean(f"{STANDARD}.enabled", False))
    create_rbac = bool(reader.boolean(f"{STANDARD}.createRbac", True))
    create_ns = bool(reader.boolean(f"{STANDARD}.namespaces.create", False))
    std_names = _check_names(
        reader, reader.items(f"{STANDARD}.namespaces.names"), platform_namespace=platform_namespace
    )
    adv_names = _check_names(reader, _advanced_entries(reader), platform_namespace=platform_namespace)
    advanced_set = [
        path
        for path, is_set in (
            (f"{ADVANCED}.preCreatedNamespaces", bool(adv_names) or reader.present(f"{ADVANCED}.preCreatedNamespaces")),
            (f"{ADVANCED}.manualNamespaceNames", flags["manual"] is not None),
            (f"{COMMANDER_ENV} {MANUAL_ENV_NAME}", flags["commander_manual"] is not None),
            ("global.manualNamespaceNamesEnabled", flags["global_manual"] is not None),
        )
        if is_set
    ]

    names: tuple[str, ...] = ()
    source: model.PoolSource | None = None
    if adv_names:
        names, source = adv_names, model.PoolSource.ADVANCED
    elif enabled:
        names, source = std_names, model.PoolSource.STANDARD
        if not std_names and not reader.items(f"{STANDARD}.namespaces.names") and not _wrong_type(reader):
            reader.problem(
                f"{STANDARD}.namespaces.names",
                "the namespace pool is enabled but lists no namespaces; allowed: a list of one or more "
                "namespace names (or set enabled: false)",
            )
    manual = flags["manual"] if flags["manual"] is not None else source is not None
    if source is not None and not manual:
        warnings.append(
            f"{ADVANCED}.manualNamespaceNames is false, so users cannot choose a namespace and there is no pool: "
            f"the namespaces {', '.join(names)} are not offered. Set it to true (or remove it) to use the pool."
        )
        names, source = (), None

    pool: model.PoolSettings | None = None
    if source is not None:
        # Advanced-only pools: the admin creates the pool (namespaces and commander's RBAC) by hand.
        pool = model.PoolSettings(
            names=names,
            create_namespaces=create_ns if enabled else False,
            create_rbac=create_rbac if enabled else False,
            source=source,
        )
    if enabled and advanced_set:
        warnings.append(_mixed_warning(pool=pool, std_names=std_names, advanced_set=advanced_set))
    if pool is not None and flags["commander_manual"] is False:
        warnings.append(
            f"{COMMANDER_ENV} {MANUAL_ENV_NAME}=false is ignored: with a pool, commander never creates namespaces."
        )
    if pool is None and flags["commander_manual"] and not flags["free_form"]:
        warnings.append(
            f"{COMMANDER_ENV} {MANUAL_ENV_NAME}=true without a pool or namespaceFreeFormEntry: commander will not "
            "create namespaces and users cannot name one, so new Deployments get airpool's generated namespace."
        )

    hard_delete = flags["hard_delete"]
    if hard_delete is None:
        # The chart's standard pool sets Houston's hardDeleteDeployment; only an explicit value overrides it.
        hard_delete = enabled and source is not None
    deployments = model.DeploymentSettings(
        hard_delete=hard_delete,
        free_form=bool(flags["free_form"]),
        manual_namespace_names=bool(manual),
        nfs_dag_deploys=bool(flags["nfs"]),
        git_sync_dag_deploys=bool(flags["git_sync"]),
        triggerer_enabled=True if flags["triggerer"] is None else flags["triggerer"],
    )
    return pool, deployments, warnings


def _wrong_type(reader: Reader) -> bool:
    """Whether ``names`` is set to something that is not a list (already reported as a wrong type)."""
    value = reader.raw(f"{STANDARD}.namespaces.names")
    return value is not None and not isinstance(value, list) and reader.present(f"{STANDARD}.namespaces.names")


def _mixed_warning(*, pool: model.PoolSettings | None, std_names: tuple[str, ...], advanced_set: list[str]) -> str:
    standard = ", ".join(std_names) or "(none)"
    if pool is None:
        outcome = "no pool is in effect"
    elif pool.source is model.PoolSource.ADVANCED:
        outcome = (
            f"the effective pool is {', '.join(pool.names)} (from {ADVANCED}.preCreatedNamespaces), not "
            f"{standard} (from {STANDARD}.namespaces.names); {STANDARD}.namespaces.create="
            f"{str(pool.create_namespaces).lower()} and createRbac={str(pool.create_rbac).lower()} apply to it"
        )
    else:
        outcome = f"the effective pool is {', '.join(pool.names)} (from {STANDARD}.namespaces.names)"
    return (
        f"standard settings ({STANDARD}.enabled: true) and advanced settings ({', '.join(advanced_set)}) are "
        f"mixed; where both apply the advanced settings win, so {outcome}. Use one style: set {STANDARD}.enabled: "
        "false, or remove the advanced settings."
    )


def _combination_warnings(
    *,
    pool: model.PoolSettings | None,
    deployments: model.DeploymentSettings,
    cluster_roles: bool,
    retention_days: int,
) -> list[str]:
    warnings: list[str] = []
    if pool is not None and not deployments.hard_delete:
        warnings.append(
            f"soft delete with a pool ({ADVANCED}.hardDeleteDeployment: false): a deleted Deployment's namespace "
            f"returns to the pool only after airpool.retentionDays ({retention_days} days). "
            "Set hardDeleteDeployment: true to reuse namespaces at once."
        )
    if pool is not None and deployments.nfs_dag_deploys and not cluster_roles:
        warnings.append(
            f"NFS DAG deploys ({ADVANCED}.nfsMountDagDeployment: true) cannot work with a pool and "
            "global.clusterRoles: false: they need PersistentVolumes, which are cluster-scoped, and a namespaced "
            "Role cannot grant them. Set global.clusterRoles: true (airpool then grants only persistentvolumes "
            "cluster-wide) or turn NFS DAG deploys off."
        )
    if pool is None and not cluster_roles:
        warnings.append(
            "global.clusterRoles: false without a namespace pool: commander gets no ClusterRole, so it has no "
            "right to create namespaces and every new Deployment will fail. Configure a pool "
            f"({STANDARD}) or set global.clusterRoles: true."
        )
    return warnings
