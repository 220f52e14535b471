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

{{/* The rendered lb.yaml. */}}
{{- define "lb.config" -}}
{{- $admin := required "config.admin.listen is required (probes and metrics use it)" (dig "admin" "listen" "" .Values.config) }}
{{- if not (hasSuffix (printf ":%v" .Values.ports.admin) $admin) }}
{{- fail (printf "config.admin.listen (%s) must use ports.admin (%v)" $admin .Values.ports.admin) }}
{{- end }}
{{- if hasPrefix "127." $admin }}
{{- fail "config.admin.listen is on loopback: the kubelet's probes and Prometheus cannot reach it; use 0.0.0.0" }}
{{- end }}
{{- toYaml .Values.config }}
{{- end }}
