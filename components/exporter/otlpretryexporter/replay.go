package otlpretryexporter

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/deadletter"
)

func (e *otlpExporter) kickReplay() {
	select {
	case e.replayKick <- struct{}{}:
	default:
	}
}

// replayLoop replays the dead letter, oldest first, when kicked (start,
// recovery: placement.delivered) and every replay_interval while files
// remain; each pass skips the files still in their backoff
// (placement.replayPass).
// While the circuit is open it waits for open_duration to elapse and then
// makes the half-open probe itself with the oldest file: after an outage the
// dead letter is replayed even when no new data arrives to probe the backend.
func (e *otlpExporter) replayLoop() {
	defer e.wg.Done()
	ticker := time.NewTicker(e.replayInterval())
	defer ticker.Stop()
	probe := time.NewTimer(time.Hour)
	probe.Stop()
	defer probe.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-e.stopCh
		cancel()
	}()
	for {
		select {
		case <-e.stopCh:
			return
		case <-e.replayKick:
		case <-ticker.C:
		case <-probe.C:
		}
		if wait := e.breaker.Ready(); wait > 0 {
			// Open (or a probe in flight): come back when a probe may go.
			probe.Reset(wait)
			continue
		}
		if len(e.place.store.Oldest(e.signal, 1)) == 0 {
			continue
		}
		st, err := e.place.replayPass(ctx)
		if st.Files > 0 || st.Corrupt > 0 {
			e.logger.Info("dead letter replayed", zap.Int("files", st.Files), zap.Int("items", st.Items),
				zap.Int("corrupt_moved_aside", st.Corrupt), zap.Int("kept_backed_off", st.Kept), zap.Error(err))
		} else if err != nil {
			// Every replay_interval while the backend is down: counted in
			// failures, not worth a line each time.
			e.logger.Debug("dead letter replay stopped", zap.Error(err))
		}
	}
}

// replayOne sends a spooled batch down the chain from placement, once
// (r.replayed). The file is removed (nil) once the backend has the data,
// or once it refused it as invalid and the batch went to the quarantine
// (or was dropped, counted, without room there). A batch the backend finds
// too large is split and its halves replayed; the file stays until every
// piece is settled. A file that does not decode is moved aside
// (ErrCorrupt). Anything else, refused credentials included, keeps the
// file for the next replay.
func (e *otlpExporter) replayOne(ctx context.Context, ent deadletter.Entry, body []byte) error {
	r, err := requestFromBody(ent.Signal, body)
	if err != nil {
		e.tel.corruptFiles.Add(ctx, 1, e.tel.signal)
		e.warnOnce("corrupt", "dead letter file is not valid OTLP protobuf; moved aside into "+deadletter.CorruptDir+"/ (kept, not replayed)",
			zap.String("file", ent.Name), zap.Error(err))
		return fmt.Errorf("%w: %w", deadletter.ErrCorrupt, err)
	}
	r.replayed = true
	return e.place.Send(ctx, r)
}

// replayInterval is dead_letter::replay_interval with its default.
func (e *otlpExporter) replayInterval() time.Duration {
	if d := e.cfg.DeadLetter.ReplayInterval; d > 0 {
		return d
	}
	return defaultReplayInterval
}
