package monitoring

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// row is one line of the table: an alert, the fault that drove it, when it
// fired after the fault began and resolved after it ended.
type row struct {
	Alert, Scenario string
	Fired, Resolved string
	Silent          string
	pod             string
}

// suite is what every scenario shares.
type suite struct {
	prom  *prometheus
	tr    *tracker
	rules map[string]alertRule
	mu    sync.Mutex
	rows  []row
	start time.Time
}

func (s *suite) add(r row) {
	s.mu.Lock()
	s.rows = append(s.rows, r)
	s.mu.Unlock()
}

// note adds what else a scenario saw to the rows of alert on pod.
func (s *suite) note(alert, pod, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.rows {
		if s.rows[i].Alert == alert && s.rows[i].pod == pod {
			s.rows[i].Scenario += " (" + text + ")"
		}
	}
}

// scaled is d of the shipped timing divided by the factor.
func scaled(d time.Duration) time.Duration { return d / factor }

// expectFire waits for alert on pod to fire after the fault began at since,
// checks that it fired within its `for` plus two evaluation intervals of
// the expression holding (activeAt), and returns when it fired.
func (s *suite) expectFire(t *testing.T, alert, pod string, since time.Time, within time.Duration) (time.Duration, bool) {
	t.Helper()
	r, ok := s.rules[alert]
	if !ok {
		t.Errorf("no alert %s in the rules", alert)
		return 0, false
	}
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if e := s.tr.fired(alert, pod, since); e != nil {
			bound := scaled(r.For) + 2*s.prom.interval + pollEvery
			if lag := e.firedAt.Sub(e.activeAt); lag > bound {
				t.Errorf("%s on %s fired %.1fs after its expression held (activeAt), over for + 2 evaluation intervals (%.1fs)",
					alert, pod, lag.Seconds(), bound.Seconds())
			}
			return e.firedAt.Sub(since), true
		}
		time.Sleep(pollEvery)
	}
	t.Errorf("%s on %s did not fire within %s of the fault", alert, pod, within)
	return 0, false
}

// expectResolve waits for alert on pod to stop firing after the fault ended.
func (s *suite) expectResolve(t *testing.T, alert, pod string, ended time.Time, within time.Duration) (time.Duration, bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if !s.tr.firingNow(alert, pod) {
			return time.Since(ended), true
		}
		time.Sleep(pollEvery)
	}
	t.Errorf("%s on %s still firing %s after the fault ended", alert, pod, within)
	return 0, false
}

func secs(d time.Duration, ok bool) string {
	if !ok {
		return "no"
	}
	return fmt.Sprintf("%.1f", d.Seconds())
}

// scenario drives one fault: before starts it, after ends it; every alert
// in fire must fire, those in resolve must resolve afterwards.
type scenario struct {
	name    string
	pod     string
	fire    []string
	resolve []string // nil: all of fire
	within  time.Duration
	healAll time.Duration
	// minFault keeps the fault on at least this long, even once every
	// alert fired (to observe what else happens meanwhile).
	minFault time.Duration
}

func (s *suite) run(t *testing.T, sc scenario, begin func(), end func()) {
	t.Helper()
	begin()
	since := time.Now()
	type res struct {
		d  time.Duration
		ok bool
	}
	// each waits for every alert at once, by f, and returns what it saw.
	each := func(alerts []string, f func(alert string) (time.Duration, bool)) map[string]res {
		out := map[string]res{}
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, a := range alerts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, ok := f(a)
				mu.Lock()
				out[a] = res{d, ok}
				mu.Unlock()
			}()
		}
		wg.Wait()
		return out
	}
	fired := each(sc.fire, func(a string) (time.Duration, bool) { return s.expectFire(t, a, sc.pod, since, sc.within) })
	if left := sc.minFault - time.Since(since); left > 0 {
		wait(left)
	}
	ended := time.Now()
	if end != nil {
		end()
		ended = time.Now()
	}
	resolve := sc.resolve
	if resolve == nil {
		resolve = sc.fire
	}
	resolved := each(resolve, func(a string) (time.Duration, bool) { return s.expectResolve(t, a, sc.pod, ended, sc.healAll) })
	for _, a := range sc.fire {
		r := row{Alert: a, Scenario: sc.name, Fired: secs(fired[a].d, fired[a].ok), Resolved: "not expected", pod: sc.pod}
		if v, ok := resolved[a]; ok {
			r.Resolved = secs(v.d, v.ok)
		}
		s.add(r)
	}
}

// gatewayEnv is the environment configs/gateway.yaml reads.
func gatewayEnv(b *backend) []string {
	return []string{"OTLP_ENDPOINT=" + b.Endpoint(), "API_KEY=monitoring"}
}

// gatewaySets are the overrides every test gateway needs: a plaintext
// backend on loopback, and no drain pause on stop.
var gatewaySets = []string{"exporters::otlp_retry::tls::insecure=true"}

