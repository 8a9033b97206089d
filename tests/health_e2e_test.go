package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// healthStatus is the part of /status these tests read.
type healthStatus struct {
	Ready     bool   `json:"ready"`
	Healthy   bool   `json:"healthy"`
	Phase     string `json:"phase"`
	Status    string `json:"status"`
	Pipelines map[string]struct {
		Status     string `json:"status"`
		Components map[string]struct {
			Status    string `json:"status"`
			Reported  string `json:"reported"`
			LastError string `json:"last_error"`
		} `json:"components"`
	} `json:"pipelines"`
}

func getStatus(t *testing.T, c *harness.Collector) healthStatus {
	t.Helper()
	code, body, err := harness.Get(c.HealthURL("/status"))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, body)
	var st healthStatus
	require.NoError(t, json.Unmarshal([]byte(body), &st), body)
	return st
}

func getCode(t *testing.T, url string) int {
	t.Helper()
	code, _, err := harness.Get(url)
	require.NoError(t, err, url)
	return code
}

func sendTrace(t *testing.T, endpoint, name string) {
	t.Helper()
	harness.ExportTraces(t, endpoint, oneSpan(name))
}

// TestHealthProbesMetricsAndDrain runs configs/local.yaml: /ready 200 once
// the pipelines run, /metrics serves the internal telemetry's series,
// /traces finds a trace sent through trace_registry, and on SIGTERM /ready
// turns 503 while /health stays 200 and the receivers still accept data for
// the drain delay.
func TestHealthProbesMetricsAndDrain(t *testing.T) {
	const drain = 4 * time.Second
	c := harness.Start(t, harness.Config("local.yaml"), harness.Options{
		Set: []string{"extensions::health::drain_delay=" + drain.String()},
	})
	c.WaitReady(30 * time.Second)

	code, body, err := harness.Get(c.HealthURL("/health"))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"alive"`)
	st := getStatus(t, c)
	require.True(t, st.Ready)
	require.Equal(t, "ready", st.Phase)
	require.Contains(t, st.Pipelines, "traces")
	require.Contains(t, st.Pipelines["traces"].Components, "processor:trace_registry")
	require.Contains(t, st.Pipelines["traces"].Components, "exporter:debug")
	require.Equal(t, "ok", st.Pipelines["traces"].Components["receiver:otlp"].Status)

	// One trace through the pipeline, so receiver/processor/exporter and
	// trace_registry series exist, and the registry knows the trace.
	sendTrace(t, c.GRPCEndpoint(), "health-e2e")
	traceID := oneSpan("health-e2e").ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID().String()
	deadline := time.Now().Add(20 * time.Second)
	var traceBody string
	for time.Now().Before(deadline) {
		code, traceBody, err = harness.Get(c.HealthURL("/traces/" + traceID))
		if err == nil && code == http.StatusOK {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, http.StatusOK, code, traceBody)
	require.Contains(t, traceBody, `"trace_id": "`+traceID+`"`)
	code, _, err = harness.Get(c.HealthURL("/traces/not-an-id"))
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, code)

	// /metrics: the same series as the internal telemetry endpoint.
	for time.Now().Before(deadline) {
		if v, ok := harness.MetricValue(t, c.HealthURL("/metrics"), "otelcol_exporter_sent_spans_total"); ok && v >= 1 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, direct, err := harness.Get(c.TelemetryURL())
	require.NoError(t, err)
	code, proxied, err := harness.Get(c.HealthURL("/metrics"))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	directNames, proxiedNames := harness.SeriesNames(direct), harness.SeriesNames(proxied)
	require.NotEmpty(t, directNames)
	for name := range directNames {
		assert.True(t, proxiedNames[name], "series %s of the telemetry endpoint is missing from /metrics", name)
	}
	for _, name := range []string{
		"otelcol_receiver_accepted_spans_total", "otelcol_processor_incoming_items_total",
		"otelcol_exporter_sent_spans_total", "otelcol_process_uptime_seconds_total",
		"otlp_traces_total", // trace_registry
	} {
		assert.True(t, proxiedNames[name], "/metrics lacks %s", name)
	}

	// SIGTERM: /ready 503 at once, /health 200 and receivers open while draining.
	stopAt := time.Now()
	c.Signal(syscall.SIGTERM)
	c.WaitHTTP(c.HealthURL("/ready"), http.StatusServiceUnavailable, 10*time.Second)
	require.False(t, c.Exited(), "the collector must hold shutdown for the drain delay")
	code, body, err = harness.Get(c.HealthURL("/ready"))
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, `"shutting_down"`)
	require.Equal(t, http.StatusOK, getCode(t, c.HealthURL("/health")))
	req, err := ptraceotlp.NewExportRequestFromTraces(oneSpan("during-drain")).MarshalProto()
	require.NoError(t, err)
	resp, err := http.Post(c.HTTPEndpoint()+"/v1/traces", "application/x-protobuf", bytes.NewReader(req))
	require.NoError(t, err, "receivers must still accept data while draining")
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, http.StatusOK, getCode(t, c.HealthURL("/health")), "liveness holds through the drain")

	exitErr, ok := c.Wait(30 * time.Second)
	require.True(t, ok, "otlpcol did not exit after the drain")
	require.NoError(t, exitErr)
	elapsed := time.Since(stopAt)
	require.GreaterOrEqual(t, elapsed, drain, "shutdown proceeded before drain_delay")
	t.Logf("SIGTERM to exit: %s (drain_delay %s)", elapsed.Round(time.Millisecond), drain)
}

// TestHealthNeverReadyWhenPipelinesFail shows the start-up race is closed:
// the health server is up before the pipelines start (extensions start
// first), and /ready is 200 only after every pipeline started. Here the
// receiver's port is taken, so pipelines never start: every /ready answer
// is 503, the drain is skipped (never ready, so no traffic to drain) and the
// start fails naming the cause.
func TestHealthNeverReadyWhenPipelinesFail(t *testing.T) {
	busy, err := harness.Listen()
	require.NoError(t, err)
	defer busy.Close()
	c := harness.Start(t, harness.Config("local.yaml"), harness.Options{Set: []string{
		"receivers::otlp::protocols::grpc::endpoint=" + busy.Addr().String(),
		"extensions::health::drain_delay=1h",
	}})
	answers := map[int]int{}
	for !c.Exited() {
		if code, _, err := harness.Get(c.HealthURL("/ready")); err == nil {
			answers[code]++
		}
		time.Sleep(5 * time.Millisecond)
	}
	exitErr, ok := c.Wait(30 * time.Second)
	require.True(t, ok)
	require.Error(t, exitErr, "the collector must fail to start")
	require.Zero(t, answers[http.StatusOK], "/ready answered 200 although no pipeline started: %v", answers)
	require.Contains(t, c.Output(), "address already in use")
	t.Logf("/ready answers before exit: %v", answers)
}

// TestHealthExporterOutage: with otlp_retry sending to a backend that goes
// down, /status shows the exporter degraded with its error, /ready turns 503
// once the outage outlasts exporter_failure_threshold, /health stays 200,
// and /ready is 200 again after the backend returns.
func TestHealthExporterOutage(t *testing.T) {
	sink := harness.StartSink(t)
	c := harness.Start(t, filepath.Join(harness.RepoRoot(), "tests", "testdata", "health_exporter_down.yaml"),
		harness.Options{Env: []string{"SINK_ENDPOINT=" + sink.GRPCEndpoint()}})
	c.WaitReady(30 * time.Second)

	sendTrace(t, c.GRPCEndpoint(), "before-outage")
	require.Equal(t, 1, sink.WaitSpans(1, 20*time.Second))

	// Keep data flowing so the exporter keeps attempting.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		conn, err := grpc.NewClient(c.GRPCEndpoint(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return
		}
		defer conn.Close()
		client := ptraceotlp.NewGRPCClient(conn)
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			_, _ = client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(oneSpan(fmt.Sprintf("outage-%d", i))))
		}
	}()
	defer func() { cancel(); wg.Wait() }()

	outageAt := time.Now()
	sink.SetFailure(errors.New("backend down for the health e2e test"))
	const exporterKey = "exporter:otlp_retry"
	deadline := time.Now().Add(30 * time.Second)
	var st healthStatus
	for time.Now().Before(deadline) {
		st = getStatus(t, c)
		if st.Pipelines["traces"].Components[exporterKey].Status == "degraded" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	exp := st.Pipelines["traces"].Components[exporterKey]
	require.Equal(t, "degraded", exp.Status, "otlp_retry should report RecoverableError while its backend is down: %+v", st)
	require.Contains(t, exp.LastError, "backend down for the health e2e test")
	require.Equal(t, "degraded", st.Status)
	degradedAfter := time.Since(outageAt)

	c.WaitHTTP(c.HealthURL("/ready"), http.StatusServiceUnavailable, 30*time.Second)
	code, body, err := harness.Get(c.HealthURL("/ready"))
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "exporter_failure_threshold")
	notReadyAfter := time.Since(outageAt)
	require.Equal(t, http.StatusOK, getCode(t, c.HealthURL("/health")), "liveness never depends on the backend")

	backAt := time.Now()
	sink.SetFailure(nil)
	// Ready at the exporter's first OK; /status shows it degraded for
	// recovery_duration more, then ok.
	c.WaitHTTP(c.HealthURL("/ready"), http.StatusOK, 60*time.Second)
	readyAfter := time.Since(backAt)
	deadline = time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st = getStatus(t, c)
		if st.Pipelines["traces"].Components[exporterKey].Status == "ok" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("outage: /status degraded after %s, /ready 503 after %s; backend back: /ready 200 after %s, /status ok after %s (threshold 1s, recovery_duration 1s)",
		degradedAfter.Round(time.Millisecond), notReadyAfter.Round(time.Millisecond), readyAfter.Round(time.Millisecond), time.Since(backAt).Round(time.Millisecond))
	exp = st.Pipelines["traces"].Components[exporterKey]
	require.Equal(t, "ok", exp.Status)
	require.Contains(t, exp.LastError, "backend down", "the last error stays visible after recovery")
	require.Greater(t, sink.SpanCount(), 1, "data sent during the outage arrives after it")

	// otlp_retry's own series are served on /metrics too.
	_, proxied, err := harness.Get(c.HealthURL("/metrics"))
	require.NoError(t, err)
	retrySeries := 0
	for name := range harness.SeriesNames(proxied) {
		if strings.HasPrefix(name, "otelcol_otlp_retry_") {
			retrySeries++
		}
	}
	require.NotZero(t, retrySeries, "/metrics lacks otlp_retry's series")

	cancel()
	wg.Wait()
	c.Stop(30 * time.Second)
}
