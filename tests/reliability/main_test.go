package reliability

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// outcome is one scenario's line in the table TestMain prints.
type outcome struct {
	harness.ScenarioRow
	Sent       int
	Delivered  int
	Duplicates int
	Lost       int
	PeakRSS    int64 // bytes, 0 when not measured
}

var outcomes harness.ScenarioTable[outcome, *outcome]

// record returns the scenario's outcome for the test to fill; it joins the
// final table when the test ends, with PASS, FAIL or SKIP from its state.
func record(t *testing.T) *outcome {
	t.Helper()
	return outcomes.Record(t, strings.TrimPrefix(t.Name(), "Test"))
}

func TestMain(m *testing.M) {
	code := m.Run()
	table := outcomeTable()
	fmt.Print(table)
	// go test shows a passing package's output only with -v: the table
	// also goes to $OTLPCOL_RELIABILITY_TABLE when set.
	if path := os.Getenv("OTLPCOL_RELIABILITY_TABLE"); path != "" && table != "" {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "writing %s: %v\n", path, err)
		}
	}
	os.Exit(code)
}

// outcomeTable renders the recorded outcomes as a Markdown table.
func outcomeTable() string {
	return outcomes.Markdown("reliability scenarios (spans)",
		[]harness.Column{harness.Num("sent"), harness.Num("delivered"), harness.Num("duplicates"), harness.Num("lost"), harness.Num("peak RSS")},
		func(o outcome) []any {
			rss := "-"
			if o.PeakRSS > 0 {
				rss = fmt.Sprintf("%.0f MiB", float64(o.PeakRSS)/(1<<20))
			}
			return []any{o.Sent, o.Delivered, o.Duplicates, o.Lost, rss}
		})
}
