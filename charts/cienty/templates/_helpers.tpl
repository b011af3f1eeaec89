{{/*
Shared helpers of the Cienty umbrella chart. Names are namespaced "cienty.*"; per-component
helpers are "cienty.<component>.*".
*/}}

{{/* Chart name, or nameOverride. */}}
{{- define "cienty.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Prefix of every object name: fullnameOverride, else the release name when it already contains
the chart name, else "<release>-<chart>". Components append "-<component>", so the prefix is cut
to leave room for the longest component name within the 63-character DNS label.
*/}}
{{- define "cienty.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "cienty.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "name-version" for the helm.sh/chart label. */}}
{{- define "cienty.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "cienty.labels" -}}
helm.sh/chart: {{ include "cienty.chart" . }}
app.kubernetes.io/name: {{ include "cienty.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cienty
{{- with .Values.global.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Image reference: [registry/]repository[:tag][@digest]. Args: dict "image" "global" "root". */}}
{{- define "cienty.image" -}}
{{- $registry := .image.registry | default .global.imageRegistry -}}
{{- $tag := .image.tag | default .global.imageTag | default .root.Chart.AppVersion | toString -}}
{{- $ref := .image.repository -}}
{{- if $registry -}}
{{- $ref = printf "%s/%s" (trimSuffix "/" $registry) $ref -}}
{{- end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $ref .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref $tag -}}
{{- end -}}
{{- end -}}

{{/* ---------------------------------------------------------------- commerce */}}

{{- define "cienty.commerce.fullname" -}}
{{- printf "%s-commerce" (include "cienty.fullname" .) -}}
{{- end -}}

{{/* Selector labels: stable for the life of a release, never the version. */}}
{{- define "cienty.commerce.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cienty.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: commerce
{{- end -}}

{{- define "cienty.commerce.labels" -}}
{{ include "cienty.labels" . }}
app.kubernetes.io/component: commerce
{{- end -}}

{{- define "cienty.commerce.image" -}}
{{- include "cienty.image" (dict "image" .Values.commerce.image "global" .Values.global "root" .) -}}
{{- end -}}

{{- define "cienty.commerce.serviceAccountName" -}}
{{- if .Values.commerce.serviceAccount.create -}}
{{- default (include "cienty.commerce.fullname" .) .Values.commerce.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.commerce.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the commerce credentials: existingSecret, or the one the chart creates. */}}
{{- define "cienty.commerce.secretName" -}}
{{- default (include "cienty.commerce.fullname" .) .Values.commerce.secrets.existingSecret -}}
{{- end -}}

{{/* Key names inside that Secret: existingSecretKeys for an existing Secret, else the env names. */}}
{{- define "cienty.commerce.secretKey" -}}
{{- $s := .root.Values.commerce.secrets -}}
{{- if $s.existingSecret -}}
{{- get $s.existingSecretKeys .key -}}
{{- else -}}
{{- get (dict "serviceToken" "CIENTY_SERVICE_TOKEN" "databaseUrl" "CIENTY_DATABASE_URL" "redisUrl" "CIENTY_REDIS_URL") .key -}}
{{- end -}}
{{- end -}}

{{/* Env entries of the three secret variables (server Deployment and migrate Job alike). */}}
{{- define "cienty.commerce.secretEnv" -}}
{{- $name := include "cienty.commerce.secretName" . -}}
- name: CIENTY_SERVICE_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ include "cienty.commerce.secretKey" (dict "root" . "key" "serviceToken") }}
- name: CIENTY_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ include "cienty.commerce.secretKey" (dict "root" . "key" "databaseUrl") }}
- name: CIENTY_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ include "cienty.commerce.secretKey" (dict "root" . "key" "redisUrl") }}
{{- end -}}

{{/* Non-secret settings, as a name → string map (ConfigMap data; inline env of the hook Job). */}}
{{- define "cienty.commerce.config" -}}
{{- $c := .Values.commerce -}}
CIENTY_ENVIRONMENT: {{ $c.environment | quote }}
CIENTY_GRPC_PORT: {{ $c.ports.grpc | toString | quote }}
CIENTY_METRICS_PORT: {{ $c.ports.metrics | toString | quote }}
CIENTY_LOG_LEVEL: {{ $c.logLevel | quote }}
CIENTY_LOG_FORMAT: {{ $c.logFormat | quote }}
CIENTY_SHUTDOWN_GRACE_SECONDS: {{ $c.shutdownGraceSeconds | toString | quote }}
{{- range $k, $v := $c.extraEnv }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end -}}

