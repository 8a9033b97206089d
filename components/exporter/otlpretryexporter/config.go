package otlpretryexporter

import (
	"errors"

	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/configretry"
)

// Config is the otlp_retry exporter's configuration.
type Config struct {
	configgrpc.ClientConfig `mapstructure:",squash"`
	RetryConfig             configretry.BackOffConfig `mapstructure:"retry_on_failure"`
	_                       struct{}
}

func (c *Config) Validate() error {
	if c.Endpoint == "" {
		return errors.New("endpoint: must not be empty")
	}
	return nil
}
