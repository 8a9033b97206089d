package healthextension

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otlpcol/otlpcol/components/pkg/ledgerview"
)

// TestStatusShowsLedgers: /status lists every registered exporter ledger
// per signal, and drops it once the exporter unregisters.
func TestStatusShowsLedgers(t *testing.T) {
	h, _ := newTestHealth(t, createDefaultConfig().(*Config))
	unregister := ledgerview.Register("otlp_retry/test", "traces", func() ledgerview.Terms {
		return ledgerview.Terms{Accepted: 10, Delivered: 6, Pending: 2, Quarantined: 1,
			Dropped: map[string]int64{"rejected": 1}, Duplicates: 3, Holds: true}
	})
	code, body := get(t, h, "/status")
	require.Equal(t, http.StatusOK, code)
	ledgers, _ := body["ledgers"].(map[string]any)
	exp, _ := ledgers["otlp_retry/test"].(map[string]any)
	traces, _ := exp["traces"].(map[string]any)
	require.Equal(t, map[string]any{
		"accepted": 10.0, "delivered": 6.0, "pending": 2.0, "quarantined": 1.0,
		"dropped": map[string]any{"rejected": 1.0}, "duplicates": 3.0, "holds": true,
	}, traces)
	unregister()
	_, body = get(t, h, "/status")
	require.NotContains(t, body, "ledgers")
}
