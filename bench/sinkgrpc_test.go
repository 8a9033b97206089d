package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// TestSinkServesEverySignalOverGRPC: the sink's three Export services count
// what a real OTLP/gRPC client sends, and refuse everything as Unavailable
// while down.
func TestSinkServesEverySignalOverGRPC(t *testing.T) {
	d := ids{seed: 42}
	s, err := startSink(d)
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", s.grpcPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for seq := range uint64(3) {
		sp := spans.AppendEmpty()
		sp.SetTraceID(d.traceID(seq / spansPerTrace))
		sp.SetSpanID(d.spanID(seq))
	}
	if _, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
		t.Fatal(err)
	}
	if _, err := pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(buildMetrics(0))); err != nil {
		t.Fatal(err)
	}
	logs := buildLogs(0)
	if _, err := plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(logs)); err != nil {
		t.Fatal(err)
	}
	if got := s.count(); got != 3 {
		t.Errorf("spans counted %d, want 3", got)
	}
	if got, want := s.points.Load(), int64(buildMetrics(0).DataPointCount()); got != want {
		t.Errorf("data points counted %d, want %d", got, want)
	}
	if got, want := s.records.Load(), int64(logs.LogRecordCount()); got != want {
		t.Errorf("log records counted %d, want %d", got, want)
	}

	s.down.Store(true)
	_, err = pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(buildMetrics(0)))
	if status.Code(err) != codes.Unavailable {
		t.Errorf("down: %v, want Unavailable", err)
	}
}
