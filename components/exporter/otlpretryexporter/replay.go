package otlpretryexporter

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter"
	"go.uber.org/zap"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/circuitbreaker"
	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/deadletter"
)

// ReplayStats says what Replay sent.
type ReplayStats = deadletter.ReplayStats

// Replay sends every file of the dead-letter directory dir, oldest first, to
// the backend that cfg describes (endpoint, protocol, compression, headers,
// tls; auth extensions are not available outside a running collector), one
// attempt per file under cfg's per-attempt timeout, deleting each file once
// the backend accepted it. It stops at the first failure, leaving that file
// and the newer ones in place. The running exporter does the same by itself
// on start (dead_letter::replay_on_start) and whenever the backend recovers.
func Replay(ctx context.Context, dir string, cfg *Config, set exporter.Settings) (ReplayStats, error) {
	// confmap.Validate, not cfg.Validate: it also runs each section's Validate.
	if err := confmap.Validate(cfg); err != nil {
		return ReplayStats{}, err
	}
	none := func() int64 { return -1 }
	tel, err := newTelemetry(set.TelemetrySettings, "replay", gauges{
		circuit:         func() (s circuitbreaker.State) { return s },
		deadLetterBytes: none,
		quarantineBytes: none,
		diskFull:        func() bool { return false },
	})
	if err != nil {
		return ReplayStats{}, err
	}
	defer tel.shutdown()
	t, err := newClient(ctx, cfg, nil, set.TelemetrySettings, tel)
	if err != nil {
		return ReplayStats{}, err
	}
	defer t.close()
	return deadletter.Replay(ctx, dir, func(ctx context.Context, e deadletter.Entry, body []byte) error {
		r, err := requestFromBody(e.Signal, body)
		if err != nil {
			return fmt.Errorf("%s: %w: %w", e.Name, deadletter.ErrCorrupt, err)
		}
		if cfg.TimeoutConfig.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, cfg.TimeoutConfig.Timeout)
			defer cancel()
		}
		_, err = t.export(ctx, r)
		return err
	})
}

func (e *otlpExporter) kickReplay() {
	select {
	case e.replayKick <- struct{}{}:
	default:
	}
}

// replayLoop replays the dead letter, oldest first, when kicked (start,
// recovery, circuit opened) and every replay_interval while files remain.
// While the circuit is open it waits for open_duration to elapse and then
// makes the half-open probe itself with the oldest file: after an outage the
// dead letter is replayed even when no new data arrives to probe the backend.
func (e *otlpExporter) replayLoop() {
	defer e.wg.Done()
	interval := e.cfg.DeadLetter.ReplayInterval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	ticker := time.NewTicker(interval)
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
		if len(e.store.Oldest(e.signal, 1)) == 0 {
			continue
		}
		st, err := e.store.Replay(ctx, e.signal, e.replayOne)
		if st.Files > 0 || st.Corrupt > 0 {
			e.logger.Info("dead letter replayed", zap.Int("files", st.Files), zap.Int("items", st.Items),
				zap.Int("corrupt_moved_aside", st.Corrupt), zap.Error(err))
		} else if err != nil {
			// Every replay_interval while the backend is down: counted in
			// failures, not worth a line each time.
			e.logger.Debug("dead letter replay stopped", zap.Error(err))
		}
	}
}

// replayOne makes one attempt for a spooled batch. The file is removed
// (nil) once the backend has the data, or once it refused it as invalid and
// the batch went to the quarantine (or was dropped, counted, without room
// there). A file that does not decode is moved aside (ErrCorrupt). Anything
// else, refused credentials included, keeps the file for the next replay.
func (e *otlpExporter) replayOne(ctx context.Context, ent deadletter.Entry, body []byte) error {
	r, err := requestFromBody(ent.Signal, body)
	if err != nil {
		e.tel.corruptFiles.Add(ctx, 1, e.tel.signal)
		e.warnOnce("corrupt", "dead letter file is not valid OTLP protobuf; moved aside into "+deadletter.CorruptDir+"/ (kept, not replayed)",
			zap.String("file", ent.Name), zap.Error(err))
		return fmt.Errorf("%w: %w", deadletter.ErrCorrupt, err)
	}
	allowed, _, _ := e.breaker.Allow()
	if !allowed {
		return errCircuitOpen
	}
	p, err := e.attempt(ctx, r)
	if err != nil && ctx.Err() != nil {
		// Shutting down: the attempt says nothing about the backend.
		e.breaker.Release()
		return err
	}
	v := e.settle(ctx, r, p, err, true)
	if err == nil {
		return nil
	}
	if v.reason == reasonRejected {
		// Quarantined, or dropped and counted: either way it leaves the
		// dead letter (a permanent error here is already counted).
		_ = e.quarantine(ctx, r, err)
		return nil
	}
	return err
}
