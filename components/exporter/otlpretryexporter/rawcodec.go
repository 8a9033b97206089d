package otlpretryexporter

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/deadletter"
)

// rawCodec sends a request that is already an Export*ServiceRequest
// protobuf (records of the write-ahead log, concatenated) as it is, and
// hands back the response bytes: nothing is serialized a second time.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch b := v.(type) {
	case []byte:
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	case [][]byte:
		// Records of the log, sent as one message without joining them.
		bs := make(mem.BufferSlice, len(b))
		for i, p := range b {
			bs[i] = mem.SliceBuffer(p)
		}
		return bs, nil
	}
	return nil, fmt.Errorf("raw codec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("raw codec: cannot unmarshal into %T", v)
	}
	*p = data.Materialize()
	return nil
}

// Name is the content-subtype: the bytes are protobuf.
func (rawCodec) Name() string { return "proto" }

var exportMethods = map[string]string{
	deadletter.Traces:  "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
	deadletter.Metrics: "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
	deadletter.Logs:    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}

// exportRaw sends r.body, or r.parts as they are, with the signal's Export
// method.
func (t *grpcTransport) exportRaw(ctx context.Context, r *request) (partial, error) {
	var msg any = r.body
	if r.body == nil && r.parts != nil {
		msg = r.parts
	}
	var resp []byte
	if err := t.conn.Invoke(ctx, exportMethods[r.signal], msg, &resp, grpc.ForceCodecV2(rawCodec{})); err != nil {
		return partial{}, err
	}
	if len(resp) == 0 {
		return partial{}, nil
	}
	switch r.signal {
	case deadletter.Traces:
		er := ptraceotlp.NewExportResponse()
		if er.UnmarshalProto(resp) == nil {
			return partial{rejected: er.PartialSuccess().RejectedSpans(), message: er.PartialSuccess().ErrorMessage()}, nil
		}
	case deadletter.Metrics:
		er := pmetricotlp.NewExportResponse()
		if er.UnmarshalProto(resp) == nil {
			return partial{rejected: er.PartialSuccess().RejectedDataPoints(), message: er.PartialSuccess().ErrorMessage()}, nil
		}
	default:
		er := plogotlp.NewExportResponse()
		if er.UnmarshalProto(resp) == nil {
			return partial{rejected: er.PartialSuccess().RejectedLogRecords(), message: er.PartialSuccess().ErrorMessage()}, nil
		}
	}
	return partial{}, nil
}
