package otlpretryexporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/circuitbreaker"
)

// TestCircuitBreakerOpensAndCloses: a down backend and a retry loop that
// retries every millisecond. Once min_attempts attempts have failed the
// circuit opens and the backend sees no attempt at all for open_duration
// (without the breaker it would see hundreds); when it is back, one probe
// closes the circuit and delivers the batch.
func TestCircuitBreakerOpensAndCloses(t *testing.T) {
	const (
		minAttempts  = 5
		openDuration = 400 * time.Millisecond
	)
	srv := startGRPCServer(t)
	srv.setDown(true)
	cfg := fastConfig(srv.addr)
	cfg.CircuitBreaker.MinAttempts = minAttempts
	cfg.CircuitBreaker.FailureRatio = 0.5
	cfg.CircuitBreaker.OpenDuration = openDuration
	cfg.CircuitBreaker.HalfOpenProbes = 2
	cfg.RetryConfig.InitialInterval = time.Millisecond
	cfg.RetryConfig.MaxInterval = time.Millisecond
	cfg.RetryConfig.MaxElapsedTime = time.Minute
	e := newTestExporter(t, cfg, false)
	done := make(chan error, 1)
	td := testTraces(3)
	go func() { done <- e.pushTraces(context.Background(), td) }()

	require.Eventually(t, func() bool { return srv.Calls() >= minAttempts }, 5*time.Second, time.Millisecond)
	opened := time.Now()
	time.Sleep(openDuration / 2)
	if time.Since(opened) < openDuration { // a stalled test machine proves nothing here
		assert.Equal(t, minAttempts, srv.Calls(), "attempts while the circuit is open")
		assert.EqualValues(t, 2, e.counter(t, "otelcol_otlp_retry_circuit_state"), "open")
	}
	srv.setDown(false)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("push did not finish after the backend came back")
	}
	assert.Equal(t, spanIDs(td), srv.Received())
	assert.EqualValues(t, 0, e.counter(t, "otelcol_otlp_retry_circuit_state"), "closed again")
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, e.host.Events())
}

func TestCircuitOpenKeepsDataAndReportsState(t *testing.T) {
	srv := startGRPCServer(t)
	srv.setScript(grpcAnswer{err: unavailable()}, grpcAnswer{err: unavailable()})
	cfg := fastConfig(srv.addr)
	cfg.CircuitBreaker.MinAttempts = 2
	cfg.CircuitBreaker.OpenDuration = time.Hour
	cfg.RetryConfig.InitialInterval = time.Millisecond
	cfg.RetryConfig.MaxInterval = time.Millisecond
	e := newTestExporter(t, cfg, false)
	done := make(chan error, 1)
	go func() { done <- e.pushTraces(context.Background(), testTraces(3)) }()
	require.Eventually(t, func() bool { return e.breaker.State() == circuitbreaker.Open }, 5*time.Second, 5*time.Millisecond)
	assert.EqualValues(t, 2, e.counter(t, "otelcol_otlp_retry_circuit_state"))
	select {
	case err := <-done:
		t.Fatalf("push returned while the circuit is open: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	assert.Equal(t, 2, srv.Calls(), "no attempt while open")
	// Shutdown stops the wait. Without a dead letter and with the queue in
	// memory the batch cannot be kept: lost, and counted as such.
	e.beginShutdown()
	select {
	case err := <-done:
		require.Error(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("push did not return after shutdown began")
	}
	assert.EqualValues(t, 3, e.counter(t, "otelcol_otlp_retry_dropped_items", "reason", "shutdown"))
}
