package status

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/pipeline"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var (
	traces  = pipeline.NewID(pipeline.SignalTraces)
	metrics = pipeline.NewID(pipeline.SignalMetrics)
	recv    = componentstatus.NewInstanceID(component.MustNewID("otlp"), component.KindReceiver, traces, metrics)
	exp     = componentstatus.NewInstanceID(component.MustNewID("otlp_retry"), component.KindExporter, traces)
	ext     = componentstatus.NewInstanceID(component.MustNewID("health"), component.KindExtension)
)

func ev(s componentstatus.Status) *componentstatus.Event { return componentstatus.NewEvent(s) }

func newTest(recovery time.Duration) (*Aggregator, *clock) {
	c := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	return NewAggregator(c.now, recovery), c
}

func TestEmpty(t *testing.T) {
	a, _ := newTest(time.Minute)
	s := a.Snapshot()
	assert.Equal(t, None, s.Status)
	assert.Empty(t, s.Pipelines)
	assert.Empty(t, s.Extensions)
	a.Record(nil, ev(componentstatus.StatusOK))
	a.Record(exp, nil)
	assert.Empty(t, a.Snapshot().Components)
}

func TestLifecycleAndGrouping(t *testing.T) {
	a, c := newTest(time.Minute)
	t0 := c.now()
	for _, id := range []*componentstatus.InstanceID{recv, exp, ext} {
		a.Record(id, ev(componentstatus.StatusStarting))
	}
	s := a.Snapshot()
	assert.Equal(t, Starting, s.Status)
	require.Contains(t, s.Pipelines, "traces")
	require.Contains(t, s.Pipelines, "metrics")
	assert.Len(t, s.Pipelines["traces"].Components, 2)
	assert.Len(t, s.Pipelines["metrics"].Components, 1, "the receiver is in both pipelines")
	assert.Contains(t, s.Extensions, "extension:health")

	c.add(time.Second)
	a.Record(recv, ev(componentstatus.StatusOK))
	s = a.Snapshot()
	assert.Equal(t, OK, s.Pipelines["metrics"].Status)
	assert.Equal(t, Starting, s.Pipelines["traces"].Status, "one component still starting")
	assert.Equal(t, Starting, s.Status)

	a.Record(exp, ev(componentstatus.StatusOK))
	a.Record(ext, ev(componentstatus.StatusOK))
	s = a.Snapshot()
	assert.Equal(t, OK, s.Status)
	assert.Equal(t, t0.Add(time.Second), s.Since)
	assert.Equal(t, "ok", s.Components["exporter:otlp_retry"].Reported)

	// Repeated OK reports do not move "since".
	c.add(time.Second)
	a.Record(exp, ev(componentstatus.StatusOK))
	assert.Equal(t, t0.Add(time.Second), a.Snapshot().Components["exporter:otlp_retry"].Since)

	a.Record(exp, ev(componentstatus.StatusStopping))
	assert.Equal(t, Stopping, a.Snapshot().Status)
	for _, id := range []*componentstatus.InstanceID{recv, exp, ext} {
		a.Record(id, ev(componentstatus.StatusStopped))
	}
	assert.Equal(t, Stopped, a.Snapshot().Status)
}

