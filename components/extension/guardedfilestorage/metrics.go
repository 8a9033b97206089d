package guardedfilestorage

import (
	"go.opentelemetry.io/otel/metric"

	"github.com/otlpcol/otlpcol/components/pkg/observe"
)

const scope = "github.com/otlpcol/otlpcol/components/extension/guardedfilestorage"

// telemetry is the guard's instruments, observed by one callback: what this
// process set aside, and what the corrupt directory holds (read at each
// collection, so that deleting the files clears the alert).
type telemetry struct {
	registration metric.Registration
}

func newTelemetry(mp metric.MeterProvider, g *guard) (*telemetry, error) {
	reg, err := observe.Register(mp.Meter(scope),
		observe.Int64{
			Name:        "otelcol_guarded_file_storage_set_aside_files",
			Description: "Database files found damaged at start and moved into corrupt/ by this process.",
			Unit:        "{files}",
			Kind:        observe.Counter,
			Read:        observe.Value(g.setAside.Load),
		},
		observe.Int64{
			Name:        "otelcol_guarded_file_storage_corrupt_stored_files",
			Description: "Damaged database files kept in corrupt/ under the storage directory (not replayed).",
			Unit:        "{files}",
			Read:        observe.Value(func() int64 { f, _ := g.corruptStored(); return f }),
		},
		observe.Int64{
			Name:        "otelcol_guarded_file_storage_corrupt_stored_bytes",
			Description: "Bytes of the damaged database files kept in corrupt/.",
			Unit:        "By",
			Read:        observe.Value(func() int64 { _, b := g.corruptStored(); return b }),
		})
	if err != nil {
		return nil, err
	}
	return &telemetry{registration: reg}, nil
}

func (t *telemetry) unregister() {
	_ = t.registration.Unregister()
}
