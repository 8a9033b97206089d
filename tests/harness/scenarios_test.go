package harness

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

type testRow struct {
	ScenarioRow
	N int
}

func TestScenarioTable(t *testing.T) {
	var tb ScenarioTable[testRow, *testRow]
	t.Run("second", func(t *testing.T) { tb.Record(t, "b").N = 2 })
	t.Run("first", func(t *testing.T) {
		r := tb.Record(t, "a")
		r.N = 1 // filled before the skip: the row keeps it
		t.Skip("a skipped scenario still has its row")
	})
	assert.Equal(t, []testRow{
		{ScenarioRow{Scenario: "a", Result: "SKIP"}, 1},
		{ScenarioRow{Scenario: "b", Result: "PASS"}, 2},
	}, tb.Rows())
	assert.Equal(t, "\ntitle\n\n| scenario | n | note | result |\n| --- | ---: | --- | --- |\n"+
		"| a | 1 | odd | SKIP |\n| b | 2 | even | PASS |\n\n",
		tb.Markdown("title", []Column{Num("n"), Text("note")}, func(r testRow) []any {
			return []any{r.N, map[bool]string{true: "odd", false: "even"}[r.N%2 == 1]}
		}))
	var empty ScenarioTable[testRow, *testRow]
	assert.Empty(t, empty.Markdown("title", nil, nil))
}
