package healthextension

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/otlpcol/otlpcol/components/pkg/configfuzz"
)

// FuzzParseTraceID feeds the {trace_id} of GET /traces/{trace_id}, which
// any client controls. A valid ID is exactly 32 hex digits, not all zero,
// and reads back as the same lowercase hex.
func FuzzParseTraceID(f *testing.F) {
	for _, s := range []string{
		"0102030405060708090a0b0c0d0e0f10", "0102030405060708090A0B0C0D0E0F10",
		"00000000000000000000000000000000", "0102", "zz02030405060708090a0b0c0d0e0f10",
		"0102030405060708090a0b0c0d0e0f1", "0102030405060708090a0b0c0d0e0f1011", "", "%00", "../status",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := parseTraceID(s)
		if !ok {
			return
		}
		if len(s) != 32 {
			t.Fatalf("accepted %q of length %d", s, len(s))
		}
		if id.IsEmpty() {
			t.Fatalf("accepted the all-zero ID %q", s)
		}
		if got, want := hex.EncodeToString(id[:]), strings.ToLower(s); got != want {
			t.Fatalf("parseTraceID(%q) = %s", s, got)
		}
	})
}

// FuzzConfigUnmarshal decodes arbitrary YAML as the extension's config, as
// the collector does with a user's file: it must return an error or a
// config whose Validate does not panic, never crash.
func FuzzConfigUnmarshal(f *testing.F) {
	configfuzz.Run(f, []string{
		"endpoint: 127.0.0.1:8080\ndrain_delay: 5s\n",
		"endpoint: 0.0.0.0:8080\nready_when_degraded: false\nexporter_failure_threshold: 1m\nrecovery_duration: 10s\n",
		"metrics_endpoint: http://127.0.0.1:8888/metrics\n",
		"metrics_endpoint: \"ftp://x\"\n",
		"drain_delay: -1s\nbogus: 1\n",
		"endpoint: ''\ntls:\n  cert_file: /nonexistent\n",
		"auth:\n  authenticator: bearertokenauth\ncors:\n  allowed_origins: ['*']\n",
		"[]", "endpoint: [1, 2]", "drain_delay: {a: b}",
	}, createDefaultConfig)
}
