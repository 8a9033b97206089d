package chaos

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otlpcol/otlpcol/tests/harness"
)

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

// readSettledLedgers reads again only while a ledger counts items twice (a
// batch between its delivery and its acknowledgement), and returns a
// reading that still does once settleTime is over; a positive gap (items
// accounted nowhere) is returned at once.
func TestSettledLedgersReadAgainOnlyWhileCountedTwice(t *testing.T) {
	defer func(d time.Duration) { settleTime = d }(settleTime)
	settleTime = 500 * time.Millisecond
	doc := func(accepted, delivered, pending int) string {
		return fmt.Sprintf(`{"ledger":{"logs":{"accepted":%d,"delivered":%d,"pending":%d,"quarantined":0,"holds":%t}}}`,
			accepted, delivered, pending, accepted == delivered+pending)
	}
	for _, tc := range []struct {
		name      string
		readings  []string // served in turn, the last one from then on
		wantReads int64    // at least
		maxReads  int64
		wantGap   float64
	}{
		{"in motion, then settled", []string{doc(1940, 1940, 20), doc(1940, 1940, 20), doc(1960, 1940, 20)}, 3, 3, 0},
		{"counted twice for good", []string{doc(1940, 1940, 20)}, 3, 10, -20},
		{"accounted nowhere", []string{doc(1960, 1920, 20)}, 1, 1, 20},
		{"balanced", []string{doc(1960, 1940, 20)}, 1, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reads atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				n := int(reads.Add(1))
				fmt.Fprint(w, tc.readings[min(n, len(tc.readings))-1])
			}))
			defer srv.Close()
			srv.Start()
			p := &proc{name: "gateway1", c: &harness.Collector{HealthPort: srv.Listener.Addr().(*net.TCPAddr).Port}}
			ls, err := readSettledLedgers(p)
			if err != nil || len(ls) != 1 {
				t.Fatalf("got %+v, %v", ls, err)
			}
			l := ls[0]
			if gap := l.Accepted - l.Delivered - l.Pending; gap != tc.wantGap {
				t.Errorf("returned a reading with gap %.0f, want %.0f", gap, tc.wantGap)
			}
			if n := reads.Load(); n < tc.wantReads || n > tc.maxReads {
				t.Errorf("read /status %d times, want %d to %d", n, tc.wantReads, tc.maxReads)
			}
		})
	}
}
