package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

const (
	walWrite    = "github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/wal.(*Log).writeGroup"
	retryPush   = "github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter.(*otlpExporter).push"
	pdataMarsh  = "go.opentelemetry.io/collector/pdata/internal.(*ExportTraceServiceRequest).MarshalProto"
	pdataUnmar  = "go.opentelemetry.io/collector/pdata/internal.(*ExportTraceServiceRequest).UnmarshalProto"
	helperSend  = "go.opentelemetry.io/collector/exporter/exporterhelper/internal.(*retrySender).Send"
	flateEnc    = "github.com/klauspost/compress/flate.(*fastEncL6).Encode"
	mallocgc    = "runtime.mallocgc"
	scanobject  = "runtime.scanobject"
	gcBgWorker  = "runtime.gcBgMarkWorker"
	syscallCall = "syscall.Syscall6"
	registryObs = "github.com/otlpcol/otlpcol/components/processor/traceregistryprocessor.(*registry).observeSpan"
	admissionIn = "github.com/otlpcol/otlpcol/components/extension/admissionextension/internal/budget.(*Budget).TryTake"
	grpcServe   = "google.golang.org/grpc.(*Server).handleStream"
)

// synthetic builds a CPU profile whose samples have the given stacks
// (innermost frame first) and CPU nanoseconds.
func synthetic(stacks map[string]int64) *profile.Profile {
	p := &profile.Profile{SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}}}
	fns := map[string]*profile.Function{}
	for stack, ns := range stacks {
		var locs []*profile.Location
		for _, name := range strings.Split(stack, ";") {
			f, ok := fns[name]
			if !ok {
				f = &profile.Function{ID: uint64(len(fns) + 1), Name: name}
				fns[name] = f
				p.Function = append(p.Function, f)
			}
			l := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: f}}}
			p.Location = append(p.Location, l)
			locs = append(locs, l)
		}
		p.Sample = append(p.Sample, &profile.Sample{Location: locs, Value: []int64{1, ns}})
	}
	return p
}

func TestStagesChargeTheInnermostStage(t *testing.T) {
	cases := map[string]string{
		walWrite + ";" + retryPush:                                       "write-ahead log",
		syscallCall + ";" + walWrite + ";" + retryPush:                   "write-ahead log", // the log's fdatasync is the log's
		mallocgc + ";" + pdataMarsh + ";" + retryPush:                    marshalStage,      // our marshal's allocations are ours
		pdataMarsh + ";" + helperSend:                                    upstreamExporterStage,
		flateEnc + ";" + retryPush:                                       "compress",
		scanobject + ";" + mallocgc + ";" + walWrite:                     "GC",
		scanobject + ";" + gcBgWorker:                                    "GC",
		pdataUnmar + ";" + "runtime.goexit":                              "receive and decode",
		registryObs + ";" + retryPush:                                    "trace_registry",
		"runtime.schedule;runtime.mcall":                                 otherStage,
		admissionIn + ";" + grpcServe:                                    "admission, health",
		"google.golang.org/grpc/internal/transport.NewHTTP2Client.func6": "send",
	}
	for stack, want := range cases {
		if got := stageOf(strings.Split(stack, ";")); got != want {
			t.Errorf("%s: charged to %q, want %q", stack, got, want)
		}
	}
}

func TestProfileSharesAndFlameGraph(t *testing.T) {
	p := synthetic(map[string]int64{
		walWrite + ";" + retryPush:          3e9,
		flateEnc + ";" + retryPush:          5e9,
		pdataUnmar + ";" + "runtime.goexit": 2e9,
	})
	cp, err := classify(p, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Seconds != 10 {
		t.Fatalf("sampled %.1f s, want 10", cp.Seconds)
	}
	if got := cp.share("compress"); got != 0.5 {
		t.Errorf("compress share %.2f, want 0.50", got)
	}
	if got := cp.ours(); got != 0.3 {
		t.Errorf("ours %.2f, want 0.30 (the log only)", got)
	}
	path := filepath.Join(t.TempDir(), "flame.svg")
	if err := cp.writeFlameGraph(path, "test"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ XMLName xml.Name }
	if err := xml.Unmarshal(b, &doc); err != nil || doc.XMLName.Local != "svg" {
		t.Fatalf("not an SVG document: %v", err)
	}
	for _, fn := range []string{walWrite, flateEnc, pdataUnmar} {
		if !strings.Contains(string(b), "<title>"+fn+":") {
			t.Errorf("flame graph has no frame %s", fn)
		}
	}
}

// TestOursTargetJudgesGatewayRows: the share target names every profiled
// gateway row with its share and whether it is within maxOursShare, and
// leaves the stock rows out.
func TestOursTargetJudgesGatewayRows(t *testing.T) {
	prof := func(oursNs, otherNs int64) *cpuProfile {
		cp, err := classify(synthetic(map[string]int64{
			walWrite + ";" + retryPush:          oursNs,
			pdataUnmar + ";" + "runtime.goexit": otherNs,
		}), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return cp
	}
	r := &report{Rows: []row{
		{pipeline: pipeline{Name: "stock"}, Samples: []sample{{Profile: prof(0, 10)}}},
		{pipeline: pipeline{Name: "fat", Gateway: true}, Samples: []sample{{Profile: prof(3, 7)}}},
		{pipeline: pipeline{Name: "lean", Gateway: true}, Samples: []sample{{Profile: prof(1, 19)}}},
	}}
	var b strings.Builder
	r.mdOursTarget(&b, r.profiled())
	got := b.String()
	for _, want := range []string{"at most 10%", "half of the 20%", "fat 30%, MISSED", "lean 5%, met"} {
		if !strings.Contains(got, want) {
			t.Errorf("target line %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "stock") {
		t.Errorf("target line judges the stock row: %q", got)
	}
}
