package traceregistryprocessor

import (
	"errors"
	"time"
)

// Config is the trace_registry processor's configuration.
type Config struct {
	// MaxTraces bounds the number of active traces held at once.
	MaxTraces int `mapstructure:"max_traces"`
	// IdleTimeout is how long a trace stays active after its last span.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	_           struct{}
}

func (c *Config) Validate() error {
	var errs error
	if c.MaxTraces <= 0 {
		errs = errors.Join(errs, errors.New("max_traces: must be positive"))
	}
	if c.IdleTimeout <= 0 {
		errs = errors.Join(errs, errors.New("idle_timeout: must be positive"))
	}
	return errs
}
