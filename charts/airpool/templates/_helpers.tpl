{{/*
Names. The platform release is airpool.releaseName, else the Helm release name: commander's ServiceAccount is
"<platform release>-commander" (astronomer-commander for a release named astronomer), as in Astronomer Software.
*/}}
{{- define "airpool.release" -}}
{{- (.Values.airpool | default dict).releaseName | default .Release.Name -}}
{{- end -}}

{{- define "airpool.commanderName" -}}
{{- include "airpool.release" . }}-commander
{{- end -}}

{{- define "airpool.serverName" -}}
{{- include "airpool.release" . }}-houston
{{- end -}}

{{- define "airpool.labels" -}}
app.kubernetes.io/name: airpool
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
airpool.io/platform-release: {{ include "airpool.release" . }}
{{- end -}}

{{- define "airpool.selector" -}}
app.kubernetes.io/name: airpool
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "airpool.image" -}}
{{- $image := index .root.Values.astronomer.images .component -}}
{{- printf "%s:%s" $image.repository ($image.tag | default .root.Chart.AppVersion | toString) -}}
{{- end -}}

{{/* true when the server uses PostgreSQL from a Secret; else the embedded SQLite database. */}}
{{- define "airpool.postgres" -}}
{{- if .Values.astronomer.houston.backendSecretName }}true{{ end -}}
{{- end -}}

{{/* Cleanup runs as a CronJob with PostgreSQL; with SQLite the single server runs it on the same schedule. */}}
{{- define "airpool.cleanupCronJob" -}}
{{- if and (include "airpool.postgres" .) .Values.astronomer.houston.cleanupDeployments.enabled }}true{{ end -}}
{{- end -}}

{{/*
The effective pool, by the rules of airpool.config (docs/configuration.md, "The effective pool"): the advanced
preCreatedNamespaces win over the standard names; manualNamespaceNames: false switches the pool off; the chart
creates Namespaces and Roles only for a standard pool. Returned as JSON: {names, createNamespaces, createRbac}.
*/}}
{{- define "airpool.pool" -}}
{{- $pools := .Values.global.features.namespacePools -}}
{{- $deployments := ((.Values.astronomer.houston.config | default dict).deployments | default dict) -}}
{{- $advanced := list -}}
{{- range ($deployments.preCreatedNamespaces | default list) }}{{ $advanced = append $advanced .name }}{{ end -}}
{{- $names := list -}}
{{- if $advanced }}{{ $names = $advanced }}{{ else if $pools.enabled }}{{ $names = $pools.namespaces.names | default list }}{{ end -}}
{{- $manual := true -}}
{{- if hasKey $deployments "manualNamespaceNames" }}{{ $manual = $deployments.manualNamespaceNames }}{{ end -}}
{{- if not $manual }}{{ $names = list }}{{ end -}}
{{- $createRbac := true -}}
{{- if hasKey $pools "createRbac" }}{{ $createRbac = $pools.createRbac }}{{ end -}}
{{- dict "names" $names "createNamespaces" (and $pools.enabled ($pools.namespaces.create | default false)) "createRbac" (and $pools.enabled $createRbac) | toJson -}}
{{- end -}}

{{/* rbacEnabled and clusterRoles default to true, as in airpool.config. */}}
{{- define "airpool.rbacEnabled" -}}
{{- if or (not (hasKey .Values.global "rbacEnabled")) .Values.global.rbacEnabled }}true{{ end -}}
{{- end -}}
{{- define "airpool.clusterRoles" -}}
{{- if or (not (hasKey .Values.global "clusterRoles")) .Values.global.clusterRoles }}true{{ end -}}
{{- end -}}

{{- define "airpool.nfs" -}}
{{- if ((.Values.astronomer.houston.config | default dict).deployments | default dict).nfsMountDagDeployment }}true{{ end -}}
{{- end -}}

