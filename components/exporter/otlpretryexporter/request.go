package otlpretryexporter

import (
	"bytes"
	"fmt"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/deadletter"
	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/wal"
)

// request is one batch of one signal on its way out, across attempts.
type request struct {
	signal  string
	items   int
	traces  ptrace.Traces
	metrics pmetric.Metrics
	logs    plog.Logs
	// body is the marshalled Export*ServiceRequest, filled on first need
	// (HTTP, dead letter, replay) and reused by every later attempt.
	body []byte
	// wire is body compressed (HTTP), reused across attempts.
	wire []byte
	// raw: body is the only form (records of the write-ahead log); the
	// pdata fields are empty and the transports send body as it is.
	raw bool
	// parts: a raw request of several write-ahead log records keeps their
	// payloads here instead of a concatenated body; gRPC sends them as one
	// message without copying them, and marshal concatenates them only for
	// those that need one buffer (HTTP, the dead letter, a split).
	parts [][]byte
	// records are the write-ahead log records the request carries; they
	// are acknowledged once the request is delivered or safe in the dead
	// letter, and otherwise stay in the log.
	records []wal.Record
	// replayed: r comes from the dead letter (replay.go); it gets one
	// attempt per replay and stays in its file until settled.
	replayed bool
	// part: r is a piece of a batch the backend refused as invalid, being
	// isolated (split.go): refused as a whole, it goes back unplaced to the
	// split stage that cut it, which decides what is quarantined.
	part bool
	// attempts made for r so far (the retry stage counts retries).
	attempts int
	// rejected: items the backend refused in the partial success of the
	// attempt that delivered r (the ledger's dropped{partial}).
	rejected int64
}

// requestFromRecords builds one request from write-ahead log records. Each
// record is an Export*ServiceRequest whose only field is the repeated field
// 1; the concatenation of such messages is the message holding all their
// resource entries, so batches are cut without decoding or re-encoding.
func requestFromRecords(signal string, recs []wal.Record) *request {
	r := &request{signal: signal, raw: true, records: recs}
	if len(recs) == 1 {
		r.body = recs[0].Payload
		r.items = int(recs[0].Items)
		return r
	}
	r.parts = make([][]byte, len(recs))
	for i, rec := range recs {
		r.parts[i] = rec.Payload
		r.items += int(rec.Items)
	}
	return r
}

func tracesRequest(td ptrace.Traces) *request {
	return &request{signal: deadletter.Traces, items: td.SpanCount(), traces: td}
}

func metricsRequest(md pmetric.Metrics) *request {
	return &request{signal: deadletter.Metrics, items: md.DataPointCount(), metrics: md}
}

func logsRequest(ld plog.Logs) *request {
	return &request{signal: deadletter.Logs, items: ld.LogRecordCount(), logs: ld}
}

// requestFromBody decodes a spooled Export*ServiceRequest.
func requestFromBody(signal string, body []byte) (*request, error) {
	switch signal {
	case deadletter.Traces:
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			return nil, err
		}
		r := tracesRequest(req.Traces())
		r.body = body
		return r, nil
	case deadletter.Metrics:
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			return nil, err
		}
		r := metricsRequest(req.Metrics())
		r.body = body
		return r, nil
	case deadletter.Logs:
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			return nil, err
		}
		r := logsRequest(req.Logs())
		r.body = body
		return r, nil
	}
	return nil, fmt.Errorf("unknown signal %q", signal)
}

// marshal returns the Export*ServiceRequest protobuf bytes.
func (r *request) marshal() ([]byte, error) {
	if r.body != nil {
		return r.body, nil
	}
	if r.parts != nil {
		r.body = bytes.Join(r.parts, nil)
		return r.body, nil
	}
	var err error
	switch r.signal {
	case deadletter.Traces:
		r.body, err = ptraceotlp.NewExportRequestFromTraces(r.traces).MarshalProto()
	case deadletter.Metrics:
		r.body, err = pmetricotlp.NewExportRequestFromMetrics(r.metrics).MarshalProto()
	default:
		r.body, err = plogotlp.NewExportRequestFromLogs(r.logs).MarshalProto()
	}
	return r.body, err
}

// protoSize is the size of the marshalled request, without marshalling.
func (r *request) protoSize() int {
	if r.body != nil {
		return len(r.body)
	}
	if r.parts != nil {
		n := 0
		for _, p := range r.parts {
			n += len(p)
		}
		return n
	}
	switch r.signal {
	case deadletter.Traces:
		return (&ptrace.ProtoMarshaler{}).TracesSize(r.traces)
	case deadletter.Metrics:
		return (&pmetric.ProtoMarshaler{}).MetricsSize(r.metrics)
	default:
		return (&plog.ProtoMarshaler{}).LogsSize(r.logs)
	}
}

// partial is what an OTLP partial success said.
type partial struct {
	rejected int64
	message  string
}