func TestDegradedRecoveredWithHysteresis(t *testing.T) {
	a, c := newTest(time.Minute)
	a.Record(recv, ev(componentstatus.StatusOK))
	a.Record(exp, ev(componentstatus.StatusOK))

	c.add(time.Second)
	tErr := c.now()
	a.Record(exp, componentstatus.NewRecoverableErrorEvent(errors.New("backend unavailable")))
	s := a.Snapshot()
	e := s.Components["exporter:otlp_retry"]
	assert.Equal(t, Degraded, e.Status)
	assert.Equal(t, "recoverable_error", e.Reported)
	assert.Equal(t, "backend unavailable", e.LastError)
	assert.Equal(t, tErr, *e.ErrorSince)
	assert.Equal(t, Degraded, s.Pipelines["traces"].Status)
	assert.Equal(t, OK, s.Pipelines["metrics"].Status)
	assert.Equal(t, Degraded, s.Status)

	// Flapping faster than the recovery duration: shown degraded throughout,
	// and the error stretch keeps its start.
	for range 5 {
		c.add(10 * time.Second)
		a.Record(exp, ev(componentstatus.StatusOK))
		e = a.Snapshot().Components["exporter:otlp_retry"]
		assert.Equal(t, Degraded, e.Status, "recovering, not OK yet")
		assert.Equal(t, tErr, e.Since)
		c.add(10 * time.Second)
		a.Record(exp, componentstatus.NewRecoverableErrorEvent(errors.New("again")))
		e = a.Snapshot().Components["exporter:otlp_retry"]
		assert.Equal(t, Degraded, e.Status)
		assert.Equal(t, tErr, *e.ErrorSince)
	}
	assert.Equal(t, 100*time.Second, a.Snapshot().Components["exporter:otlp_retry"].FailingFor)

	// Recovery: OK for the whole recovery duration.
	c.add(time.Second)
	tOK := c.now()
	a.Record(exp, ev(componentstatus.StatusOK))
	c.add(59 * time.Second)
	assert.Equal(t, Degraded, a.Snapshot().Components["exporter:otlp_retry"].Status)
	c.add(time.Second)
	s = a.Snapshot()
	e = s.Components["exporter:otlp_retry"]
	assert.Equal(t, OK, e.Status)
	assert.Equal(t, tOK.Add(time.Minute), e.Since)
	assert.Nil(t, e.ErrorSince)
	assert.Zero(t, e.FailingFor)
	assert.Equal(t, "again", e.LastError, "the last error is kept after recovery")
	assert.Equal(t, OK, s.Status)

	// A new error after recovery starts a new stretch.
	c.add(time.Second)
	a.Record(exp, componentstatus.NewRecoverableErrorEvent(errors.New("new")))
	e = a.Snapshot().Components["exporter:otlp_retry"]
	assert.Equal(t, c.now(), *e.ErrorSince)
	assert.Zero(t, e.FailingFor)
}

func TestNoHysteresis(t *testing.T) {
	a, _ := newTest(0)
	a.Record(exp, componentstatus.NewRecoverableErrorEvent(errors.New("x")))
	a.Record(exp, ev(componentstatus.StatusOK))
	assert.Equal(t, OK, a.Snapshot().Components["exporter:otlp_retry"].Status)
}

func TestPermanentAndFatal(t *testing.T) {
	a, _ := newTest(time.Minute)
	a.Record(recv, ev(componentstatus.StatusOK))
	a.Record(exp, componentstatus.NewPermanentErrorEvent(errors.New("bad credentials")))
	s := a.Snapshot()
	assert.Equal(t, PermanentError, s.Components["exporter:otlp_retry"].Status)
	assert.Equal(t, PermanentError, s.Status)
	a.Record(recv, componentstatus.NewFatalErrorEvent(errors.New("port taken")))
	s = a.Snapshot()
	assert.Equal(t, FatalError, s.Status)
	assert.Equal(t, "port taken", s.Components["receiver:otlp"].LastError)
}

func TestAggregatePriority(t *testing.T) {
	tm := time.Unix(100, 0)
	at := func(st string, sec int64) Component {
		return Component{Status: st, Since: tm.Add(time.Duration(sec) * time.Second)}
	}
	for _, tc := range []struct {
		in   []Component
		want string
		at   int64
	}{
		{[]Component{at(OK, 1), at(OK, 3)}, OK, 3},
		{[]Component{at(OK, 1), at(Degraded, 5), at(Degraded, 2)}, Degraded, 2},
		{[]Component{at(Degraded, 1), at(PermanentError, 4)}, PermanentError, 4},
		{[]Component{at(PermanentError, 1), at(Starting, 2)}, Starting, 2},
		{[]Component{at(FatalError, 7), at(Starting, 2)}, FatalError, 7},
		{[]Component{at(Stopped, 3), at(OK, 2)}, Stopping, 3},
		{[]Component{at(None, 3), at(OK, 2)}, OK, 2},
	} {
		st, since := aggregate(tc.in)
		assert.Equal(t, tc.want, st)
		assert.Equal(t, tm.Add(time.Duration(tc.at)*time.Second), since, tc.want)
	}
}

func TestConcurrentRecord(t *testing.T) {
	a, _ := newTest(time.Minute)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				if (i+j)%2 == 0 {
					a.Record(exp, ev(componentstatus.StatusOK))
				} else {
					a.Record(exp, componentstatus.NewRecoverableErrorEvent(errors.New("x")))
				}
				_ = a.Snapshot()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, Degraded, a.Snapshot().Components["exporter:otlp_retry"].Status)
}
