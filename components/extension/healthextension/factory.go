// Package healthextension implements the health extension.
package healthextension

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/extension"

	"github.com/otlpcol/otlpcol/components/extension/healthextension/internal/metadata"
)

// NewFactory returns the health extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, create, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	server := confighttp.NewDefaultServerConfig()
	server.NetAddr.Endpoint = "0.0.0.0:8080"
	return &Config{ServerConfig: server, DrainDelay: 5 * time.Second}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newHealth(cfg.(*Config), set), nil
}
