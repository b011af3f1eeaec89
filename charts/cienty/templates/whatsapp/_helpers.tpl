{{/* ---------------------------------------------------------------- whatsapp (the gateway) */}}

{{/* Shared objects: Secret, ServiceAccount, NetworkPolicy, the media claim. */}}
{{- define "cienty.whatsapp.fullname" -}}
{{- printf "%s-whatsapp" (include "cienty.fullname" .) -}}
{{- end -}}

{{/* One process's objects. Args: dict "root" . "process" ("webhook" | "worker"). */}}
{{- define "cienty.whatsapp.processName" -}}
{{- printf "%s-whatsapp-%s" (include "cienty.fullname" .root) .process -}}
{{- end -}}

{{- define "cienty.whatsapp.labels" -}}
{{ include "cienty.labels" . }}
app.kubernetes.io/component: whatsapp
{{- end -}}

{{/* Selector labels of one process's pods: stable for the life of a release. */}}
{{- define "cienty.whatsapp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cienty.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: whatsapp-{{ .process }}
{{- end -}}

{{- define "cienty.whatsapp.processLabels" -}}
{{ include "cienty.labels" .root }}
app.kubernetes.io/component: whatsapp-{{ .process }}
{{- end -}}

{{- define "cienty.whatsapp.image" -}}
{{- include "cienty.image" (dict "image" .Values.whatsapp.image "global" .Values.global "root" .) -}}
{{- end -}}

{{- define "cienty.whatsapp.serviceAccountName" -}}
{{- if .Values.whatsapp.serviceAccount.create -}}
{{- default (include "cienty.whatsapp.fullname" .) .Values.whatsapp.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.whatsapp.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "cienty.whatsapp.secretName" -}}
{{- default (include "cienty.whatsapp.fullname" .) .Values.whatsapp.secrets.existingSecret -}}
{{- end -}}

{{/* CIENTY_CONVERSATIONS_ADDR: whatsapp.conversations.addr, else this release's conversations. */}}
{{- define "cienty.whatsapp.conversationsAddr" -}}
{{- if .Values.whatsapp.conversations.addr -}}
{{- .Values.whatsapp.conversations.addr -}}
{{- else -}}
{{- printf "%s.%s.svc:%v" (include "cienty.conversations.fullname" .) .Release.Namespace .Values.conversations.ports.grpc -}}
{{- end -}}
{{- end -}}

{{/* The webhook's public callback URL, when the chart routes one. */}}
{{- define "cienty.whatsapp.callbackUrl" -}}
{{- with .Values.whatsapp.webhook.ingress -}}
{{- if and .enabled .host -}}
{{- printf "https://%s/webhook" .host -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Where each secret variable comes from, as YAML: NAME: {name, key, optional}. The Meta
credentials are the gateway's own (existingSecret, or the chart's Secret). The service token and
the Redis URL must be the ones conversations uses (the gateway calls it, and reads the outbound
stream it writes), so without existingSecret and without a value of their own they follow
conversations' references (which themselves default to commerce's Secret), or commerce's when
conversations is not in the release. Nothing is generated: a token of our own would not be one
conversations accepts.
*/}}
{{- define "cienty.whatsapp.secretRefs" -}}
{{- $s := .Values.whatsapp.secrets -}}
{{- $keys := $s.existingSecretKeys -}}
{{- $own := include "cienty.whatsapp.secretName" . -}}
{{- $conversations := dict -}}
{{- if .Values.conversations.enabled -}}
{{- $conversations = include "cienty.conversations.secretRefs" . | fromYaml -}}
{{- end -}}
{{- range $env, $key := dict "CIENTY_WHATSAPP_APP_SECRET" "appSecret" "CIENTY_WHATSAPP_VERIFY_TOKEN" "verifyToken" "CIENTY_WHATSAPP_ACCESS_TOKEN" "accessToken" }}
{{ $env }}:
  name: {{ $own }}
  key: {{ ternary (get $keys $key) $env (not (empty $s.existingSecret)) }}
  optional: false
{{- end }}
{{- if and $s.existingSecret (not $.Values.whatsapp.meta.phoneNumberId) }}
CIENTY_WHATSAPP_PHONE_NUMBER_ID:
  name: {{ $own }}
  key: {{ $keys.phoneNumberId }}
  optional: false
{{- end }}
{{- range $env, $key := dict "CIENTY_SERVICE_TOKEN" "serviceToken" "CIENTY_REDIS_URL" "redisUrl" }}
{{ $env }}:
{{- if $s.existingSecret }}
  name: {{ $own }}
  key: {{ get $keys $key }}
{{- else if get $s $key }}
  name: {{ $own }}
  key: {{ $env }}
{{- else if hasKey $conversations $env }}
  {{- $ref := get $conversations $env }}
  name: {{ $ref.name }}
  key: {{ $ref.key }}
{{- else if $.Values.commerce.enabled }}
  name: {{ include "cienty.commerce.secretName" $ }}
  key: {{ include "cienty.commerce.secretKey" (dict "root" $ "key" $key) }}
{{- else }}
  name: {{ $own }}
  key: {{ $env }}
{{- end }}
  optional: false
{{- end }}
{{- end -}}

