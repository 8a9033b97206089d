package otlpretryexporter

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/metadata"
)

func newTestSettings() exporter.Settings { return exportertest.NewNopSettings(metadata.Type) }

func TestFactoryType(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, "otlp_retry", f.Type().String())
	require.NoError(t, componenttest.CheckConfigStruct(f.CreateDefaultConfig()))
}

// TestShutdownWhileRetryingSpools: a down backend, a long retry budget;
// Shutdown returns promptly and what was being retried is on disk.
func TestShutdownWhileRetryingSpools(t *testing.T) {
	srv := startGRPCServer(t)
	script := make([]grpcAnswer, 1000)
	for i := range script {
		script[i] = grpcAnswer{err: unavailable()}
	}
	srv.setScript(script...)
	dir := t.TempDir()
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = srv.addr
	cfg.ClientConfig.TLS.Insecure = true
	cfg.RetryConfig.InitialInterval = 50 * time.Millisecond
	cfg.DeadLetter.Directory = dir
	exp, err := f.CreateTraces(context.Background(), newTestSettings(), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, exp.ConsumeTraces(context.Background(), testTraces(1000)))
	require.Eventually(t, func() bool { return srv.Calls() >= 2 }, 10*time.Second, 10*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, exp.Shutdown(ctx))
	require.NoError(t, ctx.Err(), "shutdown used its whole timeout")
	files, _ := filepath.Glob(filepath.Join(dir, "*.traces.pb"))
	require.Len(t, files, 1)
	assert.Contains(t, filepath.Base(files[0]), "-1000.traces.pb")
}
