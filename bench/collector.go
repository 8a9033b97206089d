package main

import (
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// startCollector runs bin/otlpcol on the pipeline's config through the test
// harness, which picks the receiver's and the internal telemetry's ports
// and kills the process when the round ends. The binary is the harness's:
// $OTLPCOL_BIN, else bin/otlpcol (run sets $OTLPCOL_BIN from -bin).
func startCollector(t *roundT, root string, p pipeline, s *sink, pprofPort int) *harness.Collector {
	config := filepath.Join(root, "bench", "configs", p.Config)
	set := p.Set
	if pprofPort != 0 {
		// The bench configs have no extensions: pprof is the only one.
		set = append(append([]string(nil), set...),
			fmt.Sprintf("extensions::pprof::endpoint=127.0.0.1:%d", pprofPort), "service::extensions=[pprof]")
	}
	return harness.Start(t, config, harness.Options{
		Set: set,
		Env: []string{
			"BENCH_DATA_DIR=" + t.TempDir(),
			fmt.Sprintf("BENCH_SINK_GRPC_PORT=%d", s.grpcPort),
			fmt.Sprintf("BENCH_SINK_HTTP_PORT=%d", s.httpPort),
		},
		// The bench configs have no health extension: the stock rows are
		// upstream parts only. Readiness is the receiver answering.
		NoHealthPort: true,
	})
}

// metric sums the samples of a series on the collector's internal
// telemetry; ok is false when the scrape fails or the series is absent.
func metric(c *harness.Collector, name string) (float64, bool) {
	code, body, err := harness.Get(c.TelemetryURL())
	if err != nil || code != http.StatusOK {
		return 0, false
	}
	return harness.SumSamples(body, name)
}
