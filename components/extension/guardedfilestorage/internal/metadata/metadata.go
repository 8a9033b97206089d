// Package metadata holds what mdatagen would generate for
// guarded_file_storage: the component type and its stability.
package metadata

import "go.opentelemetry.io/collector/component"

var Type = component.MustNewType("guarded_file_storage")

const ExtensionStability = component.StabilityLevelAlpha
