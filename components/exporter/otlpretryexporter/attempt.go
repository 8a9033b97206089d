package otlpretryexporter

import (
	"context"
)

// attemptSender is the last stage: one attempt of r over the transport
// under the per-attempt timeout, and its bookkeeping (settle). A failure
// goes up as an answer carrying the verdict's action.
type attemptSender struct {
	e *otlpExporter
}

func (s *attemptSender) Send(ctx context.Context, r *request) error {
	e := s.e
	e.tel.attempts.Add(ctx, 1, e.tel.signal)
	actx := ctx
	if e.cfg.TimeoutConfig.Timeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, e.cfg.TimeoutConfig.Timeout)
		defer cancel()
	}
	p, err := e.transport.export(actx, r)
	if err != nil && r.replayed && ctx.Err() != nil {
		// Shutting down a replay: the attempt says nothing about the
		// backend, and the file stays for the next start.
		e.breaker.Release()
		return err
	}
	v := e.settle(ctx, r, p, err)
	if err == nil {
		return nil
	}
	return decide(v.action(), v, err)
}
