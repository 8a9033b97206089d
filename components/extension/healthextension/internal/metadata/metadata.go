// Package metadata holds what mdatagen would generate for the health
// extension: the component type and its stability.
package metadata

import "go.opentelemetry.io/collector/component"

var Type = component.MustNewType("health")

const ExtensionStability = component.StabilityLevelAlpha
