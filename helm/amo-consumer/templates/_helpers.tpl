{{/* vim: set filetype=mustache: */}}

{{/*
Chart name, truncated to the 63 characters a DNS-1123 label allows.
*/}}
{{- define "amo-consumer.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified app name: "<release>-<chart>", or the release name alone when it already
contains the chart name. Truncated to 63 characters.
*/}}
{{- define "amo-consumer.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
"name-version" for the helm.sh/chart label.
*/}}
{{- define "amo-consumer.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Selector labels: immutable on a Deployment, so only the stable pair.
*/}}
{{- define "amo-consumer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "amo-consumer.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Standard labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/).
*/}}
{{- define "amo-consumer.labels" -}}
helm.sh/chart: {{ include "amo-consumer.chart" . }}
{{ include "amo-consumer.selectorLabels" . }}
app.kubernetes.io/version: {{ include "amo-consumer.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: consumer
app.kubernetes.io/part-of: amo-consumer
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Image tag: the value, else the chart's appVersion.
*/}}
{{- define "amo-consumer.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion | toString -}}
{{- end -}}

{{/*
Image reference: repository:tag, or repository@digest when a digest is given.
*/}}
{{- define "amo-consumer.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (include "amo-consumer.imageTag" .) -}}
{{- end -}}
{{- end -}}

{{/*
Service account name.
*/}}
{{- define "amo-consumer.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "amo-consumer.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
A value as an environment string: lists are joined with commas, numbers are printed as
integers (Helm reads YAML numbers as float64; 1000000 must not become "1e+06"), booleans as
true/false.
*/}}
{{- define "amo-consumer.envString" -}}
{{- if kindIs "slice" . -}}
{{- join "," . -}}
{{- else if and (kindIs "float64" .) (ne (floor .) (float64 .)) -}}
{{- toString . -}}
{{- else if or (kindIs "float64" .) (kindIs "int64" .) (kindIs "int" .) -}}
{{- int64 . -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/*
The service's configuration (src/config/schema.ts) from .Values.config, as a map of
environment variable name to string. Rendered into the ConfigMap, consumed with envFrom.
Empty strings are left out so that the service's own default applies (KAFKA_CLIENT_ID then
defaults to the pod name). The SASL password is NOT here: it comes from a Secret
(see "amo-consumer.saslSecretName").
*/}}
{{- define "amo-consumer.configEnv" -}}
{{- $c := .Values.config -}}
{{- $env := dict
      "KAFKA_BROKERS" $c.brokers
      "KAFKA_TOPICS" $c.topics
      "KAFKA_GROUP_ID" $c.groupId
      "KAFKA_CLIENT_ID" $c.clientId
      "KAFKA_FROM_BEGINNING" $c.fromBeginning
      "KAFKA_SESSION_TIMEOUT_MS" $c.sessionTimeoutMs
      "KAFKA_HEARTBEAT_INTERVAL_MS" $c.heartbeatIntervalMs
      "KAFKA_SSL" (ternary "true" "false" (eq (include "amo-consumer.tls" .) "true"))
      "KAFKA_SSL_CA_FILE" (include "amo-consumer.sslCaFile" .)
      "KAFKA_SASL_MECHANISM" $c.sasl.mechanism
      "COMMIT_MODE" $c.commitMode
      "COMMIT_WINDOW" $c.commitWindow
      "ORDERING" $c.ordering
      "MAX_IN_FLIGHT" $c.maxInFlight
      "MAX_CALLS_PER_SECOND" $c.maxCallsPerSecond
      "BREAKER_THRESHOLD" $c.breaker.threshold
      "BREAKER_BACKOFF_MS" $c.breaker.backoffMs
      "BREAKER_BACKOFF_MAX_MS" $c.breaker.backoffMaxMs
      "AUTO_COMMIT_INTERVAL_MS" $c.autoCommitIntervalMs
      "PARTITION_CONCURRENCY" $c.partitionConcurrency
      "HANDLER" $c.handler
      "HANDLER_TIMEOUT_MS" $c.handlerTimeoutMs
      "VALUE_FORMAT" $c.valueFormat
      "DEAD_LETTER_TOPIC" $c.deadLetterTopic
      "DEAD_LETTER_MAX_WAIT_MS" $c.deadLetterMaxWaitMs
      "DEAD_LETTER_MAX_QUEUED_BYTES" $c.deadLetterMaxQueuedBytes
      "SHUTDOWN_TIMEOUT_MS" $c.shutdownTimeoutMs
      "STALL_TIMEOUT_MS" $c.stallTimeoutMs
      "PORT" $c.port
      "HOST" $c.host
      "LOG_LEVEL" $c.logLevel
      "OTEL_TRACES_EXPORTER" $c.tracing.exporter
      "OTEL_EXPORTER_OTLP_ENDPOINT" $c.tracing.otlpEndpoint
      "OTEL_EXPORTER_ZIPKIN_ENDPOINT" $c.tracing.zipkinEndpoint
      "OTEL_SERVICE_NAME" $c.tracing.serviceName
      "OTEL_TRACES_SAMPLER" $c.tracing.sampler
      "OTEL_TRACES_SAMPLER_ARG" $c.tracing.samplerArg
      "OTEL_BSP_SCHEDULE_DELAY" $c.tracing.batch.scheduleDelay
      "OTEL_BSP_EXPORT_TIMEOUT" $c.tracing.batch.exportTimeout
      "OTEL_BSP_MAX_QUEUE_SIZE" $c.tracing.batch.maxQueueSize
      "OTEL_BSP_MAX_EXPORT_BATCH_SIZE" $c.tracing.batch.maxExportBatchSize
-}}
{{- if $c.sasl.mechanism -}}
{{- $_ := set $env "KAFKA_SASL_USERNAME" $c.sasl.username -}}
{{- end -}}
{{- range $name, $value := $env }}
{{- $s := include "amo-consumer.envString" $value }}
{{- if ne $s "" }}
{{ $name }}: {{ $s | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Name of the Secret holding the SASL password: the existing one, or the one this chart creates.
*/}}
{{- define "amo-consumer.saslSecretName" -}}
{{- if .Values.config.sasl.existingSecret -}}
{{- tpl .Values.config.sasl.existingSecret . -}}
{{- else -}}
{{- printf "%s-sasl" (include "amo-consumer.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/*
Key of the password inside that Secret.
*/}}
{{- define "amo-consumer.saslSecretKey" -}}
{{- if .Values.config.sasl.existingSecret -}}
{{- .Values.config.sasl.existingSecretPasswordKey -}}
{{- else -}}
password
{{- end -}}
{{- end -}}

{{/*
True ("true") when this chart must create the SASL Secret.
*/}}
{{- define "amo-consumer.createSaslSecret" -}}
{{- if and .Values.config.sasl.mechanism (not .Values.config.sasl.existingSecret) -}}
true
{{- end -}}
{{- end -}}

{{/*
KEDA's name for the SASL mechanism (its kafka scaler spells them differently).
*/}}
{{- define "amo-consumer.kedaSasl" -}}
{{- $m := .Values.config.sasl.mechanism -}}
{{- if eq $m "plain" -}}plaintext
{{- else if eq $m "scram-sha-256" -}}scram_sha256
{{- else if eq $m "scram-sha-512" -}}scram_sha512
{{- end -}}
{{- end -}}

{{/*
Topics as a list, whether config.topics is a comma-separated string or a list.
*/}}
{{- define "amo-consumer.topicList" -}}
{{- $topics := .Values.config.topics -}}
{{- if not (kindIs "slice" $topics) -}}
{{- $topics = splitList "," (toString $topics) -}}
{{- end -}}
{{- $out := list -}}
{{- range $topics -}}
{{- $t := trim (toString .) -}}
{{- if $t -}}{{- $out = append $out $t -}}{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
terminationGracePeriodSeconds, always above SHUTDOWN_TIMEOUT_MS:
  derived  = ceil(config.shutdownTimeoutMs / 1000) + terminationGracePeriodMarginSeconds
  override = terminationGracePeriodSeconds, refused unless its milliseconds exceed the timeout.
Kubernetes sends SIGKILL when the grace period ends; the service must have finished its
bounded shutdown (drain, final commit, leave the group) before that. The service itself
force-exits 3 s after SHUTDOWN_TIMEOUT_MS (src/server.ts), which the default 10 s margin covers.
*/}}
{{- define "amo-consumer.terminationGracePeriodSeconds" -}}
{{- $timeoutMs := int64 .Values.config.shutdownTimeoutMs -}}
{{- $timeoutSeconds := div (add $timeoutMs 999) 1000 -}}
{{- $override := .Values.terminationGracePeriodSeconds -}}
{{- if kindIs "invalid" $override -}}
{{- add $timeoutSeconds (int64 .Values.terminationGracePeriodMarginSeconds) -}}
{{- else -}}
{{- $grace := int64 $override -}}
{{- if le (mul $grace 1000) $timeoutMs -}}
{{- fail (printf "terminationGracePeriodSeconds (%d s) must be above config.shutdownTimeoutMs (%d ms): Kubernetes would SIGKILL the consumer before its graceful shutdown and final offset commit end. Raise it, or leave it empty to derive %d s." $grace $timeoutMs (add $timeoutSeconds (int64 .Values.terminationGracePeriodMarginSeconds))) -}}
{{- end -}}
{{- $grace -}}
{{- end -}}
{{- end -}}

{{/*
Checks that cannot be expressed in values.schema.json, with a message that says what to do.
*/}}
{{- define "amo-consumer.validate" -}}
{{- $sasl := .Values.config.sasl -}}
{{- if $sasl.mechanism -}}
{{- if not $sasl.username -}}
{{- fail (printf "config.sasl.mechanism is %q: set config.sasl.username too." $sasl.mechanism) -}}
{{- end -}}
{{- if and (not $sasl.existingSecret) (not $sasl.password) -}}
{{- fail "config.sasl.mechanism is set: give the password with config.sasl.existingSecret (recommended) or config.sasl.password." -}}
{{- end -}}
{{- else if or $sasl.password $sasl.existingSecret $sasl.username -}}
{{- fail "SASL credentials are set but config.sasl.mechanism is empty: set it to plain, scram-sha-256 or scram-sha-512." -}}
{{- end -}}
{{- if ge (int64 .Values.config.heartbeatIntervalMs) (int64 .Values.config.sessionTimeoutMs) -}}
{{- fail (printf "config.heartbeatIntervalMs (%d) must be below config.sessionTimeoutMs (%d): the service refuses to start otherwise." (int64 .Values.config.heartbeatIntervalMs) (int64 .Values.config.sessionTimeoutMs)) -}}
{{- end -}}
{{- if and .Values.config.sslCa.existingSecret .Values.config.sslCa.existingConfigMap -}}
{{- fail "config.sslCa: set existingSecret or existingConfigMap, not both." -}}
{{- end -}}
{{- if and .Values.config.sslCaFile (or .Values.config.sslCa.existingSecret .Values.config.sslCa.existingConfigMap) -}}
{{- fail "config.sslCaFile and config.sslCa both give the CA: set one (config.sslCa mounts it and sets the path itself)." -}}
{{- end -}}
{{- if eq (len (include "amo-consumer.topicList" . | fromJsonArray)) 0 -}}
{{- fail "config.topics is empty: give at least one topic." -}}
{{- end -}}
{{- end -}}

{{/*
Labels of the `helm test` pod: the standard labels without app.kubernetes.io/name, so that
neither the Service, the PodDisruptionBudget nor the NetworkPolicy selects it.
*/}}
{{- define "amo-consumer.testLabels" -}}
helm.sh/chart: {{ include "amo-consumer.chart" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ include "amo-consumer.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: test
app.kubernetes.io/part-of: amo-consumer
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The distinct ports of config.brokers ("host:port,..." or a list; "[::1]:9092" works too), as a
JSON list of integers, in the order they first appear.
*/}}
{{- define "amo-consumer.brokerPorts" -}}
{{- $brokers := .Values.config.brokers -}}
{{- if not (kindIs "slice" $brokers) -}}
{{- $brokers = splitList "," (toString $brokers) -}}
{{- end -}}
{{- $ports := list -}}
{{- range $brokers -}}
{{- $b := trim (toString .) -}}
{{- if $b -}}
{{- $port := int64 (last (splitList ":" $b)) -}}
{{- if not (has $port $ports) -}}{{- $ports = append $ports $port -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $ports -}}
{{- end -}}

{{/*
Where the brokers' CA certificate is mounted when config.sslCa names a Secret or ConfigMap.
*/}}
{{- define "amo-consumer.sslCaDir" -}}
/etc/amo-consumer/kafka-ca
{{- end -}}

{{/*
KAFKA_SSL_CA_FILE: config.sslCaFile, else the mounted config.sslCa key, else empty (system CAs).
*/}}
{{- define "amo-consumer.sslCaFile" -}}
{{- $ca := .Values.config.sslCa -}}
{{- if .Values.config.sslCaFile -}}
{{- .Values.config.sslCaFile -}}
{{- else if or $ca.existingSecret $ca.existingConfigMap -}}
{{- printf "%s/%s" (include "amo-consumer.sslCaDir" .) $ca.key -}}
{{- end -}}
{{- end -}}

{{/*
True when TLS to the brokers is on: config.ssl, or a CA is given (the service turns TLS on then).
*/}}
{{- define "amo-consumer.tls" -}}
{{- if or .Values.config.ssl (include "amo-consumer.sslCaFile" .) -}}
true
{{- end -}}
{{- end -}}
