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

func TestCircuitBreakerOpensAndCloses(t *testing.T) {
	srv := startGRPCServer(t)
	srv.setScript(grpcAnswer{err: unavailable()}, grpcAnswer{err: unavailable()}, grpcAnswer{err: unavailable()})
	cfg := fastConfig(srv.addr)
	cfg.CircuitBreaker.FailureThreshold = 3
	cfg.CircuitBreaker.OpenDuration = 150 * time.Millisecond
	cfg.RetryConfig.InitialInterval = time.Millisecond
	cfg.RetryConfig.MaxInterval = time.Millisecond
	var states []circuitbreaker.State
	e := newTestExporter(t, cfg, false)
	// Observe transitions by polling the gauge after the push.
	require.NoError(t, e.pushTraces(context.Background(), testTraces(3)))
	// Three failures opened the circuit; the push waited for the probe,
	// which succeeded and closed it.
	assert.Equal(t, 4, srv.Calls())
	states = append(states, e.breaker.State())
	assert.Equal(t, []circuitbreaker.State{circuitbreaker.Closed}, states)
	assert.EqualValues(t, 0, e.counter(t, "otelcol_otlp_retry_circuit_state"))
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, e.host.Events())
}

func TestCircuitOpenKeepsDataAndReportsState(t *testing.T) {
	srv := startGRPCServer(t)
	srv.setScript(grpcAnswer{err: unavailable()}, grpcAnswer{err: unavailable()})
	cfg := fastConfig(srv.addr)
	cfg.CircuitBreaker.FailureThreshold = 2
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
	// Shutdown stops the wait; without a dead letter the batch is dropped, counted.
	e.beginShutdown()
	select {
	case err := <-done:
		require.Error(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("push did not return after shutdown began")
	}
	assert.EqualValues(t, 3, e.counter(t, "otelcol_otlp_retry_dropped_items"))
}
