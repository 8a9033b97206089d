package guardedfilestorage

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/metric"
)

const scope = "github.com/otlpcol/otlpcol/components/extension/guardedfilestorage"

// telemetry is the guard's instruments, observed by one callback: what this
// process set aside, and what the corrupt directory holds (read at each
// collection, so that deleting the files clears the alert).
type telemetry struct {
	registration metric.Registration
}

func newTelemetry(mp metric.MeterProvider, g *guard) (*telemetry, error) {
	m := mp.Meter(scope)
	setAside, err1 := m.Int64ObservableCounter("otelcol_guarded_file_storage_set_aside_files",
		metric.WithDescription("Database files found damaged at start and moved into corrupt/ by this process."),
		metric.WithUnit("{files}"))
	files, err2 := m.Int64ObservableGauge("otelcol_guarded_file_storage_corrupt_stored_files",
		metric.WithDescription("Damaged database files kept in corrupt/ under the storage directory (not replayed)."),
		metric.WithUnit("{files}"))
	bytes, err3 := m.Int64ObservableGauge("otelcol_guarded_file_storage_corrupt_stored_bytes",
		metric.WithDescription("Bytes of the damaged database files kept in corrupt/."),
		metric.WithUnit("By"))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		f, b := g.corruptStored()
		o.ObserveInt64(setAside, g.setAside.Load())
		o.ObserveInt64(files, f)
		o.ObserveInt64(bytes, b)
		return nil
	}, setAside, files, bytes)
	if err != nil {
		return nil, err
	}
	return &telemetry{registration: reg}, nil
}

func (t *telemetry) unregister() {
	_ = t.registration.Unregister()
}
