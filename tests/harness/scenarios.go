package harness

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
)

// ScenarioRow is what every row of a scenario table has: the scenario's
// name and how its test ended. Embed it in a package's row type.
type ScenarioRow struct {
	Scenario string
	Result   string // PASS, FAIL or SKIP
}

func (r *ScenarioRow) scenarioRow() *ScenarioRow { return r }

// ScenarioTable collects one row per test (tests may run in parallel) for
// the table a package's TestMain prints. R is the package's row type, which
// embeds ScenarioRow; P is *R:
//
//	var outcomes harness.ScenarioTable[outcome, *outcome]
type ScenarioTable[R any, P interface {
	*R
	scenarioRow() *ScenarioRow
}] struct {
	mu   sync.Mutex
	rows []R
}

// Record returns a row named scenario for the test to fill; the row joins
// the table when t ends, with PASS, FAIL or SKIP from t's state.
func (tb *ScenarioTable[R, P]) Record(t *testing.T, scenario string) *R {
	t.Helper()
	row := new(R)
	P(row).scenarioRow().Scenario = scenario
	t.Cleanup(func() {
		P(row).scenarioRow().Result = result(t)
		tb.mu.Lock()
		tb.rows = append(tb.rows, *row)
		tb.mu.Unlock()
	})
	return row
}

// Rows returns a copy of the rows recorded so far, by scenario name.
func (tb *ScenarioTable[R, P]) Rows() []R {
	tb.mu.Lock()
	rows := append([]R(nil), tb.rows...)
	tb.mu.Unlock()
	sort.SliceStable(rows, func(i, j int) bool {
		return P(&rows[i]).scenarioRow().Scenario < P(&rows[j]).scenarioRow().Scenario
	})
	return rows
}

// Column is a column of a scenario table between the scenario and the
// result: its heading, and whether it is right-aligned (numbers).
type Column struct {
	Heading string
	Right   bool
}

// Num is a right-aligned column, Text a left-aligned one.
func Num(heading string) Column { return Column{Heading: heading, Right: true} }

// Text is a left-aligned column.
func Text(heading string) Column { return Column{Heading: heading} }

// Markdown renders the rows under title as a Markdown table, "" when no row
// was recorded. The scenario is the first column and the result the last;
// cells gives a row's values for columns, each printed with %v.
func (tb *ScenarioTable[R, P]) Markdown(title string, columns []Column, cells func(R) []any) string {
	rows := tb.Rows()
	if len(rows) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s\n\n| scenario |", title)
	for _, c := range columns {
		fmt.Fprintf(&b, " %s |", c.Heading)
	}
	b.WriteString(" result |\n| --- |")
	for _, c := range columns {
		if c.Right {
			b.WriteString(" ---: |")
		} else {
			b.WriteString(" --- |")
		}
	}
	b.WriteString(" --- |\n")
	for i := range rows {
		fmt.Fprintf(&b, "| %s |", P(&rows[i]).scenarioRow().Scenario)
		for _, v := range cells(rows[i]) {
			fmt.Fprintf(&b, " %v |", v)
		}
		fmt.Fprintf(&b, " %s |\n", P(&rows[i]).scenarioRow().Result)
	}
	b.WriteString("\n")
	return b.String()
}

func result(t *testing.T) string {
	switch {
	case t.Failed():
		return "FAIL"
	case t.Skipped():
		return "SKIP"
	default:
		return "PASS"
	}
}
