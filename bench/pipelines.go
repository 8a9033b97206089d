package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// pipeline is one row of the bench: a collector configuration under test
// and what it is compared with. Adding a row is adding an entry to
// knownPipelines (and, for a new shape, a config in bench/configs/).
type pipeline struct {
	Name string // short name used by -pipelines, in the tables and the chart
	Desc string // what it is, for results.md
	// Config is a file in bench/configs/. The bench sets the otlp
	// receiver's endpoints with --set and these environment variables:
	// OTLPCOL_TELEMETRY_PORT (internal telemetry), BENCH_SINK_GRPC_PORT and
	// BENCH_SINK_HTTP_PORT (the sink), BENCH_DATA_DIR (an empty directory
	// for persistent queues, new every round).
	Config string
	// Set holds --set key=value overrides applied on top of Config, for
	// rows that differ from another in a setting or two.
	Set []string
	// Baseline names the pipeline this one is compared with besides stock:
	// the one that differs from it only in what the row is about.
	Baseline string
	// Cycle > 0 makes the load reuse this many traces, after sending each
	// once during warm-up, so that trace_registry holds exactly Cycle traces.
	Cycle uint64
	// Exports is false for the ceiling, which has no sink to count at.
	Exports bool
	// Gateway marks otlpcol's own pipelines, judged against the targets.
	Gateway bool
	// Profile takes a CPU profile of the collector over the measured
	// window of the first round (see profile.go).
	Profile bool
	// SpansPerRequest is the load's request size, a multiple of
	// spansPerTrace; 0 means spansPerRequest (1,000).
	SpansPerRequest int
	// Shipped says Config is a file in the repository's configs/, the
	// configuration users deploy, run as it is but for what a bench round
	// must change (see harness.GatewaySets).
	Shipped bool
}

// configFile is the row's configuration, relative to the repository root.
func (p pipeline) configFile() string {
	if p.Shipped {
		return filepath.Join("configs", p.Config)
	}
	return filepath.Join("bench", "configs", p.Config)
}

// stockName is the reference every row is compared with.
const stockName = "stock"

func knownPipelines() []pipeline {
	return append(knownPipelinesBase(),
		requestSizePipeline(stockName, 10), requestSizePipeline(stockName, 100), requestSizePipeline(stockName, 10_000),
		requestSizePipeline("gateway-wal-always", 10), requestSizePipeline("gateway-wal-always", 100),
		requestSizePipeline("gateway-wal-always", 10_000),
		scalePipeline(10_000),
		scalePipeline(100_000),
		scalePipeline(1_000_000),
	)
}

// knownPipelinesBase is every row but the request-size and scale rows,
// which are variations of these.
func knownPipelinesBase() []pipeline {
	return []pipeline{
		{Name: "ceiling", Desc: "otlp -> nop (receive only)", Config: "ceiling.yaml", Profile: true},
		{Name: stockName, Desc: "otlp -> memory_limiter -> batch -> otlp_grpc (gzip): what a user builds from upstream parts",
			Config: "stock.yaml", Exports: true, Profile: true},
		{Name: "stock-zstd", Desc: "stock with otlp_grpc's compression zstd",
			Config: "stock.yaml", Set: []string{"exporters::otlp_grpc::compression=zstd"}, Exports: true},
		{Name: "stock-durable", Desc: "otlp -> memory_limiter -> otlp_grpc (gzip) with a file_storage sending queue that cuts batches of 1,000 (sending_queue.batch), no batch processor: the durable pipeline a user builds from upstream parts",
			Config: "stock-durable.yaml", Exports: true},
		{Name: "gateway", Desc: "otlp -> memory_limiter -> trace_registry -> batch -> otlp_retry (gRPC, gzip 6)",
			Config: "gateway.yaml", Exports: true, Gateway: true},
		{Name: "gateway-http", Desc: "gateway, otlp_retry over HTTP (gzip 6)",
			Config: "gateway-http.yaml", Exports: true, Gateway: true},
		{Name: "gateway-zstd", Desc: "gateway with otlp_retry's compression zstd",
			Config: "gateway.yaml", Set: []string{"exporters::otlp_retry::compression=zstd"},
			Baseline: "stock-zstd", Exports: true, Gateway: true},
		{Name: "gateway-file-storage", Desc: "the gateway's shape before the write-ahead log: otlp -> memory_limiter -> trace_registry -> otlp_retry (gzip 6, file_storage persistent queue, batches of 1,000), no batch processor",
			Config: "gateway-file-storage.yaml", Baseline: "stock-durable", Exports: true, Gateway: true},
		{Name: "gateway-wal-never", Desc: "the same shape on otlp_retry's write-ahead log (persistent_queue) with fsync never (the kernel flushes)",
			Config: "gateway-wal.yaml", Set: []string{"exporters::otlp_retry::persistent_queue::fsync=never"},
			Baseline: "stock-durable", Exports: true, Gateway: true},
		{Name: "gateway-wal-interval", Desc: "the same shape on otlp_retry's write-ahead log (persistent_queue) with fsync interval (fdatasync every 200ms)",
			Config: "gateway-wal.yaml", Set: []string{"exporters::otlp_retry::persistent_queue::fsync=interval"},
			Baseline: "stock-durable", Exports: true, Gateway: true},
		{Name: "gateway-wal-always", Desc: "the same shape on otlp_retry's write-ahead log (persistent_queue) with fsync always (OK after fdatasync, group commit; what configs/gateway.yaml ships)",
			Config: "gateway-wal.yaml", Set: []string{"exporters::otlp_retry::persistent_queue::fsync=always"},
			Baseline: "stock-durable", Exports: true, Gateway: true, Profile: true},
		{Name: "gateway-wal-always-no-registry", Desc: "gateway-wal-always without trace_registry: what the registry costs in the pipeline",
			Config: "gateway-wal.yaml", Set: []string{"exporters::otlp_retry::persistent_queue::fsync=always",
				"service::pipelines::traces::processors=[memory_limiter]"},
			Baseline: "gateway-wal-always", Exports: true, Gateway: true, Profile: true},
		{Name: "gateway-shipped", Desc: "configs/gateway.yaml as users deploy it (admission, health, dead letter, quarantine, circuit breaker, a registry of 100,000 traces, fsync always, gzip 6), with only its ports, state directories and plaintext to the sink changed",
			Config: "gateway.yaml", Shipped: true, Baseline: "gateway-wal-always", Exports: true, Gateway: true, Profile: true},
		{Name: "gateway-defaults", Desc: "gateway with otlp_retry's default in-memory sending queue (bytes sizer, 64 MiB, batches of 1,000; block_on_overflow) behind a batch processor of 8,192",
			Config: "gateway-defaults.yaml", Exports: true, Gateway: true},
	}
}

