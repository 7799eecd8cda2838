{{/* Names. A release called "keybrake" gets the bare names the docs use: keybrake-stripe, keybrake-operator. */}}
{{- define "keybrake.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "keybrake.operatorName" -}}{{ include "keybrake.fullname" . }}-operator{{- end -}}
{{- define "keybrake.proxyName" -}}{{ include "keybrake.fullname" . }}-proxy{{- end -}}
{{- define "keybrake.operatorTlsSecret" -}}
{{- .Values.operator.tls.existingSecret | default (printf "%s-tls" (include "keybrake.operatorName" .)) -}}
{{- end -}}
{{- define "keybrake.operatorCaConfigMap" -}}{{ include "keybrake.operatorName" . }}-ca{{- end -}}
{{- define "keybrake.leaseName" -}}{{ .Values.operator.leaseName | default (include "keybrake.operatorName" .) }}{{- end -}}

{{/* The in-cluster URL proxies follow; the operator's serving certificate names this host. */}}
{{- define "keybrake.operatorHost" -}}
{{- printf "%s.%s.svc" (include "keybrake.operatorName" .) .Release.Namespace -}}
{{- end -}}

{{- define "keybrake.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: keybrake
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector labels of one component (operator | proxy); never change after install. */}}
{{- define "keybrake.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "keybrake.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/*
The Redis URL, required as soon as more than one proxy replica exists: with per-replica memory
counters every cap would be multiplied by the replica count.
*/}}
{{- define "keybrake.redisSecretName" -}}
{{- if .Values.redis.existingSecret -}}
{{- .Values.redis.existingSecret -}}
{{- else -}}
{{- printf "%s-redis" (include "keybrake.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "keybrake.redisConfigured" -}}
{{- if or .Values.redis.url .Values.redis.existingSecret -}}true{{- end -}}
{{- end -}}

{{- define "keybrake.validate" -}}
{{- if and (gt (int .Values.proxy.replicas) 1) (not (include "keybrake.redisConfigured" .)) -}}
{{- fail (printf "redis.url is required when proxy.replicas > 1 (got %d replicas): the replicas must share spend counters, otherwise every cap is multiplied by the replica count. Set --set redis.url=redis://<host>:6379 (or redis.existingSecret), or proxy.replicas=1." (int .Values.proxy.replicas)) -}}
{{- end -}}
{{- if not (or .Values.proxy.vendors.stripe.enabled .Values.proxy.vendors.twilio.enabled .Values.proxy.vendors.resend.enabled) -}}
{{- fail "proxy.vendors: enable at least one of stripe, twilio, resend" -}}
{{- end -}}
{{- range $old, $new := dict "leaseDurationSeconds" "leaseDuration" "renewDeadlineSeconds" "renewDeadline" "retryPeriodSeconds" "retryPeriod" -}}
{{- if hasKey $.Values.operator $old -}}
{{- fail (printf "operator.%s was replaced by operator.%s, a duration with its unit (e.g. %vs)" $old $new (index $.Values.operator $old)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
A duration value with its unit, as the CLI flags read it (src/duration.ts): 500ms, 30s, 2m, 1h. A
bare number is refused: the CLI would take it as milliseconds, so `maxStaleness: 30` would be 30 ms.
Call with (list "<value path>" <value>).
*/}}
{{- define "keybrake.duration" -}}
{{- $name := index . 0 -}}
{{- $value := toString (index . 1) -}}
{{- if not (regexMatch "^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$" $value) -}}
{{- fail (printf "%s: %q is not a duration with a unit; write e.g. 30s, 500ms or 2m (a bare number would be milliseconds)" $name $value) -}}
{{- end -}}
{{- $value -}}
{{- end -}}

{{- define "keybrake.redisEnv" -}}
{{- if include "keybrake.redisConfigured" . }}
- name: KEYBRAKE_REDIS
  valueFrom:
    secretKeyRef:
      name: {{ include "keybrake.redisSecretName" . }}
      key: {{ if .Values.redis.existingSecret }}{{ .Values.redis.existingSecretKey }}{{ else }}url{{ end }}
{{- end }}
{{- end -}}
