package sendwatch

import (
	"strings"
	"testing"
)

// FuzzParse: any input gives samples or an error, never a panic.
func FuzzParse(f *testing.F) {
	f.Add(exposition)
	f.Add(`otelcol_exporter_queue_size{exporter="a\`)
	f.Add(`otelcol_exporter_sent_spans{exporter="a",} 1e3`)
	f.Fuzz(func(t *testing.T, in string) {
		_, _ = Parse(strings.NewReader(in))
	})
}
