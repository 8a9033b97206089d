{{/* The pod template shared by the StatefulSet (gateway) and the DaemonSet (agent). */}}
{{- define "otlpcol.podTemplate" -}}
{{- $full := include "otlpcol.fullname" . -}}
{{- $gateway := eq .Values.mode "gateway" -}}
metadata:
  labels:
    {{- include "otlpcol.selectorLabels" . | nindent 4 }}
    app.kubernetes.io/component: {{ .Values.mode }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # The health extension serves the collector's own metrics here.
    prometheus.io/scrape: "true"
    prometheus.io/port: "8080"
    prometheus.io/path: /metrics
    # A changed config rolls the pods.
    checksum/config: {{ include "otlpcol.config" . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "otlpcol.serviceAccountName" . }}
  automountServiceAccountToken: {{ not $gateway }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  # Longer than drain_delay (5s) plus what a send in flight may still take;
  # what the queue still holds stays on its volume for the next pod.
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds | default (ternary 60 40 $gateway) }}
  {{- $prio := .Values.priorityClassName }}
  {{- if kindIs "invalid" $prio }}
  {{- $prio = ternary "" "system-node-critical" $gateway }}
  {{- end }}
  {{- with $prio }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    fsGroup: 65532
    seccompProfile:
      type: RuntimeDefault
  {{- $tol := .Values.tolerations }}
  {{- if kindIs "invalid" $tol }}
  {{- $tol = ternary list (list (dict "operator" "Exists" "effect" "NoSchedule")) $gateway }}
  {{- end }}
  {{- with $tol }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- $tsc := .Values.topologySpreadConstraints }}
  {{- if kindIs "invalid" $tsc }}
  {{- $tsc = list }}
  {{- if $gateway }}
  {{- $tsc = list (dict "maxSkew" 1 "topologyKey" "kubernetes.io/hostname" "whenUnsatisfiable" "ScheduleAnyway") (dict "maxSkew" 1 "topologyKey" "topology.kubernetes.io/zone" "whenUnsatisfiable" "ScheduleAnyway") }}
  {{- end }}
  {{- end }}
  {{- if $tsc }}
  topologySpreadConstraints:
    {{- range $tsc }}
    {{- $c := deepCopy . }}
    {{- if not (hasKey $c "labelSelector") }}
    {{- $_ := set $c "labelSelector" (dict "matchLabels" (include "otlpcol.selectorLabels" $ | fromYaml)) }}
    {{- end }}
    - {{ toYaml $c | nindent 6 | trim }}
    {{- end }}
  {{- end }}
  {{- if not $gateway }}
  initContainers:
    # kubelet creates the hostPath directory owned by root; the agent runs as
    # 65532. The only thing that runs as root, with CHOWN as its only
    # capability, and it only changes the owner of the queue directory.
    - name: queue-dir-owner
      image: {{ .Values.agent.initImage }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      command: [chown, "65532:65532", /var/lib/otlpcol]
      resources:
        requests:
          cpu: 10m
          memory: 16Mi
        limits:
          cpu: 100m
          memory: 32Mi
      securityContext:
        runAsUser: 0
        runAsNonRoot: false
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: [ALL]
          add: [CHOWN]
      volumeMounts:
        - name: queue
          mountPath: /var/lib/otlpcol
  {{- end }}
  containers:
    - name: otlpcol
      image: {{ include "otlpcol.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - --config=/conf/config.yaml
      ports:
        - name: grpc-otlp
          containerPort: 4317
          protocol: TCP
        - name: http-otlp
          containerPort: 4318
          protocol: TCP
        - name: http-health
          containerPort: 8080
          protocol: TCP
      env:
        # 80% of limits.memory: the Go runtime collects harder near it, and
        # memory_limiter refuses (retryably) at or below it.
        - name: GOMEMLIMIT
          value: {{ include "otlpcol.gomemlimit" . | quote }}
        {{- if $gateway }}
        - name: OTLP_ENDPOINT
          valueFrom:
            configMapKeyRef:
              name: {{ $full }}-env
              key: OTLP_ENDPOINT
        {{- range .Values.backend.headers }}
        - name: {{ .env }}
          valueFrom:
            secretKeyRef:
              name: {{ $.Values.backend.existingSecret }}
              key: {{ .secretKey }}
        {{- end }}
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      resources:
        {{- include "otlpcol.resources" . | nindent 8 }}
      startupProbe:
        httpGet:
          path: /health
          port: http-health
        periodSeconds: 2
        failureThreshold: 30
      livenessProbe:
        httpGet:
          path: /health
          port: http-health
        periodSeconds: 10
        timeoutSeconds: 2
        failureThreshold: 3
      readinessProbe:
        httpGet:
          path: /ready
          port: http-health
        periodSeconds: 5
        timeoutSeconds: 2
        failureThreshold: 2
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        runAsNonRoot: true
        capabilities:
          drop: [ALL]
      volumeMounts:
        - name: config
          mountPath: /conf
          readOnly: true
        - name: {{ ternary "data" "queue" $gateway }}
          mountPath: /var/lib/otlpcol
        - name: tmp
          mountPath: /tmp
        {{- if eq .Values.mesh "none" }}
        - name: tls
          mountPath: /etc/otlpcol/tls
          readOnly: true
        {{- end }}
        {{- if and $gateway .Values.backend.tls.secretName }}
        - name: backend-tls
          mountPath: /etc/otlpcol/backend-tls
          readOnly: true
        {{- end }}
  volumes:
    {{- if not $gateway }}
    # The persistent sending queue, on the node: it survives a container
    # restart, the agent pod's replacement and a node reboot.
    - name: queue
      hostPath:
        path: {{ .Values.agent.hostPath }}
        type: DirectoryOrCreate
    {{- end }}
    - name: config
      configMap:
        name: {{ $full }}-config
        items:
          - key: config.yaml
            path: config.yaml
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- if eq .Values.mesh "none" }}
    - name: tls
      secret:
        secretName: {{ include "otlpcol.tlsSecretName" . }}
    {{- end }}
    {{- if and $gateway .Values.backend.tls.secretName }}
    - name: backend-tls
      secret:
        secretName: {{ .Values.backend.tls.secretName }}
    {{- end }}
{{- end -}}
