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
