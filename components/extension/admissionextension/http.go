package admissionextension

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// readChunk is the most a body read takes from the budget at once, so a
// large read buffer does not reserve far more than arrives.
const readChunk = 1 << 20

// GetHTTPHandler wraps the receiver's handler so that its body takes bytes
// from the budget as they are read. confighttp puts middlewares inside its
// decompressor, so what is counted is the decompressed body, before the
// receiver reads it into memory and decodes it.
func (a *admission) GetHTTPHandler(context.Context) (func(context.Context, http.Handler) (http.Handler, error), error) {
	return func(_ context.Context, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body := &meteredBody{ReadCloser: r.Body, a: a, ctx: r.Context(), rc: http.NewResponseController(w)}
			r.Body = body
			// Held until the request is answered: the pipeline is
			// synchronous, so the decoded data lives until then.
			defer body.release()
			if !a.track(body) {
				// Past the shutdown cut-off: refused before reading.
				body.cut.Store(true)
			}
			next.ServeHTTP(w, r)
		}), nil
	}, nil
}

// meteredBody is a request body that takes each chunk from the budget
// before reading it. When a chunk does not fit, the read fails with the
// retryable refusal, which the OTLP receiver answers as 503 with
// Retry-After (it derives the status from the error's gRPC code).
type meteredBody struct {
	io.ReadCloser
	a       *admission
	ctx     context.Context
	rc      *http.ResponseController
	held    int64
	refused bool
	// read: the body has been read to its end (or failed); the request
	// is past arriving and the cut-off leaves it alone.
	read atomic.Bool
	// cut: the shutdown cut-off ended this body; reads fail retryably.
	cut atomic.Bool
}

// track registers a request whose body is arriving, unless the cut-off
// already happened.
func (a *admission) track(b *meteredBody) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cut {
		return false
	}
	a.requests[b] = struct{}{}
	return true
}

// cutOff ends a body still arriving: a read deadline in the past fails
// the read blocked on the connection (whichever goroutine), and Read turns
// that into the retryable refusal; the server then closes the connection,
// whose body was never read to its end. Called with the admission's lock
// held, so the request is still being served (release takes the lock
// before the handler returns). It reports whether the body was cut.
func (b *meteredBody) cutOff() bool {
	if b.read.Load() {
		return false
	}
	b.cut.Store(true)
	// Not every ResponseWriter can (an error then): the body is cut at
	// its next read anyway.
	_ = b.rc.SetReadDeadline(time.Now())
	return true
}

func (b *meteredBody) Read(p []byte) (int, error) {
	if b.refused || b.cut.Load() {
		return 0, b.a.refusal
	}
	if len(p) == 0 {
		return b.ReadCloser.Read(p)
	}
	want := int64(min(len(p), readChunk))
	if !b.a.budget.TryTake(want) {
		b.refused = true
		b.a.tel.refused.Add(b.ctx, 1, transportHTTP)
		return 0, b.a.refusal
	}
	n, err := b.ReadCloser.Read(p[:want])
	b.held += int64(n)
	b.a.budget.Give(want - int64(n))
	if err != nil && b.cut.Load() {
		// The read failed because the shutdown cut it off: the client
		// is told to retry (elsewhere), not that its request was bad.
		return n, b.a.refusal
	}
	if err != nil {
		b.read.Store(true)
	}
	return n, err
}

func (b *meteredBody) release() {
	b.a.mu.Lock()
	delete(b.a.requests, b)
	b.a.mu.Unlock()
	b.a.budget.Give(b.held)
	b.held = 0
}
