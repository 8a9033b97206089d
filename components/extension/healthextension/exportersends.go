package healthextension

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/otlpcol/otlpcol/components/extension/healthextension/internal/sendwatch"
)

const (
	// minSendPoll and maxSendPoll bound how often the exporters' counters
	// are read: a tenth of exporter_failure_threshold, within these.
	minSendPoll = time.Second
	maxSendPoll = 5 * time.Second
	// maxExposition bounds what one read of the telemetry takes in.
	maxExposition = 32 << 20
	acceptText    = "text/plain;version=0.0.4"
)

// sendPollInterval is how often exporter_failure_threshold reads the
// exporters' counters.
func sendPollInterval(threshold time.Duration) time.Duration {
	return min(max(threshold/10, minSendPoll), maxSendPoll)
}

// watchSends reads exporterhelper's counters from the collector's own
// telemetry (the endpoint /metrics serves) every poll interval until
// Shutdown, so that exporter_failure_threshold sees every exporter, also
// those that never report a status.
func (h *health) watchSends(interval time.Duration) {
	defer h.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-h.stop
		cancel()
	}()
	t := time.NewTicker(interval)
	defer t.Stop()
	warned := false
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		if err := h.pollSends(ctx); err != nil && ctx.Err() == nil {
			// Once at warn, then debug: the telemetry endpoint may come up
			// after the extension.
			if !warned {
				h.set.Logger.Warn("exporter_failure_threshold cannot read the exporters' counters; it sees only exporters that report their status", zap.Error(err))
				warned = true
			} else {
				h.set.Logger.Debug("reading the exporters' counters failed", zap.Error(err))
			}
		}
	}
}

func (h *health) pollSends(ctx context.Context) error {
	url, _ := h.metrics.target()
	if url == "" {
		return fmt.Errorf("no telemetry endpoint (service::telemetry::metrics has no Prometheus pull reader and metrics_endpoint is not set)")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", acceptText)
	resp, err := h.metrics.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	samples, err := sendwatch.Parse(io.LimitReader(resp.Body, maxExposition))
	if err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	h.sends.Observe(h.now(), samples)
	return nil
}

// stalledExporters gives a readiness reason for each exporter that has
// delivered nothing for longer than exporter_failure_threshold.
func (h *health) stalledExporters(now time.Time) []string {
	if h.cfg.ExporterFailureThreshold <= 0 {
		return nil
	}
	var out []string
	for _, f := range h.sends.Failing() {
		if d := now.Sub(f.Since); d > h.cfg.ExporterFailureThreshold {
			out = append(out, fmt.Sprintf("exporter:%s sent nothing for %s while %g items were queued or sends failed (exporter_failure_threshold %s)",
				f.ID, d.Round(time.Second), f.Queued, h.cfg.ExporterFailureThreshold))
		}
	}
	return out
}