// requestSizes are the request-size rows' sizes besides the default 1,000.
var requestSizes = []int{10, 100, 10_000}

// requestSizePipeline is pipeline base with requests of n spans.
func requestSizePipeline(base string, n int) pipeline {
	for _, p := range knownPipelinesBase() {
		if p.Name == base {
			p.Name = fmt.Sprintf("%s-req-%s", base, shortCount(uint64(n)))
			p.Desc = fmt.Sprintf("%s with requests of %s spans", base, shortCount(uint64(n)))
			p.SpansPerRequest = n
			p.Baseline, p.Profile = "", false
			if base != stockName {
				p.Baseline = fmt.Sprintf("%s-req-%s", stockName, shortCount(uint64(n)))
			}
			return p
		}
	}
	panic("requestSizePipeline: unknown base " + base)
}

func scalePipeline(n uint64) pipeline {
	return pipeline{
		Name:   "scale-" + shortCount(n),
		Desc:   fmt.Sprintf("gateway, registry holding %s active traces", shortCount(n)),
		Config: "gateway.yaml",
		Set: []string{
			fmt.Sprintf("processors::trace_registry::max_traces=%d", 2*n),
			"processors::trace_registry::idle_timeout=10m",
		},
		Cycle:   n,
		Exports: true,
		Gateway: true,
	}
}

// defaultPipelines is every known pipeline, in the table's order.
func defaultPipelines() string {
	var names []string
	for _, p := range knownPipelines() {
		names = append(names, p.Name)
	}
	return strings.Join(names, ",")
}

const quickPipelines = "ceiling,stock,gateway"

// defaultCatchup is the catch-up scenario's rows: the shipped gateway and
// the durable pipeline built from upstream parts.
const defaultCatchup = "stock-durable,gateway-wal-always,gateway-wal-always-live-first"

func shortCount(n uint64) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1_000 && n%1_000 == 0:
		return fmt.Sprintf("%dk", n/1_000)
	}
	return strconv.FormatUint(n, 10)
}

// selectPipelines resolves a comma-separated list of names; scale-N (with k
// or M suffixes) runs the gateway with N active traces.
func selectPipelines(list string) ([]pipeline, error) {
	known := map[string]pipeline{}
	for _, p := range knownPipelines() {
		known[p.Name] = p
	}
	var out []pipeline
	seen := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" || name == "none" || seen[name] {
			continue
		}
		seen[name] = true
		if p, ok := known[name]; ok {
			out = append(out, p)
			continue
		}
		if p, ok := parseScale(name); ok {
			out = append(out, p)
			continue
		}
		return nil, fmt.Errorf("unknown pipeline %q (known: %s, or scale-N)", name, defaultPipelines())
	}
	if len(out) == 0 && strings.TrimSpace(list) != "none" {
		return nil, errors.New("no pipeline selected (none: only the scenarios)")
	}
	return out, nil
}

func parseScale(name string) (pipeline, bool) {
	s, ok := strings.CutPrefix(name, "scale-")
	if !ok {
		return pipeline{}, false
	}
	mult := uint64(1)
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1_000, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "M"):
		mult, s = 1_000_000, strings.TrimSuffix(s, "M")
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return pipeline{}, false
	}
	return scalePipeline(n * mult), true
}
