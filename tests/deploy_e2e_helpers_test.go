package tests

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// deployTraces builds n traces of spans spans each; every third trace has an
// error span. IDs derive from seed so that calls do not collide.
func deployTraces(seed, n, spans int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "deploy-e2e")
	ss := rs.ScopeSpans().AppendEmpty()
	now := time.Now()
	for i := range n {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:8], uint64(seed))
		binary.BigEndian.PutUint64(tid[8:], uint64(i+1))
		for j := range spans {
			s := ss.Spans().AppendEmpty()
			s.SetTraceID(tid)
			var sid pcommon.SpanID
			binary.BigEndian.PutUint64(sid[:], uint64(seed)<<40|uint64(i)<<16|uint64(j+1))
			s.SetSpanID(sid)
			s.SetName(fmt.Sprintf("op-%d", j))
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(j+1) * time.Millisecond)))
			if i%3 == 0 && j == spans-1 {
				s.Status().SetCode(ptrace.StatusCodeError)
			}
		}
	}
	return td
}

func deployMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("deploy_e2e_gauge")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetDoubleValue(1)
	dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	return md
}

func deployLogs() plog.Logs {
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Body().SetStr("deploy e2e")
	lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	return ld
}

// postOTLP sends one OTLP/HTTP protobuf request and returns the status code.
func postOTLP(t *testing.T, base, path string, body []byte) int {
	t.Helper()
	resp, err := http.Post(base+path, "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func sendAll(t *testing.T, c *harness.Collector, seed int) {
	t.Helper()
	tb, _ := ptraceotlp.NewExportRequestFromTraces(deployTraces(seed, 30, 3)).MarshalProto()
	mb, _ := pmetricotlp.NewExportRequestFromMetrics(deployMetrics()).MarshalProto()
	lb, _ := plogotlp.NewExportRequestFromLogs(deployLogs()).MarshalProto()
	postOTLP(t, c.HTTPEndpoint(), "/v1/traces", tb)
	postOTLP(t, c.HTTPEndpoint(), "/v1/metrics", mb)
	postOTLP(t, c.HTTPEndpoint(), "/v1/logs", lb)
}

func scrapeNames(t *testing.T, url string) map[string]bool {
	t.Helper()
	code, body, err := harness.Get(url)
	if err != nil || code != http.StatusOK {
		return map[string]bool{}
	}
	return harness.SeriesNames(body)
}
