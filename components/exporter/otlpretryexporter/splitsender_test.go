package otlpretryexporter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
)

var errTooLarge = decide(actSplit, verdict{reason: reasonTooLarge}, errors.New("message larger than max"))

// tooLargeOver answers too_large for a request of more than n items.
func tooLargeOver(n int) func(*request) error {
	return func(r *request) error {
		if r.items > n {
			return errTooLarge
		}
		return nil
	}
}

func TestSplitSenderPassesOtherAnswersUp(t *testing.T) {
	quarantine := decide(actQuarantine, verdict{reason: reasonRejected}, errors.New("invalid"))
	for _, err := range []error{nil, decide(actRetry, verdict{reason: reasonRetryable}, errors.New("down"))} {
		top := answering(always(nil))
		s := &splitSender{next: answering(always(err)), top: top}
		assert.Equal(t, err, s.Send(context.Background(), tracesRequest(testTraces(4))))
		assert.Zero(t, top.calls(), "nothing re-enters the chain")
	}
	// A single item refused as invalid: nothing to isolate.
	top := answering(always(nil))
	s := &splitSender{next: answering(always(quarantine)), top: top}
	assert.Equal(t, quarantine, s.Send(context.Background(), tracesRequest(testTraces(1))))
	assert.Zero(t, top.calls())
}

// refusedOne is a backend that refuses as invalid any request holding the
// span named bad, and takes the rest.
func refusedOne(bad string) func(*request) error {
	return func(r *request) error {
		body, err := r.marshal()
		if err != nil {
			panic(err)
		}
		if strings.Contains(string(body), bad) {
			return decide(actQuarantine, verdict{reason: reasonRejected, why: "gRPC Internal"}, errors.New("string field contains invalid UTF-8"))
		}
		return nil
	}
}

// quarantined records what the split stage quarantines.
type quarantined struct{ got []*request }

func (q *quarantined) place(_ context.Context, r *request, v verdict, _ error) error {
	q.got = append(q.got, r)
	return nil
}

// chain is a split stage whose top is itself, as in the exporter (with
// placement in between passing a part's refusal back up unplaced).
func chain(backend func(*request) error) (*splitSender, *scripted, *quarantined) {
	next := answering(backend)
	q := &quarantined{}
	s := &splitSender{next: next, quarantine: q.place}
	s.top = senderFunc(func(ctx context.Context, r *request) error {
		err := s.Send(ctx, r)
		if act, _ := actionOf(err); act == actSettled {
			return cause(err) // as placement answers a settled batch
		}
		return err
	})
	return s, next, q
}

type senderFunc func(ctx context.Context, r *request) error

func (f senderFunc) Send(ctx context.Context, r *request) error { return f(ctx, r) }

// namedSpans is n spans named span-0...span-(n-1), one resource each.
func namedSpans(n int) *request {
	td := testTraces(n)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := 0; i < spans.Len(); i++ {
		spans.At(i).SetName(fmt.Sprintf("span-%03d", i))
	}
	return tracesRequest(td)
}

// TestSplitSenderIsolatesTheRefusedItem: one span of 16 refused as invalid:
// the other 15 are delivered, only that one is quarantined, at the cost of
// two attempts per level of the split.
func TestSplitSenderIsolatesTheRefusedItem(t *testing.T) {
	s, next, q := chain(refusedOne("span-011"))
	err := s.Send(context.Background(), namedSpans(16))
	require.NoError(t, cause(err))
	act, _ := actionOf(err)
	assert.Equal(t, actSettled, act)
	require.Len(t, q.got, 1)
	assert.Equal(t, 1, q.got[0].items)
	body, _ := q.got[0].marshal()
	assert.Contains(t, string(body), "span-011")
	delivered := 0
	for _, r := range next.sent {
		if refusedOne("span-011")(r) == nil {
			delivered += r.items
		}
	}
	assert.Equal(t, 15, delivered, "every other span delivered once")
	assert.Equal(t, 1+2*4, next.calls(), "the batch, then two halves at each of log2(16) levels")
}

