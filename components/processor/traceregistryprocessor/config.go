package traceregistryprocessor

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/confmap"
)

// dimensionServiceName is the only dimension supported: the trace's
// service.name: its first accepted span's resource's, for every series.
const dimensionServiceName = "service.name"

// Config is the trace_registry processor's configuration.
type Config struct {
	// MaxTraces bounds the number of active traces held at once; beyond it the
	// least recently updated trace is evicted and counted.
	MaxTraces int `mapstructure:"max_traces"`
	// IdleTimeout is how long a trace stays active after its last span
	// arrived; then it is completed (and failed when a span had status Error).
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// CompletedTTL is how long a completed trace is remembered, so that a late
	// span updates it instead of counting a new trace. 0 remembers nothing.
	CompletedTTL time.Duration `mapstructure:"completed_ttl"`
	// MaxCompleted bounds the number of completed traces remembered; the
	// oldest is forgotten first. 0 remembers nothing.
	MaxCompleted int `mapstructure:"max_completed"`
	// DegradedRatio is the fraction of max_traces at which the component
	// reports RecoverableError (degraded).
	DegradedRatio float64 `mapstructure:"degraded_ratio"`
	// RecoveryRatio is the fraction of max_traces below which a degraded
	// component reports OK again; it must be lower than degraded_ratio.
	RecoveryRatio float64 `mapstructure:"recovery_ratio"`
	// Dimensions adds labels to the metrics; only "service.name" is supported.
	Dimensions []string `mapstructure:"dimensions"`
	// MaxDimensionValues caps the distinct values of a dimension; traces of
	// further values are counted under the value "other".
	MaxDimensionValues int `mapstructure:"max_dimension_values"`
	_                  struct{}
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration; every error names its key.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxTraces <= 0 || c.MaxTraces > maxTracesLimit {
		errs = append(errs, fmt.Errorf("max_traces: must be in [1, %d], got %d", maxTracesLimit, c.MaxTraces))
	}
	if c.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("idle_timeout: must be greater than 0, got %s", c.IdleTimeout))
	}
	if c.CompletedTTL < 0 {
		errs = append(errs, fmt.Errorf("completed_ttl: must not be negative, got %s", c.CompletedTTL))
	}
	if c.MaxCompleted < 0 || c.MaxCompleted > maxTracesLimit {
		errs = append(errs, fmt.Errorf("max_completed: must be in [0, %d], got %d", maxTracesLimit, c.MaxCompleted))
	}
	if c.DegradedRatio <= 0 || c.DegradedRatio > 1 {
		errs = append(errs, fmt.Errorf("degraded_ratio: must be in (0, 1], got %g", c.DegradedRatio))
	}
	if c.RecoveryRatio <= 0 || c.RecoveryRatio >= c.DegradedRatio {
		errs = append(errs, fmt.Errorf("recovery_ratio: must be greater than 0 and less than degraded_ratio (%g), got %g", c.DegradedRatio, c.RecoveryRatio))
	}
	seen := map[string]bool{}
	for _, d := range c.Dimensions {
		if d != dimensionServiceName {
			errs = append(errs, fmt.Errorf("dimensions: unsupported dimension %q (supported: %q)", d, dimensionServiceName))
		} else if seen[d] {
			errs = append(errs, fmt.Errorf("dimensions: %q listed twice", d))
		}
		seen[d] = true
	}
	if len(c.Dimensions) > 0 && (c.MaxDimensionValues <= 0 || c.MaxDimensionValues > maxDimensionValuesLimit) {
		errs = append(errs, fmt.Errorf("max_dimension_values: must be in [1, %d] when dimensions are set, got %d", maxDimensionValuesLimit, c.MaxDimensionValues))
	}
	return errors.Join(errs...)
}

func createDefaultConfig() *Config {
	return &Config{
		MaxTraces:          10000,
		IdleTimeout:        30 * time.Second,
		CompletedTTL:       5 * time.Minute,
		MaxCompleted:       10000,
		DegradedRatio:      0.9,
		RecoveryRatio:      0.8,
		MaxDimensionValues: 100,
	}
}
