package reliability

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
)

// outcome is one scenario's line in the table TestMain prints.
type outcome struct {
	Scenario   string
	Sent       int
	Delivered  int
	Duplicates int
	Lost       int
	PeakRSS    int64 // bytes, 0 when not measured
	Result     string
}

var (
	outcomesMu sync.Mutex
	outcomes   []outcome
)

// record returns the scenario's outcome for the test to fill; it joins the
// final table when the test ends, with PASS, FAIL or SKIP from its state.
func record(t *testing.T) *outcome {
	t.Helper()
	o := &outcome{Scenario: strings.TrimPrefix(t.Name(), "Test")}
	t.Cleanup(func() {
		switch {
		case t.Failed():
			o.Result = "FAIL"
		case t.Skipped():
			o.Result = "SKIP"
		default:
			o.Result = "PASS"
		}
		outcomesMu.Lock()
		outcomes = append(outcomes, *o)
		outcomesMu.Unlock()
	})
	return o
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
	outcomesMu.Lock()
	defer outcomesMu.Unlock()
	if len(outcomes) == 0 {
		return ""
	}
	rows := append([]outcome(nil), outcomes...)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Scenario < rows[j].Scenario })
	var b strings.Builder
	b.WriteString("\nreliability scenarios (spans)\n\n")
	b.WriteString("| scenario | sent | delivered | duplicates | lost | peak RSS | result |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, o := range rows {
		rss := "-"
		if o.PeakRSS > 0 {
			rss = fmt.Sprintf("%.0f MiB", float64(o.PeakRSS)/(1<<20))
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s | %s |\n",
			o.Scenario, o.Sent, o.Delivered, o.Duplicates, o.Lost, rss, o.Result)
	}
	b.WriteString("\n")
	return b.String()
}
