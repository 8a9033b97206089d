package chaos

import (
	"crypto/sha256"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// Every item a campaign client sends (span, data point, log record) carries
// its identity in the attribute chaos.id; its key is "<signal>:<id>".
const (
	idAttr     = "chaos.id"
	markerAttr = "chaos.marker"
	// markerValue is not valid UTF-8: a strict protobuf decoder refuses the
	// whole request (gRPC Internal) while pdata passes it through.
	markerValue = "refuse-me-\xff\xfe"
	// markerPrefix starts the chaos.id of every marker item.
	markerPrefix = "marker-"

	sigTraces  = "t"
	sigMetrics = "m"
	sigLogs    = "l"
)

var signals = []string{sigTraces, sigMetrics, sigLogs}

func signalName(s string) string {
	switch s {
	case sigTraces:
		return "traces"
	case sigMetrics:
		return "metrics"
	default:
		return "logs"
	}
}

// isMarkerKey says whether key is an item sent with the marker.
func isMarkerKey(key string) bool {
	_, id, _ := strings.Cut(key, ":")
	return strings.HasPrefix(id, markerPrefix)
}

// payload is what an item carries besides its ID: pad bytes of text, to
// give batches a realistic size, or a giant label.
type payload struct {
	pad    int
	marker bool
}

func padText(n int) string { return strings.Repeat("x", n) }

// genTraces builds a traces batch with one span per id.
func genTraces(service string, ids []string, p payload) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	now := time.Now()
	for _, id := range ids {
		sp := ss.AppendEmpty()
		// One trace per span, spread over the agent's ring by its ID.
		h := sha256.Sum256([]byte(id))
		sp.SetTraceID(pcommon.TraceID(h[:16]))
		sp.SetSpanID(pcommon.SpanID(h[16:24]))
		sp.SetName("chaos-span")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
		putCommon(sp.Attributes(), id, p)
	}
	return td
}

// genMetrics builds a metrics batch with one gauge data point per id.
func genMetrics(service string, ids []string, p payload) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", service)
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("chaos.gauge")
	dps := m.SetEmptyGauge().DataPoints()
	now := pcommon.NewTimestampFromTime(time.Now())
	for i, id := range ids {
		dp := dps.AppendEmpty()
		dp.SetTimestamp(now)
		dp.SetIntValue(int64(i))
		putCommon(dp.Attributes(), id, p)
	}
	return md
}

// genLogs builds a logs batch with one record per id.
func genLogs(service string, ids []string, p payload) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", service)
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	now := pcommon.NewTimestampFromTime(time.Now())
	for _, id := range ids {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(now)
		lr.Body().SetStr("chaos log record")
		putCommon(lr.Attributes(), id, p)
	}
	return ld
}

func putCommon(attrs pcommon.Map, id string, p payload) {
	attrs.PutStr(idAttr, id)
	if p.pad > 0 {
		attrs.PutStr("chaos.pad", padText(p.pad))
	}
	if p.marker {
		attrs.PutStr(markerAttr, markerValue)
	}
}

// keysOfProto decodes an OTLP protobuf request of signal sig (as the write-
// ahead log, dead letter and quarantine store it) and returns its item keys.
func keysOfProto(sig string, b []byte) ([]string, error) {
	var keys []string
	add := func(attrs pcommon.Map) {
		if v, ok := attrs.Get(idAttr); ok {
			keys = append(keys, sig+":"+v.Str())
		}
	}
	switch sig {
	case sigTraces:
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(b); err != nil {
			return nil, err
		}
		for _, rs := range req.Traces().ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					add(sp.Attributes())
				}
			}
		}
	case sigMetrics:
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(b); err != nil {
			return nil, err
		}
		for _, rm := range req.Metrics().ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					switch m.Type() {
					case pmetric.MetricTypeGauge:
						for _, dp := range m.Gauge().DataPoints().All() {
							add(dp.Attributes())
						}
					case pmetric.MetricTypeSum:
						for _, dp := range m.Sum().DataPoints().All() {
							add(dp.Attributes())
						}
					}
				}
			}
		}
	default:
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(b); err != nil {
			return nil, err
		}
		for _, rl := range req.Logs().ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					add(lr.Attributes())
				}
			}
		}
	}
	return keys, nil
}
