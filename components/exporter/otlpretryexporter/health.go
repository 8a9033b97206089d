package otlpretryexporter

import (
	"errors"

	"go.opentelemetry.io/collector/component/componentstatus"
	"go.uber.org/zap"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/circuitbreaker"
)

// Health states reported through componentstatus, on transitions only. No
// failure of the backend, not even refused credentials, is a PermanentError:
// the data is kept and delivered once the backend (or the key) is fixed, so
// the exporter is degraded, never dead.
const (
	healthOK int32 = iota
	healthRecoverable
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
		e.report(healthRecoverable, errors.New("circuit breaker open: the backend fails too many attempts or refuses the credentials"))
		if e.place.store != nil {
			// The replay loop arms its probe for the end of open_duration.
			e.kickReplay()
		}
	}
}

// report sends a status event when the health state changes.
func (e *otlpExporter) report(state int32, err error) {
	if e.health.Swap(state) == state || e.host == nil {
		return
	}
	switch state {
	case healthOK:
		componentstatus.ReportStatus(e.host, componentstatus.NewEvent(componentstatus.StatusOK))
	case healthRecoverable:
		componentstatus.ReportStatus(e.host, componentstatus.NewRecoverableErrorEvent(err))
	}
}

// warnOnce logs msg at warn the first time key is seen and at debug after
// that: a condition repeated per batch is counted in metrics, not logged.
func (e *otlpExporter) warnOnce(key, msg string, fields ...zap.Field) {
	if _, seen := e.logged.LoadOrStore(key, struct{}{}); seen {
		e.logger.Debug(msg, fields...)
		return
	}
	e.logger.Warn(msg+" (repeats are logged at debug and counted)", fields...)
}