{{/*
Refuse values that cannot work, naming the value (helm install/template fails with this message).
*/}}
{{- define "airpool.validate" -}}
{{- $houston := .Values.astronomer.houston -}}
{{- if and (not (include "airpool.postgres" .)) (gt (int $houston.replicas) 1) -}}
{{- fail (printf "astronomer.houston.replicas: %d server replicas need PostgreSQL, but astronomer.houston.backendSecretName is unset, so the server would use the embedded SQLite database, which only one replica may open. Set astronomer.houston.backendSecretName to a Secret whose key `connection` holds the PostgreSQL URL, or set astronomer.houston.replicas: 1." (int $houston.replicas)) -}}
{{- end -}}
{{- if lt (int $houston.replicas) 1 -}}
{{- fail (printf "astronomer.houston.replicas: %v is not allowed; allowed: 1 or more" $houston.replicas) -}}
{{- end -}}
{{- $airpool := .Values.airpool | default dict -}}
{{- if and $airpool.namespace (ne $airpool.namespace .Release.Namespace) -}}
{{- fail (printf "airpool.namespace: %q differs from the release namespace %q; install the chart into the platform namespace (helm install -n %s) or remove airpool.namespace." $airpool.namespace .Release.Namespace $airpool.namespace) -}}
{{- end -}}
{{- if $airpool.databaseUrl -}}
{{- fail "airpool.databaseUrl: not used by the chart (it would sit in a ConfigMap in plain text); put the URL in a Secret's key `connection` and set astronomer.houston.backendSecretName to that Secret's name." -}}
{{- end -}}
{{- $pools := .Values.global.features.namespacePools -}}
{{- $pool := include "airpool.pool" . | fromJson -}}
{{- if and $pools.enabled (not $pool.names) (not (hasKey ((.Values.astronomer.houston.config | default dict).deployments | default dict) "manualNamespaceNames")) -}}
{{- fail "global.features.namespacePools.namespaces.names: the namespace pool is enabled but lists no namespaces; allowed: a list of one or more namespace names (or set global.features.namespacePools.enabled: false)" -}}
{{- end -}}
{{- $reserved := list "kube-system" "kube-public" "kube-node-lease" "default" .Release.Namespace -}}
{{- range $i, $name := ($pools.namespaces.names | default list) -}}
{{- $where := printf "global.features.namespacePools.namespaces.names[%d]" $i -}}
{{- if not (kindIs "string" $name) -}}
{{- fail (printf "%s: %v is not a namespace name; allowed: a string" $where $name) -}}
{{- end -}}
{{- if or (gt (len $name) 63) (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $name)) -}}
{{- fail (printf "%s: %q is not a valid namespace name: a DNS-1123 label has at most 63 lower-case letters, digits and '-', and starts and ends with a letter or digit" $where $name) -}}
{{- end -}}
{{- if has $name $reserved -}}
{{- fail (printf "%s: %q is reserved and cannot be in the pool; reserved: %s" $where $name (join ", " $reserved)) -}}
{{- end -}}
{{- end -}}
{{- range $i, $entry := (((.Values.astronomer.houston.config | default dict).deployments | default dict).preCreatedNamespaces | default list) -}}
{{- $where := printf "astronomer.houston.config.deployments.preCreatedNamespaces[%d].name" $i -}}
{{- if or (not (kindIs "map" $entry)) (not (kindIs "string" $entry.name)) -}}
{{- fail (printf "%s: allowed: a mapping like {name: <namespace>}" $where) -}}
{{- end -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $entry.name) -}}
{{- fail (printf "%s: %q is not a valid namespace name (DNS-1123 label)" $where $entry.name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The values file the server and commander read (AIRPOOL_VALUES): the chart's own values, with what the release
decides (names, namespace, data directory, listen address) filled in.
*/}}
{{- define "airpool.serverValues" -}}
{{- $airpool := deepCopy (.Values.airpool | default dict) -}}
{{- $_ := set $airpool "releaseName" (include "airpool.release" .) -}}
{{- $_ := set $airpool "namespace" .Release.Namespace -}}
{{- $_ := set $airpool "dataDir" "/var/lib/airpool" -}}
{{- $server := deepCopy ($airpool.server | default dict) -}}
{{- $_ := set $server "host" "0.0.0.0" -}}
{{- $_ := set $server "port" 8871 -}}
{{- $_ := set $airpool "server" $server -}}
{{- dict "global" .Values.global "astronomer" .Values.astronomer "airpool" $airpool | toYaml -}}
{{- end -}}

{{- define "airpool.envCommon" -}}
- name: AIRPOOL_VALUES
  value: /etc/airpool/values.yaml
- name: HOME
  value: /tmp
{{- if include "airpool.postgres" . }}
- name: AIRPOOL_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.astronomer.houston.backendSecretName }}
      key: connection
{{- end }}
{{- end -}}

{{- define "airpool.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "airpool.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}
