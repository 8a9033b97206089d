package otlpretryexporter

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/deadletter"

	"github.com/otlpcol/otlpcol/components/pkg/configfuzz"
)

// FuzzParseRetryAfter feeds the Retry-After header a backend (or anything
// between) sends. The delay is never negative; a non-negative number of
// seconds small enough not to overflow is taken as it is; an HTTP-date in
// the future is the time until it.
func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{
		"0", "1", "30", " 5 ", "-1", "1.5", "", "abc", "120s",
		"Wed, 25 Nov 2026 12:00:30 GMT", "Wed, 25 Nov 2026 11:00:00 GMT", "Wednesday, 25-Nov-26 12:01:00 GMT",
		"Wed Nov 25 12:00:10 2026", "9223372036", "99999999999999999999",
		"9227000000", // overflowed to a negative delay before the clamp
		"Fri, 31 Dec 9999 23:59:59 GMT",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d := parseRetryAfter(v, now)
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %s, outside [0, %s]", v, d, maxRetryAfter)
		}
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 && n <= 1<<30 {
			if want := min(time.Duration(n)*time.Second, maxRetryAfter); d != want {
				t.Fatalf("parseRetryAfter(%q) = %s, want %s", v, d, want)
			}
		}
		if at, err := http.ParseTime(strings.TrimSpace(v)); err == nil {
			if want := min(at.Sub(now), maxRetryAfter); want > 0 && d != want {
				t.Fatalf("parseRetryAfter(%q) = %s, want %s", v, d, want)
			}
		}
	})
}

// FuzzRequestFromBody feeds dead-letter file contents, which may be
// truncated or damaged on disk: decoding returns an error or a request
// whose item count is what the payload holds, never a crash.
func FuzzRequestFromBody(f *testing.F) {
	signals := []string{deadletter.Traces, deadletter.Metrics, deadletter.Logs, "profiles"}
	for i, body := range seedBodies(f) {
		f.Add(uint8(i%3), body)
		f.Add(uint8(i%3), body[:len(body)/2])
	}
	f.Add(uint8(3), []byte{})
	f.Add(uint8(0), []byte("\x0a\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, sig uint8, body []byte) {
		r, err := requestFromBody(signals[int(sig)%len(signals)], body)
		if err != nil {
			return
		}
		if r.items < 0 {
			t.Fatalf("negative item count %d", r.items)
		}
		if _, err := r.marshal(); err != nil {
			t.Fatalf("decoded request does not marshal again: %v", err)
		}
	})
}

// FuzzConfigUnmarshal decodes arbitrary YAML as the exporter's config: an
// error or a config whose Validate does not panic, never a crash.
func FuzzConfigUnmarshal(f *testing.F) {
	configfuzz.Run(f, []string{
		"endpoint: backend:4317\ncompression: gzip\ncompression_level: 6\n",
		"endpoint: http://backend:4318\nprotocol: http\ncompression: zstd\n",
		"endpoint: x\nprotocol: carrier-pigeon\ncompression: brotli\ncompression_level: 12\n",
		"endpoint: x\nretry_on_failure:\n  multiplier: 0.5\n  randomization_factor: 2\n",
		"endpoint: x\ncircuit_breaker:\n  min_attempts: 0\n  open_duration: -1s\n",
		"endpoint: x\ndead_letter:\n  directory: /tmp/dl\n  max_bytes: -1\n  replay_interval: -1s\n",
		"endpoint: x\nsending_queue:\n  enabled: true\n  storage: file_storage\n  queue_size: 0\n",
		"endpoint: x\nheaders:\n  x-api-key: secret\ntls:\n  insecure: true\n",
		"[]", "endpoint: {a: 1}",
	}, createDefaultConfig)
}

// seedBodies are valid traces, metrics and logs export requests.
func seedBodies(f *testing.F) [][]byte {
	f.Helper()
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName("seed")
	sp.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	sp.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	tb, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		f.Fatal(err)
	}
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("seed")
	m.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)
	mb, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		f.Fatal(err)
	}
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("seed")
	lb, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		f.Fatal(err)
	}
	return [][]byte{tb, mb, lb}
}
