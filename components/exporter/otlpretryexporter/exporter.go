package otlpretryexporter

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
)

type otlpExporter struct {
	cfg     *Config
	set     exporter.Settings
	conn    *grpc.ClientConn
	traces  ptraceotlp.GRPCClient
	metrics pmetricotlp.GRPCClient
	logs    plogotlp.GRPCClient
}

func newExporter(cfg *Config, set exporter.Settings) *otlpExporter {
	return &otlpExporter{cfg: cfg, set: set}
}

func (e *otlpExporter) start(ctx context.Context, host component.Host) error {
	conn, err := e.cfg.ToClientConn(ctx, host.GetExtensions(), e.set.TelemetrySettings)
	if err != nil {
		return err
	}
	e.conn = conn
	e.traces = ptraceotlp.NewGRPCClient(conn)
	e.metrics = pmetricotlp.NewGRPCClient(conn)
	e.logs = plogotlp.NewGRPCClient(conn)
	return nil
}

func (e *otlpExporter) shutdown(context.Context) error {
	if e.conn == nil {
		return nil
	}
	return e.conn.Close()
}

func (e *otlpExporter) pushTraces(ctx context.Context, td ptrace.Traces) error {
	_, err := e.traces.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	return err
}

func (e *otlpExporter) pushMetrics(ctx context.Context, md pmetric.Metrics) error {
	_, err := e.metrics.Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md))
	return err
}

func (e *otlpExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	_, err := e.logs.Export(ctx, plogotlp.NewExportRequestFromLogs(ld))
	return err
}
