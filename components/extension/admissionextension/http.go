package admissionextension

import (
	"context"
	"io"
	"net/http"
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
			body := &meteredBody{ReadCloser: r.Body, a: a, ctx: r.Context()}
			r.Body = body
			// Held until the request is answered: the pipeline is
			// synchronous, so the decoded data lives until then.
			defer body.release()
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
	held    int64
	refused bool
}

func (b *meteredBody) Read(p []byte) (int, error) {
	if b.refused {
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
	return n, err
}

func (b *meteredBody) release() {
	b.a.budget.Give(b.held)
	b.held = 0
}
