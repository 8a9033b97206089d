package otlpretryexporter

import (
	"context"
	"errors"

	"go.uber.org/zap"
)

// giveUp spools r to the dead letter when one is configured (returning nil:
// the data is safe on disk) and otherwise drops it, counted, returning err.
func (e *otlpExporter) giveUp(ctx context.Context, r *request, err error) error {
	if v := classify(err); r.records != nil && (v.reason != reasonPermanent || v.auth) {
		return e.giveUpLogged(ctx, r, err)
	}
	if e.store == nil {
		e.tel.droppedItems.Add(ctx, int64(r.items), e.tel.dropNoDeadLetter)
		e.logger.Warn("giving up on batch; dropped (no dead_letter::directory configured)", zap.Int("items", r.items), zap.Error(err))
		return err
	}
	if serr := e.spool(ctx, r); serr != nil {
		e.tel.droppedItems.Add(ctx, int64(r.items), e.tel.dropNoDeadLetter)
		e.logger.Error("giving up on batch; dead letter write failed, dropped", zap.Int("items", r.items), zap.Error(errors.Join(err, serr)))
		return errors.Join(err, serr)
	}
	e.logger.Warn("giving up on batch; written to the dead letter", zap.Int("items", r.items), zap.Error(err))
	return nil
}

func (e *otlpExporter) spool(ctx context.Context, r *request) error {
	body, err := r.marshal()
	if err != nil {
		return err
	}
	evicted, err := e.store.Write(r.signal, r.items, body)
	for _, old := range evicted {
		e.tel.droppedItems.Add(ctx, int64(old.Items), e.tel.dropEvicted)
	}
	if len(evicted) > 0 {
		e.logger.Warn("dead letter full: removed the oldest files", zap.Int("files", len(evicted)))
	}
	if err != nil {
		return err
	}
	e.tel.deadLetterItems.Add(ctx, int64(r.items), e.tel.signal)
	e.tel.deadLetterBytes.Add(ctx, int64(len(body)), e.tel.signal)
	return nil
}
