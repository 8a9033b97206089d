package traceregistryprocessor

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

const (
	// nilIdx marks the end of a list.
	nilIdx = ^uint32(0)
	// maxServices bounds the interned service names held at once (with
	// labelBudget, their bytes); further names are shown as otherValue and
	// never allocate.
	maxServices = 4096
	// maxDimensionValuesLimit bounds max_dimension_values.
	maxDimensionValuesLimit = 1000
	// maxTracesLimit bounds max_traces and max_completed: their sum indexes
	// the record slab with uint32 (nilIdx reserved), and each unit costs
	// about 100 bytes preallocated, so the limit is about 1 GB each.
	maxTracesLimit = 10_000_000
	// svcOverflow is the service index of names beyond maxServices.
	svcOverflow = uint16(math.MaxUint16)
	// svcSlots is how many distinct services a trace record remembers.
	svcSlots = 4

	otherValue     = "other"
	unknownService = "unknown_service"
)

const (
	flagRoot          uint8 = 1 << iota // a span without parent was seen
	flagError                           // a span had status Error
	flagDone                            // completed: the record is in the completed list
	flagFailedCounted                   // counted as failed
	flagMoreServices                    // more than svcSlots services were seen
)

// record is what the registry keeps per trace: 72 bytes, plus its map entry.
type record struct {
	id    pcommon.TraceID
	first int64 // arrival of the first span (unix ns)
	last  int64 // arrival of the latest span (unix ns)
	start int64 // earliest span start (unix ns), 0 when unknown
	end   int64 // latest span end (unix ns)
	spans uint32
	prev  uint32
	next  uint32
	svc   [svcSlots]uint16 // distinct services, the root's (or first) in slot 0; 0 is empty
	dim   uint16           // dimension of every series of the trace: its first span's service, fixed
	flags uint8
}

// dimCounts are the registry's counters for one dimension value.
type dimCounts struct {
	created, active, completed, failed, evicted int64
}

// finished is a trace completed by a sweep, for the histograms.
type finished struct {
	dim      uint16
	spans    uint32
	duration float64
}

// transition is a health change decided under the lock and reported after.
type transition int8

const (
	noChange transition = iota
	toDegraded
	toRecovered
)

// registry is the bounded set of traces. Every method locks mu briefly; no
// method calls out of the package while holding it.
type registry struct {
	mu  sync.Mutex
	now func() time.Time

	index  map[pcommon.TraceID]uint32
	recs   []record
	free   uint32 // free list, linked through next
	active list   // by last update, least recent at head
	done   list   // by completion, oldest at head

	maxActive    int
	maxDone      int
	idle         int64
	ttl          int64
	degradeAt    int // degraded when active >= degradeAt
	recoverBelow int // recovered when active < recoverBelow
	degraded     bool
	degradedFlag atomic.Bool // mirrors degraded, for reads without mu

	svcIndex map[string]uint16 // service name -> index (1-based)
	svcNames []string          // index -> name; [0] and released indexes are ""
	svcDim   []uint16          // index -> dimension
	svcRefs  []uint32          // index -> record slots naming it
	svcFree  []uint16          // released indexes, reused first
	svcLive  int               // names interned now
	svcBytes int               // their cost against labelBudget

	dims     bool
	maxDims  int
	dimIndex map[string]uint16
	counts   []dimCounts // per dimension
	// dimOpts holds each dimension's attribute set, built once; elements
	// never change, so a slice header taken under mu may be read after.
	dimOpts []metric.MeasurementOption
}

