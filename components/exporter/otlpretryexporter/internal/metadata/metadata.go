// Package metadata holds what mdatagen would generate for otlp_retry:
// the component type and its stabilities.
package metadata

import "go.opentelemetry.io/collector/component"

var Type = component.MustNewType("otlp_retry")

const (
	TracesStability  = component.StabilityLevelAlpha
	MetricsStability = component.StabilityLevelAlpha
	LogsStability    = component.StabilityLevelAlpha
)
