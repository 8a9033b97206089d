package traceregistryprocessor

import (
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The bytes the registry keeps of service names are bounded, not only
// their count: an outside party chooses them (a 16 MiB request may carry a
// 16 MiB service.name), and what is kept is kept past the request.
const (
	// maxLabelBytes is the longest service.name the registry keeps, for the
	// lookup and as a label value: longer names are cut on a UTF-8 boundary,
	// as upstream's AttributeValueLengthLimit cuts attribute values.
	maxLabelBytes = 256
	// internOverhead is what one interned name costs beyond its bytes:
	// its index map entry, its slots in the per-index slices, its header.
	internOverhead = 64
	// labelBudget bounds the bytes of interned service names, each charged
	// len(name) + internOverhead. Names are released when no remembered
	// trace uses them; past the budget a new name is shown as otherValue.
	labelBudget = 1 << 20
)

// clampLabel returns name as the registry keeps it: invalid UTF-8 replaced
// (it would make the Prometheus exposition fail), cut to maxLabelBytes on
// a rune boundary. It allocates only for invalid UTF-8.
func clampLabel(name string) string {
	if len(name) > maxLabelBytes+utf8.UTFMax {
		// Cut before the validity check, so that a huge invalid name is
		// not copied whole.
		name = name[:maxLabelBytes+utf8.UTFMax]
	}
	if !utf8.ValidString(name) {
		name = strings.ToValidUTF8(name, string(utf8.RuneError))
	}
	if len(name) <= maxLabelBytes {
		return name
	}
	cut := maxLabelBytes
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut]
}

// internCost is what name is charged against labelBudget.
func internCost(name string) int { return len(name) + internOverhead }

// service interns name and returns its index; the empty name stands for a
// missing service.name. The caller holds a reference (ref) while it uses
// the index, and the name is released with the last reference (unref).
func (r *registry) service(name string) uint16 {
	if name == "" {
		name = unknownService
	}
	name = clampLabel(name)
	if i, ok := r.svcIndex[name]; ok {
		return i
	}
	if r.svcLive >= maxServices || r.svcBytes+internCost(name) > labelBudget {
		return svcOverflow
	}
	name = strings.Clone(name)
	var i uint16
	if n := len(r.svcFree); n > 0 {
		i = r.svcFree[n-1]
		r.svcFree = r.svcFree[:n-1]
		r.svcNames[i], r.svcDim[i], r.svcRefs[i] = name, r.dimension(name), 0
	} else {
		i = uint16(len(r.svcNames))
		r.svcNames = append(r.svcNames, name)
		r.svcDim = append(r.svcDim, r.dimension(name))
		r.svcRefs = append(r.svcRefs, 0)
	}
	r.svcIndex[name] = i
	r.svcLive++
	r.svcBytes += internCost(name)
	return i
}

// ref notes one more record slot naming service i.
func (r *registry) ref(i uint16) {
	if i != 0 && i != svcOverflow {
		r.svcRefs[i]++
	}
}

// unref notes one record slot less naming service i, and releases the name
// once no record names it.
func (r *registry) unref(i uint16) {
	if i == 0 || i == svcOverflow {
		return
	}
	r.svcRefs[i]--
	r.releaseIfUnused(i)
}

// releaseIfUnused forgets service i when no record names it: its bytes go
// back to the budget and its index to the free list. Its dimension, if
// any, stays: a label value's counters must not go back.
func (r *registry) releaseIfUnused(i uint16) {
	if i == 0 || i == svcOverflow || r.svcRefs[i] != 0 || r.svcNames[i] == "" {
		return
	}
	name := r.svcNames[i]
	delete(r.svcIndex, name)
	r.svcBytes -= internCost(name)
	r.svcLive--
	r.svcNames[i], r.svcDim[i] = "", 0
	r.svcFree = append(r.svcFree, i)
}

// unrefRecord drops the references of every service slot of rec.
func (r *registry) unrefRecord(rec *record) {
	for _, s := range rec.svc {
		r.unref(s)
	}
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

// dimension returns the dimension for a new service name (already clamped):
// its own value while fewer than max_dimension_values exist, else "other".
// Dimension values are kept for the life of the processor, since their
// counters must never go back; they take at most max_dimension_values x
// (maxLabelBytes + their attribute set).
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
