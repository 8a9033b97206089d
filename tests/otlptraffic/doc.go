// Package otlptraffic is OTLP traffic for the tests and the bench: a load
// generator that sends trace requests to a collector from a few workers
// (Load), and a backend that receives what the collector exports (Sink).
// Neither takes a testing.TB: every call that can fail returns an error,
// so the bench (a program) uses them directly; tests/harness wraps them
// with the test conveniences (fresh ports, t.Cleanup, t.Fatal).
package otlptraffic
