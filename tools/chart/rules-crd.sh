#!/bin/sh
# Prints deploy/prometheus/lb-rules.yaml wrapped in a PrometheusRule (for the
# kustomize prometheus-operator overlay; the Helm chart reads the file itself).
set -eu
rules="$(dirname "$0")/../../deploy/prometheus/lb-rules.yaml"
cat <<'HEAD'
# Generated from deploy/prometheus/lb-rules.yaml (spec = that file); the
# kustomize test fails when the two differ. Regenerate with
#   tools/chart/rules-crd.sh > deploy/kubernetes/overlays/prometheus-operator/prometheusrule.yaml
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: lb
  labels:
    app.kubernetes.io/name: lb
spec:
HEAD
sed -n '/^groups:/,$p' "$rules" | sed 's/^\(.\)/  \1/'
