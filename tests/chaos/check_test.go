package chaos

import "testing"

// The ledger check reads whatever shape issue 21 section 1 gives /status,
// as long as each exporter's terms sit in one object.
func TestLedgersIn(t *testing.T) {
	doc := `{"pipelines":{"traces":{"components":{"exporter:otlp_retry":{"status":"StatusOK",
		"ledger":{"traces":{"accepted":10,"delivered":6,"pending":2,"quarantined":1,"dropped":{"rejected":1},"duplicates":3,"holds":true}}}}}}}`
	ls, err := ledgersIn([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 {
		t.Fatalf("found %d ledgers, want 1: %+v", len(ls), ls)
	}
	l := ls[0]
	if l.Accepted != 10 || l.Delivered != 6 || l.Pending != 2 || l.Quarantined != 1 || l.Dropped != 1 || l.Duplicates != 3 || l.Holds == nil || !*l.Holds {
		t.Fatalf("terms read wrong: %+v", l)
	}
	if l.Path != "/pipelines/traces/components/exporter:otlp_retry/ledger/traces" {
		t.Fatalf("path %q", l.Path)
	}
	none, err := ledgersIn([]byte(`{"pipelines":{"traces":{"components":{"exporter:otlp_retry":{"status":"StatusOK"}}}}}`))
	if err != nil || len(none) != 0 {
		t.Fatalf("a /status without a ledger gave %+v, %v", none, err)
	}
}

func TestViolationClass(t *testing.T) {
	for what, want := range map[string]string{
		"not delivered within 1m30s: 880 acknowledged items":              "not delivered",
		"gateway0: shutdown hang: still running 30s after SIGTERM":        "shutdown hang",
		"answer: g0http: a traces request sent at 04:45 got no answer ..": "no answer",
	} {
		if got := violationClass(what); got != want {
			t.Errorf("violationClass(%q) = %q, want %q", what, got, want)
		}
	}
}
