package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// Pipelines with Profile set get the pprof extension on a harness port, and
// their first round takes a CPU profile of the collector over the measured
// window (the same overhead, about 100 samples/s, falls on every profiled
// row, in the same round). The profile is classified by stage into
// results.md and drawn as a flame graph beside it.

// stage is a part of the pipeline that CPU time is charged to. A sample is
// charged to the stage of its innermost frame that matches one, so that
// the allocations, copies and syscalls a stage makes count as that stage's.
type stage struct {
	Name string
	Ours bool // otlpcol's own code, between the receiver and the codec
	// match reports whether a frame's function belongs to the stage.
	match func(fn string) bool
}

func anyPrefix(prefixes ...string) func(string) bool {
	return func(fn string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(fn, p) {
				return true
			}
		}
		return false
	}
}

func anyContains(parts ...string) func(string) bool {
	return func(fn string) bool {
		for _, p := range parts {
			if strings.Contains(fn, p) {
				return true
			}
		}
		return false
	}
}

const pdataPkg = "go.opentelemetry.io/collector/pdata/"

// stages are checked in this order at every frame; "other" takes what
// matches none (scheduler, timers, the collector's own telemetry).
var stages = []stage{
	{Name: "GC", match: anyPrefix("runtime.gc", "runtime.bgsweep", "runtime.bgscavenge", "runtime.scanobject",
		"runtime.markroot", "runtime.greyobject", "runtime.(*gcWork)", "runtime.(*mspan).sweep", "runtime.sweepone",
		"runtime.scanblock", "runtime.scanstack", "runtime.wbBuf", "runtime.findObject", "runtime.(*gcControllerState)")},
	{Name: "compress", match: anyPrefix("github.com/klauspost/compress", "compress/gzip", "compress/flate")},
	{Name: marshalStage, Ours: true, match: func(fn string) bool {
		return strings.HasPrefix(fn, pdataPkg) && (strings.Contains(fn, "Marshal") || strings.Contains(fn, "Size")) &&
			!strings.Contains(fn, "Unmarshal")
	}},
	{Name: "write-ahead log", Ours: true, match: anyContains("otlpretryexporter/internal/wal.")},
	{Name: "trace_registry", Ours: true, match: anyContains("traceregistryprocessor.")},
	{Name: "otlp_retry (other)", Ours: true, match: anyContains("otlpretryexporter.", "otlpretryexporter/internal/")},
	// The shipped gateway's extensions: admission runs on every request,
	// health reads the exporters' counters every few seconds.
	{Name: "admission, health", Ours: true, match: anyContains("admissionextension.", "admissionextension/internal/", "healthextension.",
		"healthextension/internal/")},
	{Name: upstreamExporterStage, match: anyContains("exporterhelper", "exporter/otlpexporter", "otlphttpexporter",
		"batchprocessor", "memorylimiter")},
	{Name: "receive and decode", match: func(fn string) bool {
		return strings.HasPrefix(fn, pdataPkg) && strings.Contains(fn, "Unmarshal") ||
			anyContains("otlpreceiver", "NewServerTransport", "http2Server", "grpc.(*Server)", "net/http.(*conn)",
				"google.golang.org/protobuf")(fn)
	}},
	{Name: "send", match: anyContains("NewHTTP2Client", "http2Client", "grpc.(*clientStream)", "grpc.invoke",
		"grpc.(*ClientConn)", "net/http.(*persistConn)", "net/http.(*Transport)")},
}

const (
	otherStage            = "other (runtime, telemetry)"
	marshalStage          = "marshal"
	upstreamExporterStage = "upstream exporter (batch, memory_limiter, exporterhelper, marshal)"
)

// stageOf is the stage a sample's stack (innermost frame first) is charged to.
// Marshalling is otlpcol's only when otlp_retry called it; upstream
// exporters marshal too.
func stageOf(frames []string) string {
	for _, fn := range frames {
		for _, s := range stages {
			if !s.match(fn) {
				continue
			}
			if s.Name == marshalStage && !calledByOtlpRetry(frames) {
				return upstreamExporterStage
			}
			return s.Name
		}
	}
	return otherStage
}

func calledByOtlpRetry(frames []string) bool {
	for _, fn := range frames {
		if strings.Contains(fn, "otlpretryexporter") {
			return true
		}
	}
	return false
}

// cpuProfile is one profiled round: CPU seconds by stage over the window.
type cpuProfile struct {
	Window  time.Duration
	Seconds float64            // CPU seconds sampled
	ByStage map[string]float64 // CPU seconds by stage name
	prof    *profile.Profile
}

// fetchProfile asks the collector's pprof extension for a CPU profile of d.
func fetchProfile(port int, d time.Duration) (*cpuProfile, error) {
	secs := max(1, int(d.Seconds()))
	url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", port, secs)
	client := &http.Client{Timeout: d + 30*time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %s", url, resp.Status, firstLine(string(body)))
	}
	p, err := profile.Parse(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parse profile: %w", err)
	}
	return classify(p, time.Duration(secs)*time.Second)
}

// writeRaw writes the profile as pprof's gzipped protobuf.
func (cp *cpuProfile) writeRaw(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := cp.prof.Write(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// cpuIndex is the index of the CPU-time sample value ("cpu", nanoseconds).
func cpuIndex(p *profile.Profile) (int, error) {
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			return i, nil
		}
	}
	return 0, fmt.Errorf("profile has no cpu sample type (%d types)", len(p.SampleType))
}

// frames is a sample's stack as function names, innermost first
// (inlined functions included, innermost first within a location).
func frames(s *profile.Sample) []string {
	var out []string
	for _, loc := range s.Location {
		for _, line := range loc.Line {
			if line.Function != nil {
				out = append(out, line.Function.Name)
			}
		}
	}
	return out
}

func classify(p *profile.Profile, window time.Duration) (*cpuProfile, error) {
	idx, err := cpuIndex(p)
	if err != nil {
		return nil, err
	}
	cp := &cpuProfile{Window: window, ByStage: map[string]float64{}, prof: p}
	for _, s := range p.Sample {
		sec := float64(s.Value[idx]) / 1e9
		cp.Seconds += sec
		cp.ByStage[stageOf(frames(s))] += sec
	}
	return cp, nil
}

// share is a stage's fraction of the profile's CPU time.
func (cp *cpuProfile) share(name string) float64 {
	if cp == nil || cp.Seconds == 0 {
		return 0
	}
	return cp.ByStage[name] / cp.Seconds
}

// ours is the fraction charged to otlpcol's own stages.
func (cp *cpuProfile) ours() float64 {
	var f float64
	for _, s := range stages {
		if s.Ours {
			f += cp.share(s.Name)
		}
	}
	return f
}

// stageNames is every stage in table order, "other" last.
func stageNames() []string {
	var out []string
	for _, s := range stages {
		out = append(out, s.Name)
	}
	return append(out, otherStage)
}
