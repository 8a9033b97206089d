package image

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// result is one test's line in the table TestMain prints, with what it
// measured (the image's size, its SBOM's component count, timings).
type result struct {
	harness.ScenarioRow
	Measured string
}

var results harness.ScenarioTable[result, *result]

// record returns the test's row for it to fill; it joins the table when
// the test ends, with PASS, FAIL or SKIP.
func record(t *testing.T) *result {
	t.Helper()
	return results.Record(t, strings.TrimPrefix(t.Name(), "Test"))
}

func TestMain(m *testing.M) {
	code := m.Run()
	table := results.Markdown("image tests", []harness.Column{harness.Text("measured")},
		func(r result) []any {
			if r.Measured == "" {
				return []any{"-"}
			}
			return []any{r.Measured}
		})
	fmt.Print(table)
	// `make test-image` sets OTLPCOL_IMAGE_TABLE and writes the table to
	// tests/image/results.md, so the numbers are never copied by hand.
	if path := os.Getenv("OTLPCOL_IMAGE_TABLE"); path != "" && table != "" {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "writing %s: %v\n", path, err)
		}
	}
	os.Exit(code)
}
