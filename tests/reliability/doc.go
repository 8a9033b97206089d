// Package reliability proves otlpcol keeps working and loses nothing it
// accepted: end-to-end tests that run the built binary (bin/otlpcol, or
// $OTLPCOL_BIN) against real OTLP clients and an in-process OTLP sink, on
// loopback only. Bad input, security, topology (agent -> gateways), faults
// and overload; TestMain prints one line per scenario with what was sent,
// delivered, duplicated and lost, and the collector's peak memory.
//
// Long scenarios (tens of seconds of outage) run only when
// OTLPCOL_RELIABILITY_LONG=1; `go test -short` skips every scenario that
// runs the binary for more than a few seconds.
package reliability
