package otlpretryexporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// funcTransport answers each attempt with export.
type funcTransport func(ctx context.Context, r *request) (partial, error)

func (f funcTransport) export(ctx context.Context, r *request) (partial, error) { return f(ctx, r) }
func (funcTransport) close() error                                              { return nil }

func TestAttemptSenderAnswersWithTheVerdictsAction(t *testing.T) {
	for code, want := range map[codes.Code]action{
		codes.Unavailable:      actRetry,
		codes.Unauthenticated:  actSpool,
		codes.NotFound:         actSpool,
		codes.InvalidArgument:  actQuarantine,
		codes.DeadlineExceeded: actRetry,
	} {
		e := newStageExporter(t, fastConfig("127.0.0.1:1"))
		e.transport = funcTransport(func(context.Context, *request) (partial, error) {
			return partial{}, status.Error(code, "no")
		})
		err := (&attemptSender{e: e.otlpExporter}).Send(context.Background(), tracesRequest(testTraces(1)))
		act, v := actionOf(err)
		assert.Equal(t, want, act, code.String())
		assert.Equal(t, code, status.Code(err), "the backend's answer is kept")
		assert.EqualValues(t, 1, e.te.counter(t, "otelcol_otlp_retry_failures", "reason", v.reason))
	}
}

func TestAttemptSenderDeliversAndCounts(t *testing.T) {
	e := newStageExporter(t, fastConfig("127.0.0.1:1"))
	e.transport = funcTransport(func(context.Context, *request) (partial, error) { return partial{rejected: 1}, nil })
	require.NoError(t, (&attemptSender{e: e.otlpExporter}).Send(context.Background(), tracesRequest(testTraces(3))))
	assert.EqualValues(t, 1, e.te.counter(t, "otelcol_otlp_retry_attempts"))
	assert.EqualValues(t, 2, e.te.counter(t, "otelcol_otlp_retry_sent_items"))
	assert.EqualValues(t, 1, e.te.counter(t, "otelcol_otlp_retry_rejected_items"))
}

func TestAttemptSenderAppliesThePerAttemptTimeout(t *testing.T) {
	cfg := fastConfig("127.0.0.1:1")
	cfg.TimeoutConfig.Timeout = 3 * time.Second
	e := newStageExporter(t, cfg)
	var left time.Duration
	e.transport = funcTransport(func(ctx context.Context, _ *request) (partial, error) {
		d, ok := ctx.Deadline()
		require.True(t, ok)
		left = time.Until(d)
		return partial{}, nil
	})
	require.NoError(t, (&attemptSender{e: e.otlpExporter}).Send(context.Background(), tracesRequest(testTraces(1))))
	assert.InDelta(t, 3*time.Second, left, float64(time.Second))
}