{{/* Refuse settings that cannot work together. */}}
{{- define "cienty.commerce.validate" -}}
{{- $c := .Values.commerce -}}
{{- if le (float64 $c.terminationGracePeriodSeconds) (addf $c.shutdownGraceSeconds $c.preStopSleepSeconds) -}}
{{- fail (printf "commerce.terminationGracePeriodSeconds (%v) must exceed commerce.preStopSleepSeconds + commerce.shutdownGraceSeconds (%v + %v), or the drain is cut short by SIGKILL" $c.terminationGracePeriodSeconds $c.preStopSleepSeconds $c.shutdownGraceSeconds) -}}
{{- end -}}
{{- if and $c.autoscaling.enabled (gt (int $c.autoscaling.minReplicas) (int $c.autoscaling.maxReplicas)) -}}
{{- fail "commerce.autoscaling.minReplicas must not exceed commerce.autoscaling.maxReplicas" -}}
{{- end -}}
{{- end -}}

{{/* ---------------------------------------------------------------- knowledge */}}

{{/* Shared settings of the operator and its Jobs: the ConfigMap and the chart's Secret. */}}
{{- define "cienty.knowledge.fullname" -}}
{{- printf "%s-knowledge" (include "cienty.fullname" .) -}}
{{- end -}}

{{/* The operator: Deployment, its ServiceAccount, RBAC, metrics Service, ServiceMonitor. */}}
{{- define "cienty.knowledge.operator.fullname" -}}
{{- printf "%s-knowledge-operator" (include "cienty.fullname" .) -}}
{{- end -}}

{{- define "cienty.knowledge.labels" -}}
{{ include "cienty.labels" . }}
app.kubernetes.io/component: knowledge
{{- end -}}

