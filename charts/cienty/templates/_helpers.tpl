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

{{/* ---------------------------------------------------------------- conversations */}}

{{- define "cienty.conversations.fullname" -}}
{{- printf "%s-conversations" (include "cienty.fullname" .) -}}
{{- end -}}

{{/* Selector labels: stable for the life of a release, never the version. */}}
{{- define "cienty.conversations.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cienty.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: conversations
{{- end -}}

{{- define "cienty.conversations.labels" -}}
{{ include "cienty.labels" . }}
app.kubernetes.io/component: conversations
{{- end -}}

{{- define "cienty.conversations.image" -}}
{{- include "cienty.image" (dict "image" .Values.conversations.image "global" .Values.global "root" .) -}}
{{- end -}}

{{- define "cienty.conversations.serviceAccountName" -}}
{{- if .Values.conversations.serviceAccount.create -}}
{{- default (include "cienty.conversations.fullname" .) .Values.conversations.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.conversations.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret of the conversations credentials: existingSecret, or the one the chart creates. */}}
{{- define "cienty.conversations.secretName" -}}
{{- default (include "cienty.conversations.fullname" .) .Values.conversations.secrets.existingSecret -}}
{{- end -}}

{{/* CIENTY_COMMERCE_ADDR: conversations.commerce.addr, else this release's commerce Service. */}}
{{- define "cienty.conversations.commerceAddr" -}}
{{- $c := .Values.conversations -}}
{{- if $c.commerce.addr -}}
{{- $c.commerce.addr -}}
{{- else -}}
{{- printf "%s.%s.svc:%v" (include "cienty.commerce.fullname" .) .Release.Namespace .Values.commerce.ports.grpc -}}
{{- end -}}
{{- end -}}

{{/*
Where each secret variable comes from, as YAML: NAME: {name, key, optional}. Without
existingSecret, what conversations shares with another component defaults to that component's
Secret: the service token and the Redis URL to commerce's (one token for the platform; the order
events are in commerce's Redis), the pgvector URL and the Weaviate key to the knowledge
component's. What nobody provides is read from the chart's own Secret, whose key is then
missing when the value is empty (NOTES.txt warns). Only the variables the configuration needs
are listed: the knowledge base's by backend, ANTHROPIC_API_KEY when a Secret is named.
*/}}
{{- define "cienty.conversations.secretRefs" -}}
{{- $c := .Values.conversations -}}
{{- $s := $c.secrets -}}
{{- $keys := $s.existingSecretKeys -}}
{{- $own := include "cienty.conversations.secretName" . -}}
{{- $commerce := include "cienty.commerce.secretName" . -}}
{{- $knowledge := include "cienty.knowledge.secretName" . -}}
CIENTY_SERVICE_TOKEN:
{{- if $s.existingSecret }}
  name: {{ $own }}
  key: {{ $keys.serviceToken }}
{{- else if and (not $s.serviceToken) .Values.commerce.enabled }}
  name: {{ $commerce }}
  key: {{ include "cienty.commerce.secretKey" (dict "root" . "key" "serviceToken") }}
{{- else }}
  name: {{ $own }}
  key: CIENTY_SERVICE_TOKEN
{{- end }}
  optional: false
CIENTY_DATABASE_URL:
  name: {{ $own }}
  key: {{ ternary $keys.databaseUrl "CIENTY_DATABASE_URL" (not (empty $s.existingSecret)) }}
  optional: false
CIENTY_REDIS_URL:
{{- if $s.existingSecret }}
  name: {{ $own }}
  key: {{ $keys.redisUrl }}
{{- else if and (not $s.redisUrl) .Values.commerce.enabled }}
  name: {{ $commerce }}
  key: {{ include "cienty.commerce.secretKey" (dict "root" . "key" "redisUrl") }}
{{- else }}
  name: {{ $own }}
  key: CIENTY_REDIS_URL
{{- end }}
  optional: false
{{- if and $c.knowledge.enabled (eq $c.knowledge.vectorBackend "pgvector") }}
CIENTY_KNOWLEDGE_DATABASE_URL:
{{- if $s.existingSecret }}
  name: {{ $own }}
  key: {{ $keys.knowledgeDatabaseUrl }}
{{- else if and (not $s.knowledgeDatabaseUrl) .Values.knowledge.enabled }}
  name: {{ $knowledge }}
  key: CIENTY_DATABASE_URL
{{- else }}
  name: {{ $own }}
  key: CIENTY_KNOWLEDGE_DATABASE_URL
{{- end }}
  optional: false
{{- end }}
{{- if and $c.knowledge.enabled (eq $c.knowledge.vectorBackend "weaviate") }}
{{- if $s.existingSecret }}
CIENTY_WEAVIATE_API_KEY:
  name: {{ $own }}
  key: {{ $keys.weaviateApiKey }}
  optional: true
{{- else if $s.weaviateApiKey }}
CIENTY_WEAVIATE_API_KEY:
  name: {{ $own }}
  key: CIENTY_WEAVIATE_API_KEY
  optional: false
{{- else if .Values.knowledge.enabled }}
CIENTY_WEAVIATE_API_KEY:
  name: {{ $knowledge }}
  key: CIENTY_WEAVIATE_API_KEY
  optional: true
{{- end }}
{{- end }}
{{- with $c.llm.anthropicApiKeySecret.name }}
ANTHROPIC_API_KEY:
  name: {{ . }}
  key: {{ $c.llm.anthropicApiKeySecret.key }}
  optional: false
{{- end }}
{{- end -}}

{{/* Env entries of secret variables. Args: dict "root" . "only" (list of names; empty: all). */}}
{{- define "cienty.conversations.secretEnv" -}}
{{- $refs := include "cienty.conversations.secretRefs" .root | fromYaml -}}
{{- range $env, $ref := $refs }}
{{- if or (not $.only) (has $env $.only) }}
- name: {{ $env }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name }}
      key: {{ $ref.key }}
      optional: {{ $ref.optional }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Keys of the chart's own Secret (when existingSecret is empty), as YAML: NAME: value. */}}
{{- define "cienty.conversations.ownSecretData" -}}
{{- $s := .Values.conversations.secrets -}}
{{- $refs := include "cienty.conversations.secretRefs" . | fromYaml -}}
{{- $own := include "cienty.conversations.fullname" . -}}
{{- $values := dict "CIENTY_DATABASE_URL" $s.databaseUrl "CIENTY_REDIS_URL" $s.redisUrl "CIENTY_KNOWLEDGE_DATABASE_URL" $s.knowledgeDatabaseUrl "CIENTY_WEAVIATE_API_KEY" $s.weaviateApiKey -}}
{{- range $env, $ref := $refs }}
{{- if and (eq $ref.name $own) (get $values $env) }}
{{ $env }}: {{ get $values $env | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Non-secret settings, as a name → string map (ConfigMap data; inline env of the hook Job). */}}
{{- define "cienty.conversations.config" -}}
{{- $c := .Values.conversations -}}
CIENTY_ENVIRONMENT: {{ $c.environment | quote }}
CIENTY_GRPC_PORT: {{ $c.ports.grpc | toString | quote }}
CIENTY_METRICS_PORT: {{ $c.ports.metrics | toString | quote }}
CIENTY_LOG_LEVEL: {{ $c.logLevel | quote }}
CIENTY_LOG_FORMAT: {{ $c.logFormat | quote }}
CIENTY_SHUTDOWN_GRACE_SECONDS: {{ $c.shutdownGraceSeconds | toString | quote }}
CIENTY_DATABASE_POOL_SIZE: {{ $c.databasePoolSize | toString | quote }}
CIENTY_COMMERCE_ADDR: {{ include "cienty.conversations.commerceAddr" . | quote }}
CIENTY_COMMERCE_TIMEOUT_SECONDS: {{ $c.commerce.timeoutSeconds | toString | quote }}
CIENTY_AGENT_MAX_STEPS: {{ $c.agent.maxSteps | toString | quote }}
CIENTY_AGENT_TURN_TIMEOUT_SECONDS: {{ $c.agent.turnTimeoutSeconds | toString | quote }}
CIENTY_AGENT_HISTORY_TOKENS: {{ $c.agent.historyTokens | toString | quote }}
CIENTY_AGENT_MAX_REPLY_TOKENS: {{ $c.agent.maxReplyTokens | toString | quote }}
CIENTY_HANDOVER_AFTER_FAILURES: {{ $c.agent.handoverAfterFailures | toString | quote }}
CIENTY_PROPOSAL_TTL_MINUTES: {{ $c.agent.proposalTtlMinutes | toString | quote }}
CIENTY_DUPLICATE_WAIT_SECONDS: {{ $c.agent.duplicateWaitSeconds | toString | quote }}
CIENTY_OUTBOUND_STREAM: {{ $c.streams.outbound | quote }}
CIENTY_EVENTS_STREAM: {{ $c.streams.events | quote }}
CIENTY_STREAM_MAX_LENGTH: {{ $c.streams.maxLength | toString | quote }}
CIENTY_OUTBOX_POLL_SECONDS: {{ $c.streams.outboxPollSeconds | toString | quote }}
CIENTY_OUTBOX_RETENTION_HOURS: {{ $c.streams.outboxRetentionHours | toString | quote }}
CIENTY_PROCESSED_EVENTS_RETENTION_DAYS: {{ $c.notifications.processedEventsRetentionDays | toString | quote }}
CIENTY_NOTIFICATIONS_ENABLED: {{ $c.notifications.enabled | toString | quote }}
CIENTY_ORDER_EVENTS_STREAM: {{ $c.notifications.orderEventsStream | quote }}
CIENTY_ORDER_EVENTS_GROUP: {{ $c.notifications.orderEventsGroup | quote }}
CIENTY_ORDER_UPDATE_TEMPLATE: {{ $c.notifications.orderUpdateTemplate | quote }}
{{- if $c.knowledge.enabled }}
CIENTY_KNOWLEDGE_RESULTS: {{ $c.knowledge.results | toString | quote }}
CIENTY_VECTOR_BACKEND: {{ $c.knowledge.vectorBackend | quote }}
{{- with $c.knowledge.weaviateUrl }}
CIENTY_WEAVIATE_URL: {{ . | quote }}
{{- end }}
CIENTY_EMBEDDING_URL: {{ $c.knowledge.embeddingUrl | quote }}
CIENTY_EMBEDDING_MODEL: {{ $c.knowledge.embeddingModel | quote }}
CIENTY_KNOWLEDGE_COLLECTION: {{ $c.knowledge.collection | quote }}
{{- else }}
{{- /* Empty: the agent has no knowledge base tool (unset would mean a localhost default). */}}
CIENTY_KNOWLEDGE_DATABASE_URL: ""
{{- end }}
CIENTY_LLM_PRIMARY_URL: {{ $c.llm.primaryUrl | quote }}
CIENTY_LLM_PRIMARY_MODEL: {{ $c.llm.primaryModel | quote }}
{{- with $c.llm.fallbackModel }}
CIENTY_LLM_FALLBACK_MODEL: {{ . | quote }}
{{- end }}
{{- with $c.llm.anthropicBaseUrl }}
ANTHROPIC_BASE_URL: {{ . | quote }}
{{- end }}
CIENTY_LLM_FIRST_TOKEN_TIMEOUT_SECONDS: {{ $c.llm.firstTokenTimeoutSeconds | toString | quote }}
CIENTY_LLM_TOTAL_TIMEOUT_SECONDS: {{ $c.llm.totalTimeoutSeconds | toString | quote }}
{{- range $k, $v := $c.extraEnv }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end -}}

{{/* Refuse settings that cannot work together. */}}
{{- define "cienty.conversations.validate" -}}
{{- $c := .Values.conversations -}}
{{- if le (float64 $c.terminationGracePeriodSeconds) (addf $c.shutdownGraceSeconds $c.preStopSleepSeconds) -}}
{{- fail (printf "conversations.terminationGracePeriodSeconds (%v) must exceed conversations.preStopSleepSeconds + conversations.shutdownGraceSeconds (%v + %v), or the drain is cut short by SIGKILL" $c.terminationGracePeriodSeconds $c.preStopSleepSeconds $c.shutdownGraceSeconds) -}}
{{- end -}}
{{- if lt (float64 $c.shutdownGraceSeconds) (float64 $c.agent.turnTimeoutSeconds) -}}
{{- fail (printf "conversations.shutdownGraceSeconds (%v) must be at least conversations.agent.turnTimeoutSeconds (%v), or a rollout cuts customer turns short" $c.shutdownGraceSeconds $c.agent.turnTimeoutSeconds) -}}
{{- end -}}
{{- if and $c.autoscaling.enabled (gt (int $c.autoscaling.minReplicas) (int $c.autoscaling.maxReplicas)) -}}
{{- fail "conversations.autoscaling.minReplicas must not exceed conversations.autoscaling.maxReplicas" -}}
{{- end -}}
{{- if and (not $c.commerce.addr) (not .Values.commerce.enabled) -}}
{{- fail "conversations.commerce.addr is empty and commerce.enabled is false: set the address of the commerce gRPC API conversations calls" -}}
{{- end -}}
{{- if and $c.llm.fallbackModel (not $c.llm.anthropicApiKeySecret.name) -}}
{{- fail "conversations.llm.fallbackModel needs conversations.llm.anthropicApiKeySecret.name (the Secret holding ANTHROPIC_API_KEY); the LLM client refuses a fallback without a key" -}}
{{- end -}}
{{- if gt (float64 $c.llm.firstTokenTimeoutSeconds) (float64 $c.llm.totalTimeoutSeconds) -}}
{{- fail "conversations.llm.firstTokenTimeoutSeconds must not exceed conversations.llm.totalTimeoutSeconds" -}}
{{- end -}}
{{- if $c.knowledge.enabled -}}
{{- if and (eq $c.knowledge.vectorBackend "weaviate") (not $c.knowledge.weaviateUrl) -}}
{{- fail "conversations.knowledge.vectorBackend weaviate needs conversations.knowledge.weaviateUrl" -}}
{{- end -}}
{{- $k := .Values.knowledge -}}
{{- if $k.enabled -}}
{{- if not $k.embeddingUrl -}}
{{- fail "knowledge.embeddingUrl is empty, so the knowledge base is embedded with the packaged MiniLM in-process, which conversations (no torch in its image) cannot run to embed its queries: set knowledge.embeddingUrl and knowledge.embeddingModel to the endpoint conversations.knowledge uses, or set conversations.knowledge.enabled=false" -}}
{{- end -}}
{{- if ne $k.embeddingModel $c.knowledge.embeddingModel -}}
{{- fail (printf "conversations.knowledge.embeddingModel (%s) differs from knowledge.embeddingModel (%s): the agent must embed its queries with the model that embedded the knowledge base" $c.knowledge.embeddingModel $k.embeddingModel) -}}
{{- end -}}
{{- if ne $k.vectorBackend $c.knowledge.vectorBackend -}}
{{- fail (printf "conversations.knowledge.vectorBackend (%s) differs from knowledge.vectorBackend (%s): the agent would search a store the knowledge operator does not fill" $c.knowledge.vectorBackend $k.vectorBackend) -}}
{{- end -}}
{{- end -}}
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
