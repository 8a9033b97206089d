package otlptraffic

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TestSinkFailureRate: SetFailureRate refuses about its share of exports
// and accepts the rest; SetFailure refuses all; nil accepts all again.
func TestSinkFailureRate(t *testing.T) {
	s := NewSink()
	flaky := errors.New("flaky")
	refused := func() int {
		n := 0
		for range 400 {
			if err := s.consumeTraces(context.Background(), ptrace.NewTraces()); err != nil {
				assert.ErrorIs(t, err, flaky)
				n++
			}
		}
		return n
	}
	s.SetFailureRate(flaky, 500)
	// Binomial(400, 0.5): mean 200, standard deviation 10; 100..300 is ten
	// deviations either way.
	n := refused()
	assert.True(t, n > 100 && n < 300, "refused %d of 400 at 500 per mille", n)
	s.SetFailure(flaky)
	assert.Equal(t, 400, refused())
	s.SetFailure(nil)
	assert.Zero(t, refused())
	s.SetFailureRate(flaky, 0)
	assert.Zero(t, refused())
}

func TestSpans(t *testing.T) {
	td := ptrace.NewTraces()
	n := 0
	for range 2 {
		rs := td.ResourceSpans().AppendEmpty()
		for range 2 {
			ss := rs.ScopeSpans().AppendEmpty()
			for range 3 {
				n++
				ss.Spans().AppendEmpty().SetName(fmt.Sprint(n))
			}
		}
	}
	var names []string
	for sp := range Spans(td) {
		names = append(names, sp.Name())
	}
	assert.Equal(t, []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"}, names)
	for sp := range Spans(td) {
		assert.Equal(t, "1", sp.Name(), "a break ends the walk")
		break
	}
}
