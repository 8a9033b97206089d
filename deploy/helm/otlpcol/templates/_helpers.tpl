{{/* Objects are named <release>-<mode>: "otlpcol" installs otlpcol-gateway or otlpcol-agent. */}}
{{- define "otlpcol.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else if hasSuffix (printf "-%s" .Values.mode) .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Values.mode | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "otlpcol.name" -}}
{{- default "otlpcol" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* What the workload's selector matches: never changes across upgrades. */}}
{{- define "otlpcol.selectorLabels" -}}
app.kubernetes.io/name: {{ include "otlpcol.name" . }}
app.kubernetes.io/instance: {{ include "otlpcol.fullname" . }}
{{- end -}}

{{- define "otlpcol.labels" -}}
{{ include "otlpcol.selectorLabels" . }}
app.kubernetes.io/component: {{ .Values.mode }}
app.kubernetes.io/part-of: otlpcol
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "otlpcol.serviceAccountName" -}}
{{- default (include "otlpcol.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The Secret with tls.crt, tls.key and ca.crt (mesh: none). */}}
{{- define "otlpcol.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "otlpcol.fullname" .)) .Values.tls.secretName -}}
{{- end -}}

{{- define "otlpcol.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
otlpcol.bytes: a Kubernetes quantity ("4Gi", "512Mi", "1G", "1500000") as a
number of bytes (float64). Fails on anything else.
*/}}
{{- define "otlpcol.bytes" -}}
{{- $q := toString . -}}
{{- if not (regexMatch "^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$" $q) -}}
{{- fail (printf "%q is not a byte quantity this chart understands (e.g. 512Mi, 4Gi)" $q) -}}
{{- end -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $q -}}
{{- $unit := trimPrefix $num $q -}}
{{- $mult := get (dict "" 1 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "Pi" 1125899906842624 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "P" 1000000000000000) $unit -}}
{{- mulf (float64 $num) $mult -}}
{{- end -}}

{{/* The mode's default resources, with the values' resources merged over them. */}}
{{- define "otlpcol.resources" -}}
{{- $defaults := dict
  "gateway" (dict "requests" (dict "cpu" "500m" "memory" "512Mi") "limits" (dict "cpu" "2" "memory" "1Gi"))
  "agent" (dict "requests" (dict "cpu" "100m" "memory" "128Mi") "limits" (dict "cpu" "1" "memory" "512Mi")) -}}
{{- $r := deepCopy (get $defaults .Values.mode) -}}
{{- include "otlpcol.deepMerge" (dict "dst" $r "src" (deepCopy .Values.resources)) -}}
{{- toYaml $r -}}
{{- end -}}

{{/*
otlpcol.gomemlimit: 80% of resources.limits.memory, as upstream's collector
chart sets it, in whole MiB: the Go runtime collects harder as it nears
this, below the container's limit.
*/}}
{{- define "otlpcol.gomemlimitBytes" -}}
{{- mulf (include "otlpcol.memoryLimitBytes" . | float64) 0.8 | floor -}}
{{- end -}}

{{/* resources.limits.memory in bytes. */}}
{{- define "otlpcol.memoryLimitBytes" -}}
{{- $r := include "otlpcol.resources" . | fromYaml -}}
{{- $limit := dig "limits" "memory" "" $r -}}
{{- if not $limit -}}
{{- fail "resources.limits.memory is required: GOMEMLIMIT is set to 80% of it" -}}
{{- end -}}
{{- include "otlpcol.bytes" $limit -}}
{{- end -}}

{{- define "otlpcol.gomemlimit" -}}
{{- printf "%dMiB" (divf (include "otlpcol.gomemlimitBytes" . | float64) 1048576 | floor | int64) -}}
{{- end -}}

{{/*
otlpcol.deepMerge: merges src into dst (both dicts), recursing into maps;
anything else in src (lists included) replaces dst's. A null in src deletes
the key. Unlike sprig's mergeOverwrite, false, 0 and "" do override.
*/}}
{{- define "otlpcol.deepMerge" -}}
{{- $dst := .dst -}}
{{- range $k, $v := .src -}}
{{- if kindIs "invalid" $v -}}
{{- $_ := unset $dst $k -}}
{{- else if and (kindIs "map" $v) (kindIs "map" (get $dst $k)) -}}
{{- include "otlpcol.deepMerge" (dict "dst" (get $dst $k) "src" $v) -}}
{{- else -}}
{{- $_ := set $dst $k $v -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
otlpcol.config: the collector config this release runs, as YAML: the mode's
shipped config (files/<mode>.yaml, a link to configs/<mode>.yaml), with
mesh: none the shipped mutual-TLS overlay (files/mtls-<mode>.yaml, a link to
configs/mtls/<mode>.yaml) over it, then what the chart's values decide
(backend, client certificates, the gateway's names), then .Values.config.
*/}}
{{- define "otlpcol.config" -}}
{{- $mode := .Values.mode -}}
{{- $cfg := .Files.Get (printf "files/%s.yaml" $mode) | fromYaml -}}
{{- $none := eq .Values.mesh "none" -}}
{{- if $none -}}
{{- include "otlpcol.deepMerge" (dict "dst" $cfg "src" (.Files.Get (printf "files/mtls-%s.yaml" $mode) | fromYaml)) -}}
{{- end -}}
{{- $chart := dict -}}
{{- if eq $mode "gateway" -}}
{{- $headers := dict -}}
{{- range .Values.backend.headers -}}
{{- $_ := set $headers .name (printf "${env:%s}" .env) -}}
{{- end -}}
{{- /* The chart's header list replaces the shipped one (a header left out is not sent). */ -}}
{{- $_ := unset (dig "exporters" "otlp_retry" dict $cfg) "headers" -}}
{{- $btls := dict "insecure" .Values.backend.tls.insecure -}}
{{- if .Values.backend.tls.secretName -}}
{{- $_ := set $btls "ca_file" "/etc/otlpcol/backend-tls/ca.crt" -}}
{{- if .Values.backend.tls.clientCert -}}
{{- $_ := set $btls "cert_file" "/etc/otlpcol/backend-tls/tls.crt" -}}
{{- $_ := set $btls "key_file" "/etc/otlpcol/backend-tls/tls.key" -}}
{{- end -}}
{{- end -}}
{{- if .Values.backend.tls.serverName -}}
{{- $_ := set $btls "server_name_override" .Values.backend.tls.serverName -}}
{{- end -}}
{{- $_ := set $chart "exporters" (dict "otlp_retry" (dict "headers" $headers "tls" $btls)) -}}
{{- if $none -}}
{{- range $p := list "grpc" "http" -}}
{{- $t := dig "receivers" "otlp" "protocols" $p "tls" dict $cfg -}}
{{- $_ := set $t "reload_interval" $.Values.tls.reloadInterval -}}
{{- if not $.Values.tls.clientAuth -}}
{{- $_ := unset $t "client_ca_file" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- else -}}
{{- $g := .Values.gateway -}}
{{- $_ := set $chart "exporters" (dict
  "load_balancing" (dict "resolver" (dict "k8s" (dict "service" (printf "%s.%s" $g.headlessService $g.namespace))))
  "otlp_grpc/gateway" (dict "endpoint" (printf "%s.%s.svc.cluster.local:4317" $g.service $g.namespace))) -}}
{{- if $none -}}
{{- range $t := list (dig "exporters" "load_balancing" "protocol" "otlp" "tls" dict $cfg) (dig "exporters" "otlp_grpc/gateway" "tls" dict $cfg) -}}
{{- $_ := set $t "reload_interval" $.Values.tls.reloadInterval -}}
{{- if not $.Values.tls.clientAuth -}}
{{- $_ := unset $t "cert_file" -}}
{{- $_ := unset $t "key_file" -}}
{{- end -}}
{{- if $.Values.tls.serverName -}}
{{- $_ := set $t "server_name_override" $.Values.tls.serverName -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- include "otlpcol.deepMerge" (dict "dst" $cfg "src" $chart) -}}
{{- include "otlpcol.deepMerge" (dict "dst" $cfg "src" (deepCopy .Values.config)) -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/*
otlpcol.checks: what the API server cannot check, checked at rendering.
*/}}
{{- define "otlpcol.checks" -}}
{{- $cfg := include "otlpcol.config" . | fromYaml -}}
{{- if and (eq .Values.mode "gateway") (not .Values.backend.endpoint) -}}
{{- fail "backend.endpoint is required in gateway mode (the backend's OTLP/gRPC host:port)" -}}
{{- end -}}
{{- /* The state budgets must fit the claim: otherwise the disk fills before the queue refuses, and the write-ahead log fails instead of pushing back. */ -}}
{{- if eq .Values.mode "gateway" -}}
{{- $sum := 0.0 -}}
{{- $parts := list -}}
{{- range $name, $exp := (dig "exporters" dict $cfg) -}}
{{- if or (eq $name "otlp_retry") (hasPrefix "otlp_retry/" $name) -}}
{{- /* The log's max_bytes bounds each signal's log: count the signals whose pipelines use this exporter. */ -}}
{{- $signals := dict -}}
{{- range $pname, $p := (dig "service" "pipelines" dict $cfg) -}}
{{- if has $name (default list (dig "exporters" list (default dict $p))) -}}
{{- $_ := set $signals (first (splitList "/" $pname)) true -}}
{{- end -}}
{{- end -}}
{{- range $section := list "persistent_queue" "dead_letter" "quarantine" -}}
{{- $mb := dig $section "max_bytes" 0.0 (default dict $exp) -}}
{{- if $mb -}}
{{- $n := 1 -}}
{{- if and (eq $section "persistent_queue") (gt (len $signals) 1) -}}{{- $n = len $signals -}}{{- end -}}
{{- $sum = addf $sum (mulf $mb $n) -}}
{{- $parts = append $parts (printf "%s::%s::max_bytes %.0f x %d" $name $section (float64 $mb) $n) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $size := include "otlpcol.bytes" .Values.persistence.size | float64 -}}
{{- if lt $size $sum -}}
{{- fail (printf "persistence.size %s (%.0f bytes) is smaller than the state budgets it must hold, %.0f bytes (%s): raise persistence.size or lower those budgets in config" .Values.persistence.size $size $sum (join ", " $parts)) -}}
{{- end -}}
{{- end -}}
{{- /* memory_limiter must refuse before the Go runtime's soft limit is reached. */ -}}
{{- $gml := include "otlpcol.gomemlimitBytes" . | float64 -}}
{{- range $name, $p := (dig "processors" dict $cfg) -}}
{{- if or (eq $name "memory_limiter") (hasPrefix "memory_limiter/" $name) -}}
{{- $pct := dig "limit_percentage" 0.0 (default dict $p) | float64 -}}
{{- if gt $pct 80.0 -}}
{{- fail (printf "processors::%s::limit_percentage is %.0f: keep it at or below 80, the share of limits.memory GOMEMLIMIT gets" $name $pct) -}}
{{- end -}}
{{- $mib := dig "limit_mib" 0.0 (default dict $p) | float64 -}}
{{- if gt (mulf $mib 1048576) $gml -}}
{{- fail (printf "processors::%s::limit_mib is %.0f: keep it at or below GOMEMLIMIT (80%% of limits.memory, %.0f MiB)" $name $mib (divf $gml 1048576)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- /*
The memory sizing rule (deploy/README.md, "Memory sizing"; tests/deploy
TestMemorySizing checks the kustomize overlays by the same rule): each
memory_limiter's limit plus 4 x the admission budgets (the most heap an
admitted byte costs while held) must fit under GOMEMLIMIT, or a burst of
admitted requests takes the heap past the soft limit before the limiter
refuses anything, and the pod towards its OOM kill. Only admission
extensions the service runs count; their default budget is 64 MiB.
*/ -}}
{{- $mem := include "otlpcol.memoryLimitBytes" . | float64 -}}
{{- $adm := 0.0 -}}
{{- $admParts := list -}}
{{- range $name := (dig "service" "extensions" list $cfg) -}}
{{- if or (eq $name "admission") (hasPrefix "admission/" $name) -}}
{{- $a := dig "extensions" $name "max_in_flight_bytes" 67108864.0 $cfg | float64 -}}
{{- $adm = addf $adm $a -}}
{{- $admParts = append $admParts (printf "extensions::%s::max_in_flight_bytes %d MiB" $name (divf $a 1048576 | floor | int64)) -}}
{{- end -}}
{{- end -}}
{{- if $admParts -}}
{{- range $name, $p := (dig "processors" dict $cfg) -}}
{{- if or (eq $name "memory_limiter") (hasPrefix "memory_limiter/" $name) -}}
{{- $mib := dig "limit_mib" 0.0 (default dict $p) | float64 -}}
{{- $pct := dig "limit_percentage" 0.0 (default dict $p) | float64 -}}
{{- $lim := mulf $mib 1048576 -}}
{{- $how := "limit_mib" -}}
{{- if not $mib -}}
{{- /* As memory_limiter computes it: the cgroup's limit x percentage / 100, in bytes. */ -}}
{{- $lim = divf (mulf $mem $pct) 100 | floor -}}
{{- $how = printf "%.0f%% of resources.limits.memory %d MiB" $pct (divf $mem 1048576 | floor | int64) -}}
{{- end -}}
{{- $total := addf $lim (mulf 4 $adm) -}}
{{- if gt $total $gml -}}
{{- fail (printf "memory sizing: processors::%s limit %d MiB (%s) + 4 x %s = %d MiB is more than GOMEMLIMIT %d MiB (80%% of resources.limits.memory): lower the limit or the admission budget, or raise resources.limits.memory (deploy/README.md, \"Memory sizing\")" $name (divf $lim 1048576 | floor | int64) $how (join " + " $admParts) (divf $total 1048576 | floor | int64) (divf $gml 1048576 | floor | int64)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
