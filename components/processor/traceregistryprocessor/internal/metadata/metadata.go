// Package metadata holds what mdatagen would generate for trace_registry:
// the component type and its stability.
package metadata

import "go.opentelemetry.io/collector/component"

var Type = component.MustNewType("trace_registry")

const (
	ScopeName       = "github.com/otlpcol/otlpcol/components/processor/traceregistryprocessor"
	TracesStability = component.StabilityLevelAlpha
)