{{/* Selector labels of the operator pod: stable for the life of a release. The ingestion
Jobs' pods carry component "ingestion", so they never match. */}}
{{- define "cienty.knowledge.operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cienty.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: knowledge-operator
{{- end -}}

{{- define "cienty.knowledge.operator.labels" -}}
{{ include "cienty.labels" . }}
app.kubernetes.io/component: knowledge-operator
{{- end -}}

{{/* One image for the operator and the ingestion Jobs. */}}
{{- define "cienty.knowledge.image" -}}
{{- include "cienty.image" (dict "image" .Values.knowledge.image "global" .Values.global "root" .) -}}
{{- end -}}

{{- define "cienty.knowledge.operator.serviceAccountName" -}}
{{- default (include "cienty.knowledge.operator.fullname" .) .Values.knowledge.operator.serviceAccount.name -}}
{{- end -}}

{{- define "cienty.knowledge.worker.serviceAccountName" -}}
{{- default (printf "%s-knowledge-worker" (include "cienty.fullname" .)) .Values.knowledge.worker.serviceAccount.name -}}
{{- end -}}

{{/* The Secret with CIENTY_DATABASE_URL / CIENTY_WEAVIATE_API_KEY: existingSecret or the chart's. */}}
{{- define "cienty.knowledge.secretName" -}}
{{- default (include "cienty.knowledge.fullname" .) .Values.knowledge.secrets.existingSecret -}}
{{- end -}}

{{/*
Namespaces that hold the worker ServiceAccount, the ConfigMap and the Secret, one per line:
the release namespace (the operator reads them there) and every watched namespace (the Jobs run
in their KnowledgeSource's namespace and read them there).
*/}}
{{- define "cienty.knowledge.workerNamespaces" -}}
{{- $namespaces := list .Release.Namespace -}}
{{- range .Values.knowledge.operator.watchNamespaces -}}
{{- $namespaces = append $namespaces . -}}
{{- end -}}
{{- join "\n" (uniq $namespaces) -}}
{{- end -}}

{{/* Non-secret settings of the operator and the Jobs, as a name → string map (ConfigMap data). */}}
{{- define "cienty.knowledge.config" -}}
{{- $k := .Values.knowledge -}}
CIENTY_LOG_LEVEL: {{ $k.logLevel | quote }}
CIENTY_VECTOR_BACKEND: {{ $k.vectorBackend | quote }}
{{- with $k.weaviateUrl }}
CIENTY_WEAVIATE_URL: {{ . | quote }}
{{- end }}
{{- with $k.embeddingUrl }}
CIENTY_EMBEDDING_URL: {{ . | quote }}
{{- end }}
CIENTY_EMBEDDING_MODEL: {{ $k.embeddingModel | quote }}
CIENTY_KNOWLEDGE_COLLECTION: {{ $k.collection | quote }}
CIENTY_OPERATOR_NAMESPACES: {{ join "," $k.operator.watchNamespaces | quote }}
CIENTY_WORKER_IMAGE: {{ include "cienty.knowledge.image" . | quote }}
CIENTY_WORKER_IMAGE_PULL_POLICY: {{ $k.image.pullPolicy | quote }}
CIENTY_WORKER_SERVICE_ACCOUNT: {{ include "cienty.knowledge.worker.serviceAccountName" . | quote }}
CIENTY_WORKER_ENV_CONFIG_MAP: {{ include "cienty.knowledge.fullname" . | quote }}
CIENTY_WORKER_ENV_SECRET: {{ include "cienty.knowledge.secretName" . | quote }}
CIENTY_JOB_CPU_REQUEST: {{ $k.worker.resources.requests.cpu | toString | quote }}
CIENTY_JOB_MEMORY_REQUEST: {{ $k.worker.resources.requests.memory | toString | quote }}
CIENTY_JOB_CPU_LIMIT: {{ $k.worker.resources.limits.cpu | toString | quote }}
CIENTY_JOB_MEMORY_LIMIT: {{ $k.worker.resources.limits.memory | toString | quote }}
CIENTY_JOB_BACKOFF_LIMIT: {{ $k.worker.backoffLimit | toString | quote }}
CIENTY_JOB_TTL_SECONDS_AFTER_FINISHED: {{ $k.worker.ttlSecondsAfterFinished | toString | quote }}
CIENTY_JOB_ACTIVE_DEADLINE_SECONDS: {{ $k.worker.activeDeadlineSeconds | toString | quote }}
CIENTY_METRICS_PORT: {{ $k.operator.ports.metrics | toString | quote }}
CIENTY_LIVENESS_PORT: {{ $k.operator.ports.health | toString | quote }}
{{- range $name, $value := $k.extraEnv }}
{{ $name }}: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/*
The operator's RBAC rules: exactly those of operators/knowledge/deploy/rbac.yaml (tests compare
them). Arg: dict "clusterwide" bool. The namespaced form (Role) drops the rules on cluster-scoped
resources (CRDs, namespaces): Kopf then logs that it cannot watch them and uses the namespaces
it was given.
*/}}
{{- define "cienty.knowledge.rbacRules" -}}
{{- if .clusterwide }}
# Kopf's resource discovery: list/watch CRDs (read-only) and namespaces.
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end }}
# The operator's own resource: watch, finalizer and progress annotations, status.
- apiGroups: [knowledge.cienty.io]
  resources: [knowledgesources]
  verbs: [get, list, watch, patch]
- apiGroups: [knowledge.cienty.io]
  resources: [knowledgesources/status, knowledgesources/finalizers]
  verbs: [get, patch, update]
# Ingestion Jobs and their pods' termination messages and logs.
- apiGroups: [batch]
  resources: [jobs]
  verbs: [create, get, list, watch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
# ConfigMap sources are mounted by the Job; the operator only reads them.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]
# Kopf posts handler outcomes as events.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create]
{{- end -}}

{{/* Refuse settings that cannot work together. */}}
{{- define "cienty.knowledge.validate" -}}
{{- $k := .Values.knowledge -}}
{{- if and (eq $k.vectorBackend "weaviate") (not $k.weaviateUrl) -}}
{{- fail "knowledge.vectorBackend weaviate needs knowledge.weaviateUrl" -}}
{{- end -}}
{{- if eq (int $k.operator.ports.metrics) (int $k.operator.ports.health) -}}
{{- fail "knowledge.operator.ports.metrics and knowledge.operator.ports.health must differ" -}}
{{- end -}}
{{- end -}}
