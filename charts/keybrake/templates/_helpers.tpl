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
Shared counters: the Secret holding the Redis URL (the chart's own, or redis.existingSecret).
redis.deploy runs a try-it-out redis-server in the release and points the URL at it.
*/}}
{{- define "keybrake.redisSecretName" -}}
{{- if .Values.redis.existingSecret -}}
{{- .Values.redis.existingSecret -}}
{{- else -}}
{{- printf "%s-redis" (include "keybrake.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "keybrake.redisName" -}}{{ include "keybrake.fullname" . }}-redis{{- end -}}

{{- define "keybrake.redisUrl" -}}
{{- if .Values.redis.deploy -}}
{{- printf "redis://%s.%s.svc:6379" (include "keybrake.redisName" .) .Release.Namespace -}}
{{- else -}}
{{- .Values.redis.url -}}
{{- end -}}
{{- end -}}

{{/*
A pod reads KEYBRAKE_REDIS once, when it starts: a Redis URL changed by `helm upgrade` changes the
Secret but no running pod, and pods started later (scale-up, reschedule, restart) would count in the
new Redis while the others count in the old one, each cap counted twice. This checksum on both pod
templates rolls every pod when the URL does. It is taken of the values the URL comes from, never of
generated material: redis.deploy's password is generated once and kept (`lookup`), and where lookup
cannot read the cluster (`helm template`, Argo CD) it would be new on every render and roll every pod
on every sync. The content of redis.existingSecret is not the chart's to see: after changing it,
`kubectl rollout restart` both Deployments (docs/kubernetes.md).
*/}}
{{- define "keybrake.redisChecksum" -}}
{{- printf "url=%s\nexistingSecret=%s\nexistingSecretKey=%s" (include "keybrake.redisUrl" .) .Values.redis.existingSecret .Values.redis.existingSecretKey | sha256sum -}}
{{- end -}}

{{- define "keybrake.redisConfigured" -}}
{{- if or .Values.redis.url .Values.redis.existingSecret .Values.redis.deploy -}}true{{- end -}}
{{- end -}}

{{/* The most proxy replicas there can be: the HPA's maximum when it is on. */}}
{{- define "keybrake.maxProxyReplicas" -}}
{{- if .Values.proxy.autoscaling.enabled -}}{{ int .Values.proxy.autoscaling.maxReplicas }}{{- else -}}{{ int .Values.proxy.replicas }}{{- end -}}
{{- end -}}

{{/*
A duration (500ms, 30s, 2m, 1h) in seconds, as a number: thresholds in alerts, the drain budget.
Call with the value; keybrake.duration has refused anything else already.
*/}}
{{- define "keybrake.seconds" -}}
{{- $v := toString . -}}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $v -}}
{{- $unit := trimPrefix $number $v -}}
{{- $n := float64 $number -}}
{{- if eq $unit "ms" -}}{{ divf $n 1000 }}{{- else if eq $unit "s" -}}{{ $n }}{{- else if eq $unit "m" -}}{{ mulf $n 60 }}{{- else -}}{{ mulf $n 3600 }}{{- end -}}
{{- end -}}

{{/*
Checks values.schema.json cannot express (it compares no two values, and knows nothing of the
cluster); the schema checks every value on its own first. The Redis rule is here alone: the
default values (3 replicas, no Redis) break it, and a schema can only say `at '/redis/url':
minLength: got 0, want 1`, while this says what to set.
*/}}
{{- define "keybrake.validate" -}}
{{- $replicas := int (include "keybrake.maxProxyReplicas" .) -}}
{{- if and (gt $replicas 1) (not (include "keybrake.redisConfigured" .)) -}}
{{- $source := ternary "proxy.autoscaling.maxReplicas" "proxy.replicas" (eq (toString .Values.proxy.autoscaling.enabled) "true") -}}
{{- fail (printf "redis.url is required when more than one proxy replica can run (%s is %d): the replicas must share spend counters, otherwise every cap is multiplied by the replica count. Set --set redis.url=redis://<host>:6379 (or redis.existingSecret=<a Secret holding the URL>, or redis.deploy=true for a try-out Redis, not for production), or %s=1 (memory counters)." $source $replicas $source) -}}
{{- end -}}
{{- if not (or .Values.proxy.vendors.stripe.enabled .Values.proxy.vendors.twilio.enabled .Values.proxy.vendors.resend.enabled) -}}
{{- fail "proxy.vendors: enable at least one of stripe, twilio, resend" -}}
{{- end -}}
{{- range $old, $new := dict "leaseDurationSeconds" "leaseDuration" "renewDeadlineSeconds" "renewDeadline" "retryPeriodSeconds" "retryPeriod" -}}
{{- if hasKey $.Values.operator $old -}}
{{- fail (printf "operator.%s was replaced by operator.%s, a duration with its unit (e.g. %vs)" $old $new (index $.Values.operator $old)) -}}
{{- end -}}
{{- end -}}
{{- $proxyPorts := list (list "proxy.port" .Values.proxy.port) (list "proxy.adminPort" .Values.proxy.adminPort) -}}
{{- range $vendor, $v := .Values.proxy.vendors -}}
{{- if $v.enabled -}}
{{- $proxyPorts = append $proxyPorts (list (printf "proxy.vendors.%s.port" $vendor) $v.port) -}}
{{- end -}}
{{- end -}}
{{- include "keybrake.distinctPorts" (list "proxy" $proxyPorts) -}}
{{- include "keybrake.distinctPorts" (list "operator" (list (list "operator.port" .Values.operator.port) (list "operator.adminPort" .Values.operator.adminPort))) -}}
{{- with .Values.proxy.autoscaling -}}
{{- if and .enabled (gt (int .minReplicas) (int .maxReplicas)) -}}
{{- fail (printf "proxy.autoscaling.minReplicas (%d) must not exceed proxy.autoscaling.maxReplicas (%d)" (int .minReplicas) (int .maxReplicas)) -}}
{{- end -}}
{{- end -}}
{{- $drain := float64 (include "keybrake.seconds" (include "keybrake.duration" (list "proxy.drainTimeout" .Values.proxy.drainTimeout))) -}}
{{- $budget := addf $drain (int .Values.proxy.preStopSleepSeconds) -}}
{{- if gt $budget (float64 .Values.proxy.terminationGracePeriodSeconds) -}}
{{- fail (printf "proxy.preStopSleepSeconds (%d) + proxy.drainTimeout (%s) must fit in proxy.terminationGracePeriodSeconds (%d): the kubelet kills the proxy at the end of the grace period, cutting off the calls still draining" (int .Values.proxy.preStopSleepSeconds) .Values.proxy.drainTimeout (int .Values.proxy.terminationGracePeriodSeconds)) -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor")) -}}
{{- fail "metrics.serviceMonitor.enabled needs the Prometheus Operator's CRDs (monitoring.coreos.com/v1 ServiceMonitor), which this cluster does not have: install them first, or leave it disabled (the pods carry prometheus.io/scrape annotations). With helm template, pass --api-versions monitoring.coreos.com/v1/ServiceMonitor." -}}
{{- end -}}
{{- if and .Values.metrics.prometheusRule.enabled (not (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/PrometheusRule")) -}}
{{- fail "metrics.prometheusRule.enabled needs the Prometheus Operator's CRDs (monitoring.coreos.com/v1 PrometheusRule), which this cluster does not have: install them first, or leave it disabled. With helm template, pass --api-versions monitoring.coreos.com/v1/PrometheusRule." -}}
{{- end -}}
{{- end -}}

{{/*
The listeners of one Pod need a port each: two on one port pass the schema (it compares no two
values) and the second fails to bind (EADDRINUSE), so the Pod crash-loops after install. Call with
(list "<component>" (list (list "<value path>" <port>) …)); a disabled vendor's port is left out.
*/}}
{{- define "keybrake.distinctPorts" -}}
{{- $component := index . 0 -}}
{{- $seen := dict -}}
{{- range $entry := index . 1 -}}
{{- $name := index $entry 0 -}}
{{- $port := toString (int (index $entry 1)) -}}
{{- if hasKey $seen $port -}}
{{- fail (printf "%s and %s are both %s: they are listeners of the same %s Pod, and the second could not bind its port (EADDRINUSE), so the Pod would crash-loop. Give each its own port." (get $seen $port) $name $port $component) -}}
{{- end -}}
{{- $_ := set $seen $port $name -}}
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