// TestSplitSenderQuarantinesWhatIsRefusedWhole: when every item of a piece
// is refused (a bad resource shared by its spans), the piece is
// quarantined as one, not item by item; a batch refused whole goes up
// unplaced, for its holder (placement) to quarantine.
func TestSplitSenderQuarantinesWhatIsRefusedWhole(t *testing.T) {
	s, _, q := chain(refusedOne("span-00")) // span-000 ... span-009 of 16
	err := s.Send(context.Background(), namedSpans(16))
	require.NoError(t, cause(err))
	total := 0
	for _, r := range q.got {
		total += r.items
	}
	assert.Equal(t, 10, total, "exactly the refused spans")
	assert.Len(t, q.got, 2, "the refused 8 of the first half as one piece, and the refused 2 of the second")

	s, _, q = chain(refusedOne("span-"))
	err = s.Send(context.Background(), namedSpans(4))
	assert.True(t, refused(err), "all refused: the batch goes up as refused")
	assert.Empty(t, q.got)
}

// A replayed batch being isolated stops at a half that fails otherwise
// (the backend went down): the file stays whole, and nothing is
// quarantined yet, so the next replay quarantines it once.
func TestSplitSenderIsolateReplayStopsAtAFailedHalf(t *testing.T) {
	down := decide(actRetry, verdict{reason: reasonRetryable}, errors.New("down"))
	q := &quarantined{}
	top := answering(always(decide(actQuarantine, verdict{reason: reasonRejected}, errors.New("invalid"))), always(down))
	s := &splitSender{next: answering(refusedOne("span-000")), top: top, quarantine: q.place}
	r := namedSpans(4)
	r.replayed = true
	err := s.Send(context.Background(), r)
	require.Error(t, err)
	assert.False(t, refused(err))
	assert.ErrorContains(t, err, "down")
	assert.Empty(t, q.got, "nothing quarantined while the file stays")
	require.Equal(t, 2, top.calls())
	assert.True(t, top.sent[0].part && top.sent[0].replayed)
}

func TestSplitSenderHalvesThroughTheTop(t *testing.T) {
	top := answering(always(nil))
	s := &splitSender{next: answering(tooLargeOver(2)), top: top}
	err := s.Send(context.Background(), tracesRequest(testTraces(4)))
	require.NoError(t, cause(err))
	act, _ := actionOf(err)
	assert.Equal(t, actSettled, act)
	require.Equal(t, 2, top.calls())
	assert.Equal(t, 2, top.sent[0].items)
	assert.Equal(t, 2, top.sent[1].items)
	assert.True(t, top.sent[0].raw)
}

// A half kept at shutdown (retryable) and a half dropped (permanent): the
// batch answers retryable and no stage above acts on it again.
func TestSplitSenderSettlesWithTheJoinedVerdict(t *testing.T) {
	kept := errors.New("kept for the next start")
	top := answering(always(consumererror.NewPermanent(errors.New("dropped"))), always(kept))
	s := &splitSender{next: answering(tooLargeOver(2)), top: top}
	err := s.Send(context.Background(), tracesRequest(testTraces(4)))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	assert.ErrorIs(t, err, kept)
	act, _ := actionOf(err)
	assert.Equal(t, actSettled, act)
}

func TestSplitSenderQuarantinesASingleItemTooLarge(t *testing.T) {
	top := answering(always(nil))
	s := &splitSender{next: answering(tooLargeOver(0)), top: top}
	err := s.Send(context.Background(), tracesRequest(testTraces(1)))
	act, v := actionOf(err)
	assert.Equal(t, actQuarantine, act)
	assert.Equal(t, reasonTooLarge, v.reason)
	assert.Zero(t, top.calls())
}

// A replayed batch stops at the first half that fails: the file stays and
// is sent whole next time.
func TestSplitSenderReplayStopsAtFirstFailedHalf(t *testing.T) {
	down := errors.New("down")
	top := answering(always(down))
	s := &splitSender{next: answering(tooLargeOver(2)), top: top}
	r := tracesRequest(testTraces(4))
	r.replayed = true
	assert.ErrorIs(t, s.Send(context.Background(), r), down)
	require.Equal(t, 1, top.calls())
	assert.True(t, top.sent[0].replayed, "halves of a replayed batch are replayed")
}
