// Package healthextension implements the health extension: Kubernetes
// liveness and readiness probes, the collector's status as JSON, its own
// metrics in Prometheus format and trace lookups, on one HTTP server.
package healthextension

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/extension"

	"github.com/otlpcol/otlpcol/components/extension/healthextension/internal/metadata"
)

const (
	// defaultEndpoint is loopback only, as upstream's extensions default
	// to: /status, /metrics and /traces show what the collector carries.
	// The shipped Kubernetes configs set 0.0.0.0:8080 for the probes.
	defaultEndpoint         = "localhost:8080"
	defaultDrainDelay       = 5 * time.Second
	defaultRecoveryDuration = 30 * time.Second
)

// NewFactory returns the health extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, create, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	server := confighttp.NewDefaultServerConfig()
	server.NetAddr.Endpoint = defaultEndpoint
	return &Config{
		ServerConfig:      server,
		DrainDelay:        defaultDrainDelay,
		ReadyWhenDegraded: true,
		RecoveryDuration:  defaultRecoveryDuration,
	}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newHealth(cfg.(*Config), set, time.Now), nil
}
