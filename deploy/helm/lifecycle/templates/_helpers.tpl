{{/*
The name of the release's objects: the release name, or <release>-lifecycle
when the release name does not contain "lifecycle".
*/}}
{{- define "lifecycle.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/*
Labels of every object, and the selector of the pods: all three select, so
two releases in one namespace never select each other's pods.
*/}}
{{- define "lifecycle.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: processor
{{- end -}}

{{/* The Secret with the SASL user name and password. */}}
{{- define "lifecycle.saslSecret" -}}
{{- .Values.kafka.sasl.existingSecret | default (printf "%s-sasl" (include "lifecycle.fullname" .)) -}}
{{- end -}}

{{/* The Secret with the HTTP read side's bearer token. */}}
{{- define "lifecycle.tokenSecret" -}}
{{- .Values.http.token.existingSecret | default (printf "%s-http-token" (include "lifecycle.fullname" .)) -}}
{{- end -}}

{{/* The Secret with the brokers' CA certificate; "" when none is given. */}}
{{- define "lifecycle.caSecret" -}}
{{- with .Values.kafka.tls.ca -}}
{{- if .existingSecret -}}
{{- .existingSecret -}}
{{- else if .pem -}}
{{- printf "%s-kafka-ca" (include "lifecycle.fullname" $) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The ConfigMap with rules.yaml; "" when the engine's defaults apply. */}}
{{- define "lifecycle.rulesConfigMap" -}}
{{- if .Values.rules.existingConfigMap -}}
{{- .Values.rules.existingConfigMap -}}
{{- else if .Values.rules.file -}}
{{- printf "%s-rules" (include "lifecycle.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The container image: repository with the digest, else the tag. */}}
{{- define "lifecycle.image" -}}
{{- with .Values.image -}}
{{- if .digest -}}
{{- printf "%s@%s" .repository .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository (toString .tag) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Combinations of values that render but would not run, refused here with
what to change (values.schema.json checks each value on its own).
*/}}
{{- define "lifecycle.validate" -}}
{{- $v := .Values -}}
{{- if gt (int $v.replicas) (int $v.topics.partitions) -}}
{{- fail (printf "replicas %d is more than topics.partitions %d: the extra pods would get no partition and idle; lower replicas, or create the topics with more partitions and set topics.partitions" (int $v.replicas) (int $v.topics.partitions)) -}}
{{- end -}}
{{- if and (gt (int $v.standbyReplicas) 0) (ge (int $v.standbyReplicas) (int $v.replicas)) -}}
{{- fail (printf "standbyReplicas %d needs at least %d replicas (a standby copy lives on a pod besides the partition's owner); got replicas %d" (int $v.standbyReplicas) (add1 (int $v.standbyReplicas)) (int $v.replicas)) -}}
{{- end -}}
{{- if and $v.kafka.sasl.mechanism (not $v.kafka.sasl.existingSecret) (or (not $v.kafka.sasl.username) (not $v.kafka.sasl.password)) -}}
{{- fail (printf "kafka.sasl.mechanism is %s but no credentials are given: set kafka.sasl.existingSecret to a Secret with the keys username and password, or set kafka.sasl.username and kafka.sasl.password (or kafka.sasl.mechanism \"\" for no SASL)" $v.kafka.sasl.mechanism) -}}
{{- end -}}
{{- if and (not $v.http.token.existingSecret) (not $v.http.token.value) -}}
{{- fail "http.token: give existingSecret (a Secret with the key token) or value (at least 16 characters, e.g. $(openssl rand -hex 32)): /v1/* on 0.0.0.0 must require a token" -}}
{{- end -}}
{{- if and (or $v.kafka.tls.ca.existingSecret $v.kafka.tls.ca.pem $v.kafka.tls.clientCertSecret $v.kafka.tls.serverName) (not $v.kafka.tls.enabled) -}}
{{- fail "kafka.tls.ca, clientCertSecret or serverName is set but kafka.tls.enabled is false: set kafka.tls.enabled true (or drop them)" -}}
{{- end -}}
{{- if and $v.rules.rates (not $v.rules.file) -}}
{{- fail "rules.rates is set without rules.file: the rules file names the rates table (rates_file: rates.csv); give both" -}}
{{- end -}}
{{- range $k, $_ := $v.extraConfig -}}
{{- if not (hasPrefix "LIFECYCLE_" $k) -}}
{{- fail (printf "extraConfig.%s: names must be LIFECYCLE_* variables (a flag --some-flag is LIFECYCLE_SOME_FLAG)" $k) -}}
{{- end -}}
{{- if has $k (include "lifecycle.chartConfig" $ | fromYamlArray) -}}
{{- fail (printf "extraConfig.%s: the chart sets it from its own value (see values.yaml); set that instead" $k) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The LIFECYCLE_* variables the chart sets itself (configmap.yaml, statefulset.yaml). */}}
{{- define "lifecycle.chartConfig" -}}
- LIFECYCLE_BROKERS
- LIFECYCLE_GROUP
- LIFECYCLE_STATE_DIR
- LIFECYCLE_HTTP
- LIFECYCLE_HTTP_TOKEN_FILE
- LIFECYCLE_HTTP_MAX_CONNS
- LIFECYCLE_LOG_FORMAT
- LIFECYCLE_LOG_LEVEL
- LIFECYCLE_TLS
- LIFECYCLE_TLS_SERVER_NAME
- LIFECYCLE_TLS_CA_FILE
- LIFECYCLE_TLS_CERT_FILE
- LIFECYCLE_TLS_KEY_FILE
- LIFECYCLE_SASL_MECHANISM
- LIFECYCLE_SASL_USERNAME
- LIFECYCLE_SASL_PASSWORD
- LIFECYCLE_SASL_PASSWORD_FILE
- LIFECYCLE_CREATE_TOPICS
- LIFECYCLE_PARTITIONS
- LIFECYCLE_REPLICATION
- LIFECYCLE_STANDBY_REPLICAS
- LIFECYCLE_SHUTDOWN_TIMEOUT
- LIFECYCLE_RULES
- LIFECYCLE_RULES_CHANGE
{{- end -}}
