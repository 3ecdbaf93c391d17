{{/* Names and labels. Deliberately a small subset of Go templates and sprig: the chart is checked
by a re-implementation of that subset (test/helpers/go-template.ts), helm being unavailable there. */}}
{{- define "berth.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "berth.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "berth.labels" -}}
{{ include "berth.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "berth.secretName" -}}
{{- if .Values.existingSecret -}}
{{- .Values.existingSecret -}}
{{- else -}}
{{- include "berth.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* berth.yaml: the chart's settings, then .Values.config (docs/config.md) for anything else. */}}
{{- define "berth.config" -}}
server:
  port: 5000
  workers: 1
  trustProxy: true
  publicUrl: {{ .Values.publicUrl | quote }}
  shutdownTimeoutMs: 25000
{{- if eq .Values.mode "scale-out" }}
database:
  poolSize: {{ .Values.database.poolSize }}
storage:
  driver: s3
  s3:
    {{- if .Values.s3.endpoint }}
    endpoint: {{ .Values.s3.endpoint | quote }}
    {{- end }}
    region: {{ .Values.s3.region | quote }}
    bucket: {{ required "s3.bucket is required in mode scale-out" .Values.s3.bucket | quote }}
    prefix: {{ .Values.s3.prefix | quote }}
    forcePathStyle: {{ .Values.s3.forcePathStyle }}
{{- end }}
{{- with .Values.config }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The pod template both workloads share. */}}
{{- define "berth.podTemplate" -}}
metadata:
  labels:
    {{- include "berth.selectorLabels" . | nindent 4 }}
    app.kubernetes.io/component: registry
  annotations:
    checksum/config: {{ include "berth.config" . | sha256sum }}
spec:
  serviceAccountName: {{ include "berth.fullname" . }}
  automountServiceAccountToken: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- range . }}
    - name: {{ . }}
    {{- end }}
  {{- end }}
  # Longer than server.shutdownTimeoutMs plus the preStop pause: in-flight pushes finish.
  terminationGracePeriodSeconds: 40
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    fsGroup: 10001
    fsGroupChangePolicy: OnRootMismatch
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: berth
      image: {{ printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["serve", "--config", "/etc/berth/berth.yaml"]
      ports:
        - name: http
          containerPort: 5000
          protocol: TCP
      envFrom:
        - secretRef:
            name: {{ include "berth.secretName" . }}
      volumeMounts:
        - name: config
          mountPath: /etc/berth
          readOnly: true
        - name: data
          mountPath: /data
        - name: tmp
          mountPath: /tmp
      startupProbe:
        httpGet: { path: /healthz, port: http }
        periodSeconds: 2
        failureThreshold: 60
      readinessProbe:
        httpGet: { path: /readyz, port: http }
        periodSeconds: 5
        failureThreshold: 2
      livenessProbe:
        httpGet: { path: /healthz, port: http }
        periodSeconds: 10
        timeoutSeconds: 5
        failureThreshold: 6
      lifecycle:
        preStop:
          exec:
            command: ["node", "-e", "setTimeout(() => {}, 5000)"]
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: [ALL]
  volumes:
    - name: config
      configMap:
        name: {{ include "berth.fullname" . }}
    - name: tmp
      emptyDir: {}
    {{- if eq .Values.mode "scale-out" }}
    - name: data
      emptyDir: {}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
