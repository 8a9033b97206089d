package monitoring

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// fault is one scenario of the suite; they run in parallel, each on its
// own pods, backend and load.
type fault struct {
	name string
	run  func(t *testing.T, s *suite)
}

// Generous waits: the windows of the scaled rules are at most 60 s
// (30m / 30) and `for` at most 30 s; the rest is the fault's own build-up
// (a log filling, a queue filling) on 2 shared cores.
const (
	fireWithin    = 150 * time.Second
	resolveWithin = 150 * time.Second
)

var scenarios = []fault{
	{"backend down", func(t *testing.T, s *suite) {
		b := startBackend(t)
		gw := newPod(t, s.prom, "otlpcol-gateway-outage", "gateway", t.TempDir(), append(gatewaySets,
			// The smallest log validate allows (32 MiB) under a heavy load,
			// and a short retry budget, so that the log fills and batches
			// reach the dead letter within the test.
			"exporters::otlp_retry::persistent_queue::max_bytes=33554432",
			"exporters::otlp_retry::persistent_queue::segment_bytes=131072",
			"exporters::otlp_retry::dead_letter::max_bytes=67108864",
			"exporters::otlp_retry::retry_on_failure::max_interval=2s",
			"exporters::otlp_retry::retry_on_failure::max_elapsed_time=10s",
		), gatewayEnv(b)...)
		gw.start()
		l := startLoad(gw.c.GRPCEndpoint(), 2000, 20*time.Millisecond)
		defer l.Stop()
		wait(5 * time.Second)
		s.run(t, scenario{name: "backend down (connections refused), steady load", pod: gw.name,
			fire: []string{"OtlpcolCircuitOpen", "OtlpcolWriteAheadLogFilling", "OtlpcolWriteAheadLogNotDraining",
				"OtlpcolDeadLetterGrowing", "OtlpcolRefusalsSustained", "OtlpcolRefusingSpans"},
			within: fireWithin, healAll: resolveWithin},
			func() { b.Set(backendDown) }, func() { b.Set(backendUp) })
	}},
	{"black hole", func(t *testing.T, s *suite) {
		// A backend that hangs mid-stream: the gateway's connection stays
		// established and goes silent (no reset, no answer), so every
		// attempt ends only at its timeout. The breaker must still open
		// (defect 1 of issue 22): configs/gateway.yaml's 10 consumers each
		// fail at 10 s, about 21 s and about 33 s after they hang (timeout
		// 10s, backoff 1s then 2s, ±50%), so a 30 s window (3 s buckets)
		// holds their 2nd and 3rd failures, 20 at least: min_attempts 20,
		// all failed. It opened after 32 s in earlier runs; by the 5th
		// round (about 73 s) the backoff would space attempts past the
		// window, so fireWithin (150 s) is not what bounds it, the
		// arithmetic is. The scaled alert then needs 4 s + 2 s of it.
		b := startBackend(t)
		gw := newPod(t, s.prom, "otlpcol-gateway-blackhole", "gateway", t.TempDir(), gatewaySets, gatewayEnv(b)...)
		gw.start()
		l := startLoad(gw.c.GRPCEndpoint(), 50, 50*time.Millisecond)
		defer l.Stop()
		wait(5 * time.Second)
		// What an operator polling /status sees of the exporter.
		st := watchStatus(gw.c.HealthURL("/status"), "traces", "exporter:otlp_retry")
		defer st.Stop()
		var from, ended time.Time
		var circuit string
		s.run(t, scenario{name: "backend a black hole (hangs mid-stream: connection open, never answers), steady load", pod: gw.name,
			fire: []string{"OtlpcolCircuitOpen", "OtlpcolWriteAheadLogNotDraining"}, within: fireWithin, healAll: resolveWithin, minFault: 75 * time.Second},
			func() { b.Freeze(); from = time.Now() }, func() {
				ended = time.Now()
				circuit = circuitNote(circuitOpenedAfter(t, s, gw.name, from, ended))
				t.Logf("black hole: %s; %d exports accepted, %d failed", circuit, l.ok.Load(), l.fail.Load())
				b.Set(backendUp)
			})
		// /status during the fault: not ok by the time the circuit alert
		// fired (opening the circuit reports a recoverable error), and never
		// ok again while it lasted.
		notOKBy := ended
		if e := s.tr.fired("OtlpcolCircuitOpen", gw.name, from); e != nil {
			notOKBy = e.firedAt
		}
		firstBad, summary, err := judgeFault(st.between(from, ended), from, notOKBy)
		if err != nil {
			t.Errorf("black hole: exporter:otlp_retry on /status: %v (%s)", err, summary)
		}
		// ... and ok again once the backend answers (after the health
		// extension's recovery_duration, 30 s).
		okAfter := "no"
		deadline := ended.Add(resolveWithin)
		for {
			if at, ok := st.firstOK(ended); ok {
				okAfter = fmt.Sprintf("%.1f s", at.Sub(ended).Seconds())
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("black hole: /status did not say exporter:otlp_retry ok within %s of the backend answering again", resolveWithin)
				break
			}
			time.Sleep(time.Second)
		}
		st.Stop()
		t.Logf("black hole: /status exporter:otlp_retry not ok from %.1f s into the fault to its end (%s); ok %s after it", firstBad.Seconds(), summary, okAfter)
		s.note("OtlpcolCircuitOpen", gw.name, fmt.Sprintf("%s; /status: exporter not ok from %.0f s to the end, ok again %s after", circuit, firstBad.Seconds(), okAfter))
	}},
	{"flaky backend", func(t *testing.T, s *suite) {
		b := startBackend(t)
		gw := newPod(t, s.prom, "otlpcol-gateway-flaky", "gateway", t.TempDir(), gatewaySets, gatewayEnv(b)...)
		gw.start()
		l := startLoad(gw.c.GRPCEndpoint(), 20, 50*time.Millisecond)
		defer l.Stop()
		wait(5 * time.Second)
		s.run(t, scenario{name: "flaky backend (half the exports Unavailable)", pod: gw.name,
			fire: []string{"OtlpcolExportFailedAttempts"}, within: fireWithin, healAll: resolveWithin},
			func() { b.SetFailureRate(errUnavailable, 500) }, func() { b.SetFailure(nil) })
	}},
	{"quarantine filling", func(t *testing.T, s *suite) {
		b := startBackend(t)
		gw := newPod(t, s.prom, "otlpcol-gateway-invalid", "gateway", t.TempDir(), append(gatewaySets,
			"exporters::otlp_retry::quarantine::max_bytes=65536"), gatewayEnv(b)...)
		gw.start()
		l := startLoad(gw.c.GRPCEndpoint(), 20, 50*time.Millisecond)
		defer l.Stop()
		wait(5 * time.Second)
		s.run(t, scenario{name: "backend rejects everything as invalid; 64 KiB quarantine fills", pod: gw.name,
			fire: []string{"OtlpcolQuarantineGrowing", "OtlpcolDroppingData"}, within: fireWithin, healAll: resolveWithin},
			func() { b.SetFailure(errInvalid) }, func() { b.SetFailure(nil) })
	}},
	{"disk full", func(t *testing.T, s *suite) {
		if os.Geteuid() != 0 {
			for _, a := range []string{"OtlpcolDiskFull", "OtlpcolStateVolumeNearlyFull"} {
				s.add(row{Alert: a, Scenario: "not driven: mounting a small tmpfs needs root", Fired: "-", Resolved: "-"})
			}
			return
		}
		b := startBackend(t)
		dir := t.TempDir()
		state := filepath.Join(dir, "state")
		if err := os.MkdirAll(state, 0o700); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", state).CombinedOutput(); err != nil {
			t.Fatalf("mount tmpfs: %v %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("umount", "-l", state).Run() })
		// An ordinal name, as a StatefulSet pod has: its claim is
		// data-otlpcol-gateway-7, which the kubelet stand-in reports from
		// the tmpfs's statfs and OtlpcolStateVolumeNearlyFull matches
		// (data-otlpcol-gateway-N). The soak uses ordinals 0 and 1.
		gw := newPod(t, s.prom, "otlpcol-gateway-7", "gateway", dir, append(gatewaySets,
			"exporters::otlp_retry::persistent_queue::segment_bytes=262144"), gatewayEnv(b)...)
		t.Cleanup(s.prom.kube.mountClaim(namespace, "data-"+gw.name, state)) // before the unmount
		gw.start()
		l := startLoad(gw.c.GRPCEndpoint(), 100, 50*time.Millisecond)
		defer l.Stop()
		wait(3 * time.Second)
		s.run(t, scenario{name: "state on a 2 MiB tmpfs, backend down: the volume fills", pod: gw.name,
			fire: []string{"OtlpcolDiskFull", "OtlpcolStateVolumeNearlyFull"}, within: fireWithin, healAll: resolveWithin},
			func() { b.Set(backendDown) }, func() { b.Set(backendUp) })
	}},
	{"gateway killed, damaged log", func(t *testing.T, s *suite) {
		b := startBackend(t)
		b.Set(backendBlackHole)
		gw := newPod(t, s.prom, "otlpcol-gateway-crash", "gateway", t.TempDir(), append(gatewaySets,
			"exporters::otlp_retry::persistent_queue::segment_bytes=16384"), gatewayEnv(b)...)
		gw.start()
		l := startLoad(gw.c.GRPCEndpoint(), 20, 50*time.Millisecond)
		wait(8 * time.Second)
		l.Stop()
		s.run(t, scenario{name: "gateway killed (SIGKILL), its pod left in place", pod: gw.name,
			fire: []string{"OtlpcolDown"}, within: fireWithin, healAll: resolveWithin},
			gw.kill, gw.remove) // the pod object deleted: its target goes
		// Node loss: a segment of the log comes back damaged; the pod is
		// recreated (new address) on the same claim.
		s.run(t, scenario{name: "recreated pod finds a damaged log segment at start", pod: gw.name,
			// The damaged segment's records are set aside: accepted items
			// found nowhere, a gap the ledger keeps (it never resolves by
			// itself; docs/runbook.md says how to clear it).
			fire: []string{"OtlpcolWriteAheadLogDamaged", "OtlpcolLedgerUnbalanced"}, resolve: []string{"OtlpcolWriteAheadLogDamaged"},
			within: fireWithin, healAll: 200 * time.Second},
			func() {
				t.Logf("damaged %s", flipSegmentByte(t, gw.dir))
				b.Set(backendUp)
				gw.start()
			}, nil)
	}},
	{"replica scaled in with state left", func(t *testing.T, s *suite) {
		b := startBackend(t)
		gw := newPod(t, s.prom, "otlpcol-gateway-scalein", "gateway", t.TempDir(), gatewaySets, gatewayEnv(b)...)
		gw.start()
		b.Set(backendDown)
		l := startLoad(gw.c.GRPCEndpoint(), 20, 50*time.Millisecond)
		wait(8 * time.Second)
		l.Stop()
		s.run(t, scenario{name: "replica scaled in while its log holds records (backend down)", pod: gw.name,
			fire: []string{"OtlpcolStateOrphaned"}, within: fireWithin, healAll: resolveWithin},
			gw.stop, func() {
				// Scaled back up: the same ordinal on the same claim.
				b.Set(backendUp)
				gw.start()
			})
	}},
	{"trace registry full", func(t *testing.T, s *suite) {
		b := startBackend(t)
		gw := newPod(t, s.prom, "otlpcol-gateway-registry", "gateway", t.TempDir(), append(gatewaySets,
			"processors::trace_registry::max_traces=200", "processors::trace_registry::idle_timeout=5s"), gatewayEnv(b)...)
		gw.start()
		var l *load
		s.run(t, scenario{name: "more live traces than max_traces (200)", pod: gw.name,
			fire: []string{"OtlpcolTraceRegistryDegraded", "OtlpcolTraceRegistryEvicting"}, within: fireWithin, healAll: resolveWithin},
			func() { l = startLoad(gw.c.GRPCEndpoint(), 2, 20*time.Millisecond) }, func() { l.Stop() })
	}},
	{"memory limiter", func(t *testing.T, s *suite) {
		b := startBackend(t)
		gw := newPod(t, s.prom, "otlpcol-gateway-starved", "gateway", t.TempDir(), gatewaySets, gatewayEnv(b)...)
		var l *load
		s.run(t, scenario{name: "memory limit below the heap (memory_limiter limit_mib=2)", pod: gw.name,
			fire: []string{"OtlpcolMemoryLimiterRefusing", "OtlpcolRefusingSpans"}, within: fireWithin, healAll: resolveWithin},
			func() {
				gw.start("processors::memory_limiter::limit_percentage=0", "processors::memory_limiter::spike_limit_percentage=0",
					"processors::memory_limiter::limit_mib=2", "processors::memory_limiter::spike_limit_mib=1")
				l = startLoad(gw.c.GRPCEndpoint(), 20, 50*time.Millisecond)
			}, func() {
				// The limit raised: the pod restarts with the shipped limiter.
				gw.stop()
				gw.start()
				l.retarget(gw.c.GRPCEndpoint())
			})
		l.Stop()
	}},
	{"memory near its limit", func(t *testing.T, s *suite) {
		// The container's memory limit (kube-state-metrics, from the pod
		// spec) set just above what a real gateway under load holds
		// resident: 2% above its RSS when the fault begins, a pod sized too
		// tight. Raising it to the shipped limit (deploy/k8s/gateway,
		// 1Gi) is the runbook's remedy.
		b := startBackend(t)
		gw := newPod(t, s.prom, "otlpcol-gateway-tight", "gateway", t.TempDir(), gatewaySets, gatewayEnv(b)...)
		gw.start()
		l := startLoad(gw.c.GRPCEndpoint(), 50, 50*time.Millisecond)
		defer l.Stop()
		wait(5 * time.Second)
		shipped := shippedGatewayMemoryLimit(t)
		var rss float64
		s.run(t, scenario{name: "container memory limit 2% above the gateway's resident memory", pod: gw.name,
			fire: []string{"OtlpcolMemoryNearLimit"}, within: fireWithin, healAll: resolveWithin},
			func() {
				rss = residentBytes(t, s, gw.name)
				s.prom.kube.setMemoryLimit(namespace, gw.name, rss*1.02)
			}, func() { s.prom.kube.setMemoryLimit(namespace, gw.name, shipped) })
		s.note("OtlpcolMemoryNearLimit", gw.name, fmt.Sprintf("RSS %.0f MiB, limit %.0f MiB; raised to the shipped %.0f MiB",
			rss/(1<<20), rss*1.02/(1<<20), shipped/(1<<20)))
	}},
	{"agent, gateway down", func(t *testing.T, s *suite) {
		g := startBackend(t) // the gateway as the agent sees it
		ag := newPod(t, s.prom, "otlpcol-agent-queue", "agent", t.TempDir(), append(agentSets(g.Endpoint()),
			"exporters::load_balancing::sending_queue::queue_size=5000"))
		ag.start()
		l := startLoad(ag.c.GRPCEndpoint(), 50, 50*time.Millisecond)
		defer l.Stop()
		wait(5 * time.Second)
		s.run(t, scenario{name: "agent: gateway down, 5000-item queue fills", pod: ag.name,
			fire: []string{"OtlpcolQueueNearCapacity", "OtlpcolBacklogNotDraining"}, within: fireWithin, healAll: resolveWithin},
			func() { g.Set(backendDown) }, func() { g.Set(backendUp) })
	}},
	{"agent, gateway refuses", func(t *testing.T, s *suite) {
		g := startBackend(t)
		ag := newPod(t, s.prom, "otlpcol-agent-refused", "agent", t.TempDir(), agentSets(g.Endpoint()))
		ag.start()
		l := startLoad(ag.c.GRPCEndpoint(), 20, 50*time.Millisecond)
		defer l.Stop()
		wait(5 * time.Second)
		s.run(t, scenario{name: "agent: the gateway refuses spans as invalid (permanent)", pod: ag.name,
			fire: []string{"OtlpcolExporterSendFailures"}, within: fireWithin, healAll: resolveWithin},
			func() { g.SetFailure(errInvalid) }, func() { g.SetFailure(nil) })
	}},
	{"agent, damaged queue file", func(t *testing.T, s *suite) {
		g := startBackend(t)
		g.Set(backendDown)
		ag := newPod(t, s.prom, "otlpcol-agent-damaged", "agent", t.TempDir(), agentSets(g.Endpoint()))
		ag.start()
		l := startLoad(ag.c.GRPCEndpoint(), 100, 20*time.Millisecond)
		wait(6 * time.Second)
		l.Stop()
		ag.stop()
		var corrupt string
		s.run(t, scenario{name: "agent restarts on a damaged queue file (cut short)", pod: ag.name,
			fire: []string{"OtlpcolQueueStoreSetAside"}, within: fireWithin, healAll: resolveWithin},
			func() {
				files, _ := filepath.Glob(filepath.Join(ag.dir, "state", "*", "exporter_load_balancing_*traces"))
				if len(files) != 1 {
					t.Fatalf("agent queue files: %v", files)
				}
				st, err := os.Stat(files[0])
				page := int64(os.Getpagesize())
				if err != nil || st.Size() <= 8*page {
					t.Fatalf("queue file %s: %v, %d bytes (want > 8 pages)", files[0], err, st.Size())
				}
				if err := os.Truncate(files[0], 4*page); err != nil {
					t.Fatal(err)
				}
				corrupt = filepath.Join(filepath.Dir(files[0]), "corrupt")
				g.Set(backendUp)
				ag.start()
			}, func() {
				// An operator inspected the file and deletes it.
				if err := os.RemoveAll(corrupt); err != nil {
					t.Error(err)
				}
			})
	}},
}

// circuitOpenedAfter reads, from Prometheus, pod's highest circuit_state
// between from and to and how long after from it first read open (-1: never).
func circuitOpenedAfter(t *testing.T, s *suite, pod string, from, to time.Time) (float64, float64) {
	res, err := s.prom.queryRange(`max(otelcol_otlp_retry_circuit_state{pod="`+pod+`"})`, from, to, time.Second)
	if err != nil {
		t.Error(err)
	}
	maxState, openedAfter := -1.0, -1.0
	for _, r := range res {
		for _, v := range r.Values {
			f := parseF(v[1])
			maxState = max(maxState, f)
			if ts, _ := v[0].(float64); f >= 2 && openedAfter < 0 {
				openedAfter = ts - float64(from.UnixMilli())/1000
			}
		}
	}
	return maxState, openedAfter
}

func circuitNote(maxState, openedAfter float64) string {
	if maxState >= 2 {
		return fmt.Sprintf("circuit closed for the first %.0f s, then open", openedAfter)
	}
	return fmt.Sprintf("circuit_state stayed %v (0 closed) for the whole fault", maxState)
}

// residentBytes is pod's resident memory as its own metrics report it
// (otelcol_process_memory_rss_bytes, what OtlpcolMemoryNearLimit divides).
func residentBytes(t *testing.T, s *suite, pod string) float64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := s.prom.query(`otelcol_process_memory_rss_bytes{pod="` + pod + `"}`)
		if err == nil && len(res) == 1 {
			if v := parseF(res[0].Value[1]); v > 0 {
				return v
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no otelcol_process_memory_rss_bytes for %s: %v %v", pod, res, err)
		}
		time.Sleep(s.prom.interval)
	}
}

func parseF(v any) float64 {
	s, _ := v.(string)
	var f float64
	_, _ = fmtSscan(s, &f)
	return f
}
