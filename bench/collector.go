package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// startCollector runs bin/otlpcol on the pipeline's config through the test
// harness, which picks the receiver's and the internal telemetry's ports
// and kills the process when the round ends. The binary is the harness's:
// $OTLPCOL_BIN, else bin/otlpcol (run sets $OTLPCOL_BIN from -bin).
func startCollector(t *roundT, root string, p pipeline, s *sink, pprofPort int) *harness.Collector {
	data := t.TempDir()
	opts := harness.Options{
		Env: []string{
			"BENCH_DATA_DIR=" + data,
			fmt.Sprintf("BENCH_SINK_GRPC_PORT=%d", s.grpcPort),
			fmt.Sprintf("BENCH_SINK_HTTP_PORT=%d", s.httpPort),
		},
		// The bench configs have no health extension: the stock rows are
		// upstream parts only. Readiness is the receiver answering.
		NoHealthPort: true,
	}
	// The bench configs have no extensions; the shipped ones have theirs.
	var extensions []string
	if p.Shipped {
		opts.Set = harness.GatewaySets(data)
		opts.Env = append(opts.Env, fmt.Sprintf("OTLP_ENDPOINT=127.0.0.1:%d", s.grpcPort), "API_KEY=bench")
		opts.NoHealthPort = false // the harness moves health off 8080
		ext, err := harness.ServiceExtensions(filepath.Join(root, p.configFile()))
		if err != nil {
			t.Fatalf("%s: %v", p.configFile(), err)
		}
		extensions = ext
	}
	opts.Set = append(opts.Set, p.Set...)
	if pprofPort != 0 {
		extensions = append(extensions, "pprof")
		opts.Set = append(opts.Set, fmt.Sprintf("extensions::pprof::endpoint=127.0.0.1:%d", pprofPort))
	}
	if len(extensions) > 0 {
		opts.Set = append(opts.Set, "service::extensions=["+strings.Join(extensions, ", ")+"]")
	}
	return harness.Start(t, filepath.Join(root, p.configFile()), opts)
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
