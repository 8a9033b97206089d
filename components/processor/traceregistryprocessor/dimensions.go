package traceregistryprocessor

import (
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// service interns name; the empty name stands for a missing service.name.
func (r *registry) service(name string) uint16 {
	if name == "" {
		name = unknownService
	}
	if i, ok := r.svcIndex[name]; ok {
		return i
	}
	if len(r.svcNames) >= maxServices {
		return svcOverflow
	}
	name = strings.Clone(name)
	i := uint16(len(r.svcNames))
	r.svcIndex[name] = i
	r.svcNames = append(r.svcNames, name)
	r.svcDim = append(r.svcDim, r.dimension(name))
	return i
}

func (r *registry) serviceName(i uint16) string {
	if i == svcOverflow {
		return otherValue
	}
	return r.svcNames[i]
}

func (r *registry) serviceDim(i uint16) uint16 {
	if i == svcOverflow {
		return 0
	}
	return r.svcDim[i]
}

// dimension returns the dimension for a new service name: its own value
// while fewer than max_dimension_values exist, else "other".
func (r *registry) dimension(name string) uint16 {
	if !r.dims {
		return 0
	}
	if d, ok := r.dimIndex[name]; ok {
		return d
	}
	if len(r.counts)-1 >= r.maxDims {
		return 0
	}
	d := uint16(len(r.counts))
	r.dimIndex[name] = d
	r.counts = append(r.counts, dimCounts{})
	r.dimOpts = append(r.dimOpts, dimOption(name))
	return d
}

func dimOption(value string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String(dimensionServiceName, value)))
}