// agentSets routes configs/agent.yaml's traces to the gateways gws
// (instead of the headless Service its k8s resolver watches) and its
// metrics and logs to the first (instead of the gateway's Service).
func agentSets(gws ...string) []string {
	return []string{
		"exporters::load_balancing::resolver::k8s=null",
		"exporters::load_balancing::resolver::static::hostnames=[" + strings.Join(gws, ",") + "]",
		"exporters::otlp_grpc/gateway::endpoint=" + gws[0],
	}
}

func wait(d time.Duration) { time.Sleep(d) }

func TestAlertsFireOnRealFaults(t *testing.T) {
	if os.Getenv("OTLPCOL_MONITORING") == "" {
		t.Skip("set OTLPCOL_MONITORING=1 (make test-monitoring): runs Prometheus and a dozen bin/otlpcol for about 6 minutes")
	}
	harness.Binary(t)
	root := harness.RepoRoot()
	raw, err := os.ReadFile(filepath.Join(root, "deploy/monitoring/otlpcol-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	list, err := readAlerts(raw)
	if err != nil {
		t.Fatal(err)
	}
	s := &suite{rules: map[string]alertRule{}, start: time.Now()}
	for _, a := range list {
		s.rules[a.Name] = a
	}
	s.prom = startPrometheus(t, t.TempDir())
	s.tr = startTracker(s.prom)
	t.Cleanup(s.tr.Stop)

	t.Run("discovery", func(t *testing.T) { testDiscovery(t, s) })
	if t.Failed() {
		return
	}
	t.Run("scenarios", func(t *testing.T) {
		for _, sc := range scenarios {
			t.Run(sc.name, func(t *testing.T) {
				t.Parallel()
				sc.run(t, s)
			})
		}
	})
	soakPods := map[string]bool{}
	var soakFrom, soakTo time.Time
	t.Run("soak", func(t *testing.T) { soakFrom, soakTo = soak(t, s, soakPods) })
	t.Run("panels", func(t *testing.T) { checkPanels(t, s, soakFrom, soakTo) })

	// The table: every alert of the rules has a row.
	fired := s.tr.firedFor(soakPods, soakFrom, soakTo)
	loud := map[string]bool{}
	downNote := ""
	for _, e := range fired {
		if e.alertname == "OtlpcolDown" {
			// Process restarts and Prometheus's discovery (it applies
			// target changes at most every 5 s) take real seconds the
			// scaling cannot shrink, so the scaled `for` (4 s) is judged
			// at the shipped timing: the longest stretch of up == 0 of a
			// restarted pod against the shipped `for` (2m).
			longest := longestDown(t, s, e.pod, soakFrom, soakTo)
			if longest < s.rules["OtlpcolDown"].For/2 {
				downNote = fmt.Sprintf("yes at the shipped timing: up == 0 for at most %.0f s per pod during the rolling restart, for is %s (the scaled copy's %s is shorter than Prometheus's 5 s discovery update, and it fired)",
					longest.Seconds(), s.rules["OtlpcolDown"].For, scaled(s.rules["OtlpcolDown"].For))
				t.Logf("OtlpcolDown (scaled) fired on %s during the rolling restart: up == 0 for %.0f s, under half the shipped for", e.pod, longest.Seconds())
				continue
			}
		}
		loud[e.alertname] = true
		t.Errorf("%s fired on %s during the healthy soak (value %s)", e.alertname, e.pod, e.value)
	}
	for i := range s.rows {
		s.rows[i].Silent = yes(!loud[s.rows[i].Alert])
		if s.rows[i].Alert == "OtlpcolDown" && downNote != "" && !loud["OtlpcolDown"] {
			s.rows[i].Silent = downNote
		}
	}
	have := map[string]bool{}
	for _, r := range s.rows {
		have[r.Alert] = true
	}
	for _, a := range list {
		if !have[a.Name] {
			if why, ok := notDriven[a.Name]; ok {
				s.rows = append(s.rows, row{Alert: a.Name, Scenario: "not driven: " + why, Fired: "-", Resolved: "-", Silent: yes(!loud[a.Name])})
				continue
			}
			t.Errorf("alert %s has no scenario", a.Name)
		}
	}
	order := map[string]int{}
	for i, a := range list {
		order[a.Name] = i
	}
	sort.SliceStable(s.rows, func(i, j int) bool { return order[s.rows[i].Alert] < order[s.rows[j].Alert] })
	var b strings.Builder
	fmt.Fprintf(&b, "Alerts against real faults: Prometheus %s, rules and scrape config of deploy/monitoring scaled by 1/%d (1 s of test = %d s of the shipped timing; scrape and evaluation every %s). Fired: seconds after the fault began; resolved: seconds after it ended.\n\n",
		promVersion(), factor, factor, s.prom.interval)
	b.WriteString("| alert | scenario | fired after (s) | resolved after (s) | silent in healthy soak |\n| --- | --- | ---: | ---: | --- |\n")
	for _, r := range s.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.Alert, r.Scenario, r.Fired, r.Resolved, r.Silent)
	}
	fmt.Fprintf(&b, "\nHealthy soak: %.0f s (%.0f scaled minutes) at steady load through an agent into two gateways, with a rolling restart of both gateways.\n",
		soakTo.Sub(soakFrom).Seconds(), soakTo.Sub(soakFrom).Seconds()*factor/60)
	fmt.Println(b.String())
	if dir := os.Getenv("OTLPCOL_MONITORING_OUT"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "alerts.md"), []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func promVersion() string {
	out, err := exec.Command("prometheus", "--version").Output()
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(out))
	if len(f) >= 3 {
		return f[2]
	}
	return "?"
}

