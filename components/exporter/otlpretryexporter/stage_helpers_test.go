package otlpretryexporter

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/metadata"
)

// scripted is a stage that answers from a script, one answer a call (the
// last one repeats), and records what it was sent.
type scripted struct {
	mu      sync.Mutex
	answers []func(r *request) error
	sent    []*request
}

func answering(answers ...func(r *request) error) *scripted { return &scripted{answers: answers} }

func always(err error) func(*request) error { return func(*request) error { return err } }

func (s *scripted) Send(_ context.Context, r *request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, r)
	a := s.answers[0]
	if len(s.answers) > 1 {
		s.answers = s.answers[1:]
	}
	return a(r)
}

func (s *scripted) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

// stageExporter is an unstarted exporter whose stages are tested one at a
// time: its sleeps are recorded and return at once, and its clock moves
// only by those sleeps.
type stageExporter struct {
	*otlpExporter
	te     *testExporter // for counter()
	clock  time.Time
	sleeps []time.Duration
}

func newStageExporter(t *testing.T, cfg *Config) *stageExporter {
	t.Helper()
	tt := componenttest.NewTelemetry()
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tt.NewTelemetrySettings()
	e, err := newExporter(cfg, set, "traces")
	require.NoError(t, err)
	se := &stageExporter{otlpExporter: e, te: &testExporter{tel: tt}, clock: time.Unix(1_000_000, 0)}
	e.now = func() time.Time { return se.clock }
	e.sleep = func(ctx context.Context, d time.Duration, _ <-chan struct{}) bool {
		se.sleeps = append(se.sleeps, d)
		se.clock = se.clock.Add(d)
		return ctx.Err() == nil && !e.stopping()
	}
	t.Cleanup(func() {
		e.tel.shutdown()
		require.NoError(t, tt.Shutdown(context.Background()))
	})
	return se
}
