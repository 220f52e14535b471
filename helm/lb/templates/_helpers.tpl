{{/* Chart name, overridable. */}}
{{- define "lb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart unless the release already names it. */}}
{{- define "lb.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "lb.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lb.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "lb.labels" -}}
helm.sh/chart: {{ include "lb.chart" . }}
{{ include "lb.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The port of a "host:port" or "[v6]:port" address. */}}
{{- define "lb.port" -}}
{{- regexFind "[0-9]+$" . | atoi }}
{{- end }}

{{/* The admin port, from config.admin.listen (probes and metrics use it). */}}
{{- define "lb.adminPort" -}}
{{- $admin := required "config.admin.listen is required (probes and metrics use it)" (dig "admin" "listen" "" .Values.config) }}
{{- if or (hasPrefix "127." $admin) (hasPrefix "[::1]" $admin) (hasPrefix "localhost" $admin) }}
{{- fail "config.admin.listen is on loopback: the kubelet's probes and Prometheus cannot reach it; use 0.0.0.0" }}
{{- end }}
{{- include "lb.port" $admin }}
{{- end }}

{{/*
Container ports as a JSON list of {name, listener, port[, servicePort]}: one
per listener, named after it (a port name is at most 15 lowercase
characters), then the controller's http and https, then admin.
*/}}
{{- define "lb.ports" -}}
{{- $ic := .Values.ingressController }}
{{- $ports := list }}
{{- $listeners := .Values.config.listeners }}
{{- if not $ic.enabled }}
{{- $listeners = required "config.listeners is required" $listeners }}
{{- end }}
{{- range $listeners }}
{{- $name := .name | lower | replace "_" "-" | trunc 15 | trimSuffix "-" }}
{{- $ports = append $ports (dict "name" $name "listener" .name "port" (include "lb.port" .listen | atoi)) }}
{{- end }}
{{- if $ic.enabled }}
{{- /* The Service answers on the usual ports whatever the container binds. */}}
{{- $ports = append $ports (dict "name" "http" "listener" "http" "port" (int $ic.containerPorts.http) "servicePort" 80) }}
{{- $ports = append $ports (dict "name" "https" "listener" "https" "port" (int $ic.containerPorts.https) "servicePort" 443) }}
{{- end }}
{{- $ports = append $ports (dict "name" "admin" "listener" "" "port" (include "lb.adminPort" . | atoi)) }}
{{- if $ic.enabled }}
{{- /* lb --check cannot see these clashes: the controller's listeners are
  added at run time, and would then fail to bind or be refused. */}}
{{- $seen := dict }}
{{- range $ports }}
{{- range list (printf "name %q" .name) (printf "port %d" (int .port)) }}
{{- if hasKey $seen . }}
{{- fail (printf "ingressController: container %s is used twice (config.listeners, ingressController.containerPorts and config.admin.listen must differ; the controller's listeners are named http and https)" .) }}
{{- end }}
{{- $_ := set $seen . true }}
{{- end }}
{{- end }}
{{- end }}
{{- toJson $ports }}
{{- end }}

{{/* The lowest port lb binds (decides NET_BIND_SERVICE). */}}
{{- define "lb.lowestPort" -}}
{{- $low := 65536 }}
{{- range (include "lb.ports" . | fromJsonArray) }}
{{- $low = min $low (int .port) }}
{{- end }}
{{- $low }}
{{- end }}

{{/* A duration string (250ms, 20s, 5m, 1h) in whole seconds, rounded up. */}}
{{- define "lb.seconds" -}}
{{- $d := toString . }}
{{- if not (regexMatch "^[0-9]+(ms|s|m|h)$" $d) }}
{{- fail (printf "config.drain_timeout %q is not a duration like 20s" $d) }}
{{- end }}
{{- $n := regexFind "^[0-9]+" $d | atoi }}
{{- if hasSuffix "ms" $d }}{{ div (add $n 999) 1000 }}
{{- else if hasSuffix "s" $d }}{{ $n }}
{{- else if hasSuffix "m" $d }}{{ mul $n 60 }}
{{- else }}{{ mul $n 3600 }}
{{- end }}
{{- end }}

{{/* preStop sleep + drain_timeout (lb's default 30s) + 5 s to exit. */}}
{{- define "lb.gracePeriod" -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add .Values.preStopSleepSeconds (include "lb.seconds" (default "30s" .Values.config.drain_timeout) | atoi) 5 }}
{{- else }}
{{- .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/*
The `kubernetes:` section of lb.yaml in controller mode (lb/config/config.h,
struct kubernetes). No kubeconfig: the pod's service account.
*/}}
{{- define "lb.kubernetes" -}}
{{- $ic := .Values.ingressController }}
{{- $k := dict "ingress_class" $ic.className "controller" $ic.controllerName "take_unclassed" $ic.takeUnclassed
      "http" (printf "0.0.0.0:%d" (int $ic.containerPorts.http)) "https" (printf "0.0.0.0:%d" (int $ic.containerPorts.https))
      "tls_dir" $ic.tlsDir "annotations_prefix" $ic.annotationsPrefix }}
{{- with $ic.watchNamespace }}
{{- $_ := set $k "namespace" . }}
{{- end }}
{{- if $ic.statusAddresses }}
{{- $_ := set $k "status" (dict "addresses" $ic.statusAddresses) }}
{{- else }}
{{- $_ := set $k "status" (dict "publish_service" (printf "%s/%s" .Release.Namespace (include "lb.fullname" .))) }}
{{- end }}
{{- if $ic.leaderElection }}
{{- /* The identity is the pod's name (its host name), lb's default. */}}
{{- $_ := set $k "leader_election" (dict "lease" (printf "%s/%s-leader" .Release.Namespace (include "lb.fullname" .))) }}
{{- end }}
{{- toJson $k }}
{{- end }}

{{/* The rendered lb.yaml. */}}
{{- define "lb.config" -}}
{{- $_ := include "lb.adminPort" . }}
{{- if .Values.ingressController.enabled }}
{{- if hasKey .Values.config "kubernetes" }}
{{- fail "config.kubernetes is written by the chart in controller mode: set ingressController.* instead" }}
{{- end }}
{{- $cfg := deepCopy .Values.config }}
{{- $_ := set $cfg "kubernetes" (include "lb.kubernetes" . | fromJson) }}
{{- toYaml $cfg }}
{{- else }}
{{- toYaml .Values.config }}
{{- end }}
{{- end }}

{{/* Names of the chart's cluster-scoped objects: releases of the same name in
two namespaces must not share them. */}}
{{- define "lb.clusterName" -}}
{{- printf "%s-%s" (include "lb.fullname" .) .Release.Namespace }}
{{- end }}