func newRegistry(cfg *Config, now func() time.Time) *registry {
	maxDone := cfg.MaxCompleted
	if cfg.CompletedTTL <= 0 {
		maxDone = 0
	}
	n := cfg.MaxTraces + maxDone
	r := &registry{
		now:          now,
		index:        make(map[pcommon.TraceID]uint32, n),
		recs:         make([]record, n),
		active:       list{head: nilIdx, tail: nilIdx},
		done:         list{head: nilIdx, tail: nilIdx},
		maxActive:    cfg.MaxTraces,
		maxDone:      maxDone,
		idle:         int64(cfg.IdleTimeout),
		ttl:          int64(cfg.CompletedTTL),
		degradeAt:    int(math.Ceil(cfg.DegradedRatio * float64(cfg.MaxTraces))),
		recoverBelow: int(math.Ceil(cfg.RecoveryRatio * float64(cfg.MaxTraces))),
		svcIndex:     map[string]uint16{},
		svcNames:     []string{""},
		svcDim:       []uint16{0},
		svcRefs:      []uint32{0},
		dims:         len(cfg.Dimensions) > 0,
		maxDims:      cfg.MaxDimensionValues,
		dimIndex:     map[string]uint16{},
	}
	if r.degradeAt < 1 {
		r.degradeAt = 1
	}
	for i := range r.recs {
		r.recs[i].next = uint32(i + 1)
	}
	r.free = 0
	if n == 0 {
		r.free = nilIdx
	} else {
		r.recs[n-1].next = nilIdx
	}
	// Dimension 0 is "other" (or the only, unlabelled one).
	r.counts = make([]dimCounts, 1, 1+r.maxDims)
	if r.dims {
		r.dimIndex[otherValue] = 0
		r.dimOpts = []metric.MeasurementOption{dimOption(otherValue)}
	} else {
		r.dimOpts = []metric.MeasurementOption{metric.WithAttributeSet(attribute.NewSet())}
	}
	return r
}

// --- the hot path ---

// spanObs is what the registry needs of a run of n adjacent spans of one
// trace, copied out of the pdata before the next consumer is called, so
// that the registry changes only once that consumer accepted the data.
type spanObs struct {
	id    pcommon.TraceID
	n     uint32 // spans in the run
	start int64  // earliest span start (unix ns), 0 when unknown
	end   int64  // latest span end (unix ns)
	root  bool   // one of them has no parent
	err   bool   // one of them has status Error
}

// observe records spans, all of one resource, whose service.name is
// svcName. It reports a health transition, if any.
func (r *registry) observe(svcName string, spans []spanObs) transition {
	r.mu.Lock()
	now := r.now().UnixNano()
	svc := r.service(svcName)
	// Held while the spans are applied: an eviction on the way must not
	// release the name they are about to use. A name no span kept goes.
	r.ref(svc)
	for k := range spans {
		r.observeSpan(&spans[k], svc, now)
	}
	r.unref(svc)
	t := r.checkHealth()
	r.mu.Unlock()
	return t
}

func (r *registry) observeSpan(span *spanObs, svc uint16, now int64) {
	i, ok := r.index[span.id]
	var rec *record
	switch {
	case !ok:
		i = r.insert(span.id, svc, now)
		if i == nilIdx {
			return
		}
		rec = &r.recs[i]
	default:
		rec = &r.recs[i]
		// A late span of a completed trace updates it where it is: the
		// trace stays completed (counted once) and is remembered for
		// completed_ttl from now.
		l := &r.active
		if rec.flags&flagDone != 0 {
			l = &r.done
		}
		if l.tail != i {
			r.unlink(l, i)
			r.pushBack(l, i)
		}
	}
	rec.last = now
	rec.spans += min(span.n, math.MaxUint32-rec.spans) // saturates
	if st := span.start; st > 0 && (rec.start == 0 || st < rec.start) {
		rec.start = st
	}
	if span.end > rec.end {
		rec.end = span.end
	}
	if span.err {
		rec.flags |= flagError
		if rec.flags&(flagDone|flagFailedCounted) == flagDone {
			rec.flags |= flagFailedCounted
			r.counts[rec.dim].failed++
		}
	}
	if svc != rec.svc[0] || (span.root && rec.flags&flagRoot == 0) {
		r.addService(rec, svc, span.root)
	}
}

