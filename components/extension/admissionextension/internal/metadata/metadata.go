// Package metadata holds what mdatagen would generate for the admission
// extension: the component type and its stability.
package metadata

import "go.opentelemetry.io/collector/component"

var Type = component.MustNewType("admission")

const ExtensionStability = component.StabilityLevelAlpha
