package otlpretryexporter

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/wal"
)

// walTelemetry is the write-ahead log's instruments (otelcol_otlp_retry_wal_*),
// observed from wal.Stats by one callback while the log is open.
type walTelemetry struct {
	fsyncDuration   metric.Float64Histogram
	bytes           metric.Int64ObservableGauge
	maxBytes        metric.Int64ObservableGauge
	records         metric.Int64ObservableGauge
	segments        metric.Int64ObservableGauge
	memoryBytes     metric.Int64ObservableGauge
	spilled         metric.Int64ObservableGauge
	fsyncs          metric.Int64ObservableCounter
	corruptSegments metric.Int64ObservableCounter
	tornTails       metric.Int64ObservableCounter
	corruptRecords  metric.Int64ObservableCounter
	registration    metric.Registration
}

func newWALTelemetry(in *instruments) *walTelemetry {
	w := &walTelemetry{}
	w.bytes = in.gauge("wal_bytes", "Bytes of the write-ahead log's segment files (bounded by persistent_queue::max_bytes).", "By")
	// The bound beside the bytes, so that a fill alert or panel divides by
	// the configured max_bytes rather than a constant that goes stale.
	w.maxBytes = in.gauge("wal_max_bytes", "persistent_queue::max_bytes: the bound of this signal's write-ahead log.", "By")
	w.records = in.gauge("wal_records", "Requests in the write-ahead log not yet acknowledged (delivered or in the dead letter).", "{records}")
	w.segments = in.gauge("wal_segments", "Segment files of the write-ahead log.", "{segments}")
	w.memoryBytes = in.gauge("wal_memory_bytes", "Bytes of queued requests held in memory (bounded by persistent_queue::memory_budget).", "By")
	w.spilled = in.gauge("wal_spilled_records", "Queued requests beyond the memory budget, read back from disk when exported.", "{records}")
	w.fsyncs = in.observableCounter("wal_fsyncs", "fdatasync calls of the write-ahead log (one per group commit with fsync: always).", "{calls}")
	w.corruptSegments = in.observableCounter("wal_corrupt_segments", "Segments found damaged at start and moved to corrupt/ (their records are not replayed).", "{segments}")
	w.tornTails = in.observableCounter("wal_torn_tails", "Torn tails (a record cut by a crash) truncated at start.", "{tails}")
	w.corruptRecords = in.observableCounter("wal_corrupt_records", "Records found damaged while reading back from disk; their segment is kept in corrupt/.", "{records}")
	w.fsyncDuration = in.histogram("wal_fsync_duration", "Duration of one fdatasync of the write-ahead log.", "s",
		0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
	return w
}

func (t *telemetry) walFsync(d time.Duration) {
	t.wal.fsyncDuration.Record(context.Background(), d.Seconds(), t.signal)
}

// maxBytes is persistent_queue::max_bytes (wal.Options.MaxBytes).
func (t *telemetry) registerWAL(l *wal.Log, maxBytes int64) error {
	w := t.wal
	var err error
	w.registration, err = t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := l.Stats()
		o.ObserveInt64(w.bytes, s.Bytes, t.signal)
		o.ObserveInt64(w.maxBytes, maxBytes, t.signal)
		o.ObserveInt64(w.records, s.Records, t.signal)
		o.ObserveInt64(w.segments, int64(s.Segments), t.signal)
		o.ObserveInt64(w.memoryBytes, s.MemoryBytes, t.signal)
		o.ObserveInt64(w.spilled, s.SpilledRecords, t.signal)
		o.ObserveInt64(w.fsyncs, s.Fsyncs, t.signal)
		o.ObserveInt64(w.corruptSegments, s.CorruptSegments, t.signal)
		o.ObserveInt64(w.tornTails, s.TornTails, t.signal)
		o.ObserveInt64(w.corruptRecords, s.CorruptRecords, t.signal)
		return nil
	}, w.bytes, w.maxBytes, w.records, w.segments, w.memoryBytes, w.spilled, w.fsyncs, w.corruptSegments, w.tornTails, w.corruptRecords)
	return err
}

func (t *telemetry) unregisterWAL() {
	if t.wal.registration != nil {
		_ = t.wal.registration.Unregister()
		t.wal.registration = nil
	}
}
