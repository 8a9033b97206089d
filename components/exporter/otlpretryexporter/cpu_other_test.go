//go:build !unix

package otlpretryexporter

// processCPU is not measured here: cpu-ns/span reads 0.
func processCPU() int64 { return 0 }