{{/* Env entries of the secret variables (both processes read all five). */}}
{{- define "cienty.whatsapp.secretEnv" -}}
{{- $refs := include "cienty.whatsapp.secretRefs" . | fromYaml -}}
{{- range $env, $ref := $refs }}
- name: {{ $env }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name }}
      key: {{ $ref.key }}
      optional: {{ $ref.optional }}
{{- end }}
{{- end -}}

{{/* Keys of the chart's own Secret (when existingSecret is empty), as YAML: NAME: value. */}}
{{- define "cienty.whatsapp.ownSecretData" -}}
{{- $s := .Values.whatsapp.secrets -}}
{{- $refs := include "cienty.whatsapp.secretRefs" . | fromYaml -}}
{{- $own := include "cienty.whatsapp.fullname" . -}}
{{- $values := dict "CIENTY_WHATSAPP_APP_SECRET" $s.appSecret "CIENTY_WHATSAPP_VERIFY_TOKEN" $s.verifyToken "CIENTY_WHATSAPP_ACCESS_TOKEN" $s.accessToken "CIENTY_SERVICE_TOKEN" $s.serviceToken "CIENTY_REDIS_URL" $s.redisUrl -}}
{{- range $env, $ref := $refs }}
{{- if and (eq $ref.name $own) (get $values $env) }}
{{ $env }}: {{ get $values $env | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* What the chart's values say to set for each secret variable (NOTES.txt). */}}
{{- define "cienty.whatsapp.secretFields" -}}
CIENTY_WHATSAPP_APP_SECRET: whatsapp.secrets.appSecret (the Meta app's App Secret)
CIENTY_WHATSAPP_VERIFY_TOKEN: whatsapp.secrets.verifyToken (a string you choose)
CIENTY_WHATSAPP_ACCESS_TOKEN: whatsapp.secrets.accessToken (a system user's access token)
CIENTY_SERVICE_TOKEN: whatsapp.secrets.serviceToken (conversations' service token)
CIENTY_REDIS_URL: whatsapp.secrets.redisUrl (the Redis conversations writes to)
{{- end -}}

{{/*
Non-secret settings of one process, as a name → string map (its ConfigMap's data). Both read
the shared ones; the webhook adds its port, body limit and drain, the worker its media directory
and drain. Args: dict "root" . "process" ("webhook" | "worker").
*/}}
{{- define "cienty.whatsapp.config" -}}
{{- $w := .root.Values.whatsapp -}}
CIENTY_ENVIRONMENT: {{ $w.environment | quote }}
CIENTY_LOG_LEVEL: {{ $w.logLevel | quote }}
CIENTY_LOG_FORMAT: {{ $w.logFormat | quote }}
CIENTY_METRICS_PORT: {{ $w.ports.metrics | int64 | toString | quote }}
{{- with $w.meta.phoneNumberId }}
CIENTY_WHATSAPP_PHONE_NUMBER_ID: {{ . | toString | quote }}
{{- end }}
CIENTY_WHATSAPP_GRAPH_URL: {{ $w.meta.graphUrl | quote }}
CIENTY_CONVERSATIONS_ADDR: {{ include "cienty.whatsapp.conversationsAddr" .root | quote }}
CIENTY_INBOUND_PARTITIONS: {{ $w.inbound.partitions | int64 | toString | quote }}
CIENTY_DEDUPE_TTL_HOURS: {{ $w.inbound.dedupeTtlHours | toString | quote }}
CIENTY_HANDLE_DEADLINE_SECONDS: {{ $w.inbound.handleDeadlineSeconds | toString | quote }}
CIENTY_MAX_ATTEMPTS: {{ $w.inbound.maxAttempts | int64 | toString | quote }}
CIENTY_RETRY_BASE_SECONDS: {{ $w.inbound.retryBaseSeconds | toString | quote }}
CIENTY_RETRY_MAX_SECONDS: {{ $w.inbound.retryMaxSeconds | toString | quote }}
CIENTY_STALE_MESSAGE_HOURS: {{ $w.inbound.staleMessageHours | toString | quote }}
CIENTY_FLOOD_BURST: {{ $w.inbound.floodBurst | int64 | toString | quote }}
CIENTY_FLOOD_PER_MINUTE: {{ $w.inbound.floodPerMinute | toString | quote }}
CIENTY_OUTBOUND_STREAM: {{ $w.outbound.stream | default .root.Values.conversations.streams.outbound | quote }}
CIENTY_OUTBOUND_GROUP: {{ $w.outbound.group | quote }}
CIENTY_PACE_SECONDS: {{ $w.outbound.paceSeconds | toString | quote }}
CIENTY_PACE_BURST: {{ $w.outbound.paceBurst | int64 | toString | quote }}
{{- if eq .process "webhook" }}
CIENTY_HTTP_PORT: {{ $w.ports.http | int64 | toString | quote }}
CIENTY_WEBHOOK_MAX_BODY_BYTES: {{ $w.webhook.maxBodyBytes | int64 | toString | quote }}
CIENTY_SHUTDOWN_GRACE_SECONDS: {{ $w.webhook.shutdownGraceSeconds | toString | quote }}
{{- else }}
CIENTY_MEDIA_DIR: {{ $w.worker.media.mountPath | quote }}
CIENTY_SHUTDOWN_GRACE_SECONDS: {{ $w.worker.shutdownGraceSeconds | toString | quote }}
{{- end }}
{{- range $k, $v := $w.extraEnv }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end -}}

{{/* The media volume's claim: existingClaim, or the chart's. */}}
{{- define "cienty.whatsapp.mediaClaim" -}}
{{- default (printf "%s-media" (include "cienty.whatsapp.fullname" .)) .Values.whatsapp.worker.media.persistence.existingClaim -}}
{{- end -}}

{{/* Refuse settings that cannot work together. */}}
{{- define "cienty.whatsapp.validate" -}}
{{- $w := .Values.whatsapp -}}
{{- if and (not $w.meta.phoneNumberId) (not $w.secrets.existingSecret) -}}
{{- fail "whatsapp.meta.phoneNumberId is empty: set the id of the WhatsApp business phone number (the Meta app's WhatsApp > API Setup page), or keep it in whatsapp.secrets.existingSecret (key whatsapp.secrets.existingSecretKeys.phoneNumberId)" -}}
{{- end -}}
{{- if and (not $w.conversations.addr) (not .Values.conversations.enabled) -}}
{{- fail "whatsapp.conversations.addr is empty and conversations.enabled is false: set the address of the conversations gRPC API the gateway calls" -}}
{{- end -}}
{{- $h := $w.webhook -}}
{{- if le (float64 $h.terminationGracePeriodSeconds) (addf $h.shutdownGraceSeconds $h.preStopSleepSeconds) -}}
{{- fail (printf "whatsapp.webhook.terminationGracePeriodSeconds (%v) must exceed whatsapp.webhook.preStopSleepSeconds + whatsapp.webhook.shutdownGraceSeconds (%v + %v), or the drain is cut short by SIGKILL" $h.terminationGracePeriodSeconds $h.preStopSleepSeconds $h.shutdownGraceSeconds) -}}
{{- end -}}
{{- if and $h.autoscaling.enabled (gt (int $h.autoscaling.minReplicas) (int $h.autoscaling.maxReplicas)) -}}
{{- fail "whatsapp.webhook.autoscaling.minReplicas must not exceed whatsapp.webhook.autoscaling.maxReplicas" -}}
{{- end -}}
{{- if and $h.ingress.enabled (not $h.ingress.host) -}}
{{- fail "whatsapp.webhook.ingress.enabled needs whatsapp.webhook.ingress.host, the public name Meta calls (https://<host>/webhook)" -}}
{{- end -}}
{{- $k := $w.worker -}}
{{- if le (float64 $k.terminationGracePeriodSeconds) (float64 $k.shutdownGraceSeconds) -}}
{{- fail (printf "whatsapp.worker.terminationGracePeriodSeconds (%v) must exceed whatsapp.worker.shutdownGraceSeconds (%v), or the drain is cut short by SIGKILL" $k.terminationGracePeriodSeconds $k.shutdownGraceSeconds) -}}
{{- end -}}
{{- if lt (float64 $k.shutdownGraceSeconds) (float64 $w.inbound.handleDeadlineSeconds) -}}
{{- fail (printf "whatsapp.worker.shutdownGraceSeconds (%v) must be at least whatsapp.inbound.handleDeadlineSeconds (%v), or a rollout cuts agent turns short" $k.shutdownGraceSeconds $w.inbound.handleDeadlineSeconds) -}}
{{- end -}}
{{- if gt (float64 $w.inbound.retryBaseSeconds) (float64 $w.inbound.retryMaxSeconds) -}}
{{- fail "whatsapp.inbound.retryBaseSeconds must not exceed whatsapp.inbound.retryMaxSeconds" -}}
{{- end -}}
{{- if eq (int $w.ports.http) (int $w.ports.metrics) -}}
{{- fail "whatsapp.ports.http and whatsapp.ports.metrics must differ" -}}
{{- end -}}
{{- end -}}
