package otlpretryexporter

import (
	"bytes"
	"io"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/goleak"
)

func goleakMain(m *testing.M) {
	// The zstd encoder is process-wide and keeps no goroutines of its own
	// after EncodeAll; grpc and http test servers are stopped in Cleanup.
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait"))
}

func hasAttrs(attrs []attribute.KeyValue, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		found := false
		for _, a := range attrs {
			if string(a.Key) == kv[i] && a.Value.Emit() == kv[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func TestMain(m *testing.M) { goleakMain(m) }
