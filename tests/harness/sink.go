package harness

import (
	"testing"

	"github.com/otlpcol/otlpcol/tests/otlptraffic"
)

// Sink is a real OTLP backend for tests (otlptraffic.Sink): the collector's
// own otlpreceiver, in the test process, on loopback gRPC and HTTP ports,
// recording what it receives.
type Sink = otlptraffic.Sink

// StartSink starts a Sink on fresh loopback ports (see Port), trying other
// ports should one be taken all the same; it stops when the test ends.
func StartSink(t testing.TB) *Sink {
	t.Helper()
	return StartSinkOn(t, "127.0.0.1", true)
}

// StartSinkOn starts a Sink on host (an address of this machine, such as
// the host end of a test's veth pair), gRPC on a fresh port and, with
// withHTTP, HTTP on another; it stops when the test ends.
func StartSinkOn(t testing.TB, host string, withHTTP bool) *Sink {
	t.Helper()
	var (
		s   *Sink
		err error
	)
	for range maxBindTries {
		cfg := otlptraffic.SinkConfig{Host: host, GRPCPort: FreePort(t)}
		picked := []int{cfg.GRPCPort}
		if withHTTP {
			cfg.HTTPPort = FreePort(t)
			picked = append(picked, cfg.HTTPPort)
		}
		notePicked(picked...)
		if s, err = otlptraffic.StartSink(cfg); !IsAddrInUse(err) {
			break
		}
		t.Logf("sink could not bind (%v): trying fresh ports", err)
	}
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}