// addService notes svc among the trace's services; a root span's service
// moves to slot 0 (for the lookup; the trace's dimension does not change).
// Every slot it fills holds a reference to the name.
func (r *registry) addService(rec *record, svc uint16, root bool) {
	pos := -1
	for s, v := range rec.svc {
		if v == svc {
			pos = s
			break
		}
		if v == 0 {
			rec.svc[s] = svc
			r.ref(svc)
			pos = s
			break
		}
	}
	if pos < 0 {
		rec.flags |= flagMoreServices
		if !root {
			return
		}
		pos = svcSlots - 1
		r.unref(rec.svc[pos])
		rec.svc[pos] = svc
		r.ref(svc)
	}
	if !root || rec.flags&flagRoot != 0 {
		return
	}
	rec.flags |= flagRoot
	rec.svc[0], rec.svc[pos] = rec.svc[pos], rec.svc[0]
}

// insert makes a record for a new trace, evicting the least recently updated
// active trace when the registry is full.
func (r *registry) insert(id pcommon.TraceID, svc uint16, now int64) uint32 {
	if r.active.n >= r.maxActive {
		r.evictOldest()
	}
	i := r.free
	if i == nilIdx {
		// Cannot happen: the slab holds max_traces + max_completed records.
		return nilIdx
	}
	r.free = r.recs[i].next
	d := r.serviceDim(svc)
	r.recs[i] = record{id: id, first: now, dim: d}
	r.recs[i].svc[0] = svc
	r.ref(svc)
	r.index[id] = i
	r.pushBack(&r.active, i)
	r.counts[d].created++
	r.counts[d].active++
	return i
}

func (r *registry) evictOldest() {
	i := r.active.head
	rec := &r.recs[i]
	r.unlink(&r.active, i)
	c := &r.counts[rec.dim]
	c.active--
	c.evicted++
	r.release(i)
}

// complete moves an active record, already unlinked, to completed: counted
// completed (and failed) once, then remembered or released.
func (r *registry) complete(i uint32, out *[]finished) {
	rec := &r.recs[i]
	c := &r.counts[rec.dim]
	c.active--
	c.completed++
	*out = append(*out, finished{dim: rec.dim, spans: rec.spans, duration: rec.duration()})
	if rec.flags&flagError != 0 {
		rec.flags |= flagFailedCounted
		c.failed++
	}
	if r.maxDone == 0 {
		r.release(i)
		return
	}
	if r.done.n >= r.maxDone {
		old := r.done.head
		r.unlink(&r.done, old)
		r.release(old)
	}
	rec.flags |= flagDone
	r.pushBack(&r.done, i)
}

func (rec *record) duration() float64 {
	if rec.start == 0 || rec.end < rec.start {
		return 0
	}
	return float64(rec.end-rec.start) / 1e9
}

// checkHealth decides a degraded/recovered transition (lock held).
func (r *registry) checkHealth() transition {
	n := r.active.n
	switch {
	case !r.degraded && n >= r.degradeAt:
		r.degraded = true
		r.degradedFlag.Store(true)
		return toDegraded
	case r.degraded && n < r.recoverBelow:
		r.degraded = false
		r.degradedFlag.Store(false)
		return toRecovered
	}
	return noChange
}

// sweep completes at most limit traces idle for idle_timeout and forgets at
// most limit completed traces older than completed_ttl, in one lock hold,
// so that a burst of idle traces never holds up the hot path for long. It
// appends completed traces to out and reports whether work is left.
func (r *registry) sweep(out []finished, limit int) ([]finished, []metric.MeasurementOption, transition, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now().UnixNano()
	n := 0
	for ; n < limit && r.active.head != nilIdx; n++ {
		i := r.active.head
		if now-r.recs[i].last < r.idle {
			break
		}
		r.unlink(&r.active, i)
		r.complete(i, &out)
	}
	more := n == limit
	n = 0
	for ; n < limit && r.done.head != nilIdx; n++ {
		i := r.done.head
		if now-r.recs[i].last < r.idle+r.ttl {
			break
		}
		r.unlink(&r.done, i)
		r.release(i)
	}
	more = more || n == limit
	return out, r.dimOpts, r.checkHealth(), more
}
