package otlpretryexporter

import (
	"fmt"

	"go.opentelemetry.io/collector/component/componentstatus"
	"go.uber.org/zap"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/circuitbreaker"
)

// Health states reported through componentstatus, on transitions only.
const (
	healthOK int32 = iota
	healthRecoverable
	healthPermanent
)

// recoverableAfter is the number of consecutive failed attempts after which
// the exporter reports RecoverableError (the circuit opening also reports it).
const recoverableAfter = 2

func (e *otlpExporter) failedAttempt(err error) {
	if e.consecutive.Add(1) >= recoverableAfter {
		e.report(healthRecoverable, err)
	}
}

func (e *otlpExporter) onBreakerChange(from, to circuitbreaker.State) {
	e.logger.Info("circuit breaker state changed", zap.Stringer("from", from), zap.Stringer("to", to))
	if to == circuitbreaker.Open {
		e.report(healthRecoverable, fmt.Errorf("circuit breaker open after %d consecutive failed attempts", e.cfg.CircuitBreaker.FailureThreshold))
		if e.store != nil {
			// The replay loop arms its probe for the end of open_duration.
			e.kickReplay()
		}
	}
}

// report sends a status event when the health state changes. A permanent
// error (authentication) is final until restart, as the collector's status
// model wants.
func (e *otlpExporter) report(state int32, err error) {
	for {
		old := e.health.Load()
		if old == state || old == healthPermanent {
			return
		}
		if e.health.CompareAndSwap(old, state) {
			break
		}
	}
	if e.host == nil {
		return
	}
	switch state {
	case healthOK:
		componentstatus.ReportStatus(e.host, componentstatus.NewEvent(componentstatus.StatusOK))
	case healthRecoverable:
		componentstatus.ReportStatus(e.host, componentstatus.NewRecoverableErrorEvent(err))
	case healthPermanent:
		componentstatus.ReportStatus(e.host, componentstatus.NewPermanentErrorEvent(err))
	}
}

func (e *otlpExporter) logPermanent(v verdict, err error, r *request) {
	if _, seen := e.loggedPerm.LoadOrStore(v.why, struct{}{}); seen {
		e.logger.Debug("backend refused data permanently", zap.String("reason", v.why), zap.Int("items", r.items), zap.Error(err))
		return
	}
	e.logger.Warn("backend refused data permanently; not retrying (further refusals for this reason are logged at debug and counted)",
		zap.String("reason", v.why), zap.Int("items", r.items), zap.Error(err))
}
