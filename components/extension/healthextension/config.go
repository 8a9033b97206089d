package healthextension

import (
	"errors"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
)

// Config is the health extension's configuration.
type Config struct {
	confighttp.ServerConfig `mapstructure:",squash"`
	// DrainDelay is how long /ready answers 503 before shutdown proceeds.
	DrainDelay time.Duration `mapstructure:"drain_delay"`
	_          struct{}
}

func (c *Config) Validate() error {
	if c.NetAddr.Endpoint == "" {
		return errors.New("endpoint: must not be empty")
	}
	if c.DrainDelay < 0 {
		return errors.New("drain_delay: must not be negative")
	}
	return nil
}
