// Package observe registers a component's observable int64 instruments
// from a table: each one named, described, with its unit, and read by one
// callback at every collection. It replaces the instrument-by-instrument
// registration (create, join the errors, one callback observing each, keep
// the registration) that every in-house component wrote again.
package observe

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/metric"
)

// Kind is an observable instrument's kind.
type Kind int

const (
	// Gauge is a value that goes up and down (Int64ObservableGauge).
	Gauge Kind = iota
	// Counter is a running total (Int64ObservableCounter).
	Counter
)

// Int64 is one observable instrument and how to read it.
type Int64 struct {
	Name        string
	Description string
	Unit        string
	Kind        Kind
	// Read gives the value at a collection; false leaves the instrument
	// unobserved this time (a reading that failed).
	Read func() (int64, bool)
}

// Value is a Read for a reading that cannot fail.
func Value(f func() int64) func() (int64, bool) {
	return func() (int64, bool) { return f(), true }
}

// Register creates every instrument on m and one callback that observes
// them all. Unregister the registration at shutdown.
func Register(m metric.Meter, instruments ...Int64) (metric.Registration, error) {
	obs := make([]metric.Int64Observable, len(instruments))
	all := make([]metric.Observable, len(instruments))
	var errs []error
	for i, in := range instruments {
		desc, unit := metric.WithDescription(in.Description), metric.WithUnit(in.Unit)
		var err error
		switch in.Kind {
		case Counter:
			obs[i], err = m.Int64ObservableCounter(in.Name, desc, unit)
		default:
			obs[i], err = m.Int64ObservableGauge(in.Name, desc, unit)
		}
		errs = append(errs, err)
		all[i] = obs[i]
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for i, in := range instruments {
			if v, ok := in.Read(); ok {
				o.ObserveInt64(obs[i], v)
			}
		}
		return nil
	}, all...)
}