// notDriven are alerts no scenario drives, with why (promtool tests them).
// The kubelet's and kube-state-metrics' series come from kubeStandIn.
var notDriven = map[string]string{}

// testDiscovery checks the shipped relabeling: an otlpcol pod yields one
// target (the health port) with namespace, pod and app_kubernetes_io_*
// labels; its OTLP ports and a pod of another application are dropped.
func testDiscovery(t *testing.T, s *suite) {
	b := startBackend(t)
	gw := newPod(t, s.prom, "otlpcol-gateway-discovery", "gateway", t.TempDir(), gatewaySets, gatewayEnv(b)...)
	gw.start()
	other := podTargets(namespace, "other-app-0", "gateway", map[string]int{"http-health": gw.c.HealthPort})[0]
	other.Labels["__meta_kubernetes_pod_label_app_kubernetes_io_name"] = "other"
	s.prom.addRaw("other", other)
	deadline := time.Now().Add(30 * time.Second)
	for {
		active, dropped, err := s.prom.targetsAPI()
		var mine []activeTarget
		for _, a := range active {
			if a.DiscoveredLabels["__meta_kubernetes_pod_name"] == gw.name {
				mine = append(mine, a)
			}
		}
		if err == nil && len(mine) == 1 && mine[0].Health == "up" && dropped >= 3 {
			l := mine[0].Labels
			want := map[string]string{"namespace": namespace, "pod": gw.name, "node": "node-1",
				"app_kubernetes_io_name": "otlpcol", "app_kubernetes_io_component": "gateway",
				"app_kubernetes_io_instance": "otlpcol-gateway",
				"instance":                   fmt.Sprintf("127.0.0.1:%d", gw.c.HealthPort)}
			for k, v := range want {
				if l[k] != v {
					t.Errorf("target label %s = %q, want %q (all: %v)", k, l[k], v, l)
				}
			}
			if !strings.HasSuffix(mine[0].ScrapeURL, "/metrics") {
				t.Errorf("scrape URL %s", mine[0].ScrapeURL)
			}
			for _, a := range active {
				if a.DiscoveredLabels["__meta_kubernetes_pod_name"] == "other-app-0" {
					t.Error("a pod of another application is scraped")
				}
			}
			t.Logf("target %s: %v (%d targets dropped: OTLP ports, other app)", mine[0].ScrapeURL, l, dropped)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("targets: %d of this pod (want 1, up), %d dropped, err %v: %+v", len(mine), dropped, err, mine)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The series the rules select on carry those labels.
	deadline = time.Now().Add(30 * time.Second)
	for {
		res, err := s.prom.query(`up{app_kubernetes_io_name="otlpcol", pod="otlpcol-gateway-discovery"} == 1`)
		if err == nil && len(res) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("up of the discovered pod: %v %v", res, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	gw.stop()
	s.prom.mu.Lock()
	delete(s.prom.groups, "other")
	s.prom.mu.Unlock()
	s.prom.writeTargets()
}

// flipSegmentByte damages the first record's payload of a middle segment of
// the traces log under dir, as a bad disk sector would.
func flipSegmentByte(t *testing.T, dir string) string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "state", "*persistent_queue*", "traces", "*.seg"))
	if err != nil || len(segs) < 3 {
		t.Fatalf("want at least 3 log segments under %s, got %v (%v)", dir, segs, err)
	}
	sort.Strings(segs)
	mid := segs[len(segs)/2]
	b, err := os.ReadFile(mid)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 8+24+2 {
		t.Fatalf("segment %s has %d bytes", mid, len(b))
	}
	n := int(binary.LittleEndian.Uint32(b[8:]))
	b[8+24+n/2] ^= 0x01
	if err := os.WriteFile(mid, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return mid
}

var errInvalid = status.Error(codes.InvalidArgument, "the backend refuses the data as invalid")
var errUnavailable = status.Error(codes.Unavailable, "the backend is overloaded")

// longestDown is the longest run of failed scrapes (up == 0) of pod's
// targets between from and to.
func longestDown(t *testing.T, s *suite, pod string, from, to time.Time) time.Duration {
	res, err := s.prom.queryRange(`up{pod="`+pod+`"}`, from, to, s.prom.interval)
	if err != nil {
		t.Error(err)
		return time.Hour
	}
	var longest time.Duration
	for _, r := range res {
		var run time.Duration
		for _, v := range r.Values {
			if parseF(v[1]) == 0 {
				run += s.prom.interval
				longest = max(longest, run)
			} else {
				run = 0
			}
		}
	}
	return longest
}
