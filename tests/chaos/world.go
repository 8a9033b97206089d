package chaos

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// Settings of the processes under test, and their resource budgets.
const (
	memLimitMiB = 256
	memSpikeMiB = 64
	// rssMarginMiB is what RSS may exceed the memory_limiter limit by: the
	// limiter watches the Go heap; RSS adds the runtime, stacks, mmaps and
	// freed pages not yet returned (the same margin as tests/reliability).
	rssMarginMiB = 160
	rssBudget    = (memLimitMiB + rssMarginMiB) << 20

	walMaxBytes   = 32 << 20 // per signal: the smallest otlp_retry takes
	segmentBytes  = 64 << 10
	deadLetterMax = 8 << 20
	quarantineMax = 4 << 20
	tmpfsBytes    = 128 << 20
	// tmpfsInodes is room for every file the state can need (segments of
	// three logs, dead-letter and quarantine files of a few KiB each).
	tmpfsInodes    = 16384
	shutdownLimit  = 30 * time.Second
	readyTimeout   = 60 * time.Second
	agentID        = 2
	processesCount = 3
)

// proc is one collector role of the world: gateway 0, gateway 1, or the agent.
type proc struct {
	name string
	id   int
	c    *harness.Collector
	port int // fixed gRPC receiver port
	// pprofPort: the pprof extension the campaign adds, for the goroutine
	// count (checkResources).
	pprofPort int
	dir       string // state directory
	// up says the process is meant to be running and serving: the health
	// monitor expects /health 200 only then.
	up atomic.Bool
	// baseline file descriptors, threads and goroutines (-1: not exposed),
	// read once healthy and drained.
	baseFDs, baseThreads, baseGoroutines int
	// peak is the highest VmHWM of any run of this role; peakThreads the
	// most OS threads seen (reported, not bounded: the Go runtime keeps
	// the threads blocking syscalls such as fdatasync made it start).
	peak        int64
	peakThreads int
}

// world is the system under test: clients -> agent -> two gateways ->
// backend, plus clients straight to the gateways.
type world struct {
	t       *testing.T
	root    string
	backend *Backend
	procs   [processesCount]*proc
	// ring lists the gateways in the agent's static resolver.
	ring   []int
	tmpfs  string // gateway 0's state directory when it is a tmpfs mount
	filler string // the file that fills the tmpfs during a disk-full step

	ledger  *Ledger
	answers *answers
	raw     []*rawClient
	marker  *rawClient
	giant   *rawClient
	// probeGRPC, probeHTTP send legitimate requests during hostile input.
	probeGRPC, probeHTTP *rawClient
	sdk                  *sdkClient
	stopLd               context.CancelFunc
	loadWG               sync.WaitGroup

	mu         sync.Mutex
	violations []string // found by monitors between checks
	setAside   map[string]bool
	damaged    []damaged
	duplicates int
}

func (w *world) violation(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.violations = append(w.violations, fmt.Sprintf(format, args...))
}

func (w *world) takeViolations() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	v := w.violations
	w.violations = nil
	return v
}

// newWorld starts the backend, both gateways (gateway 0's state on a small
// tmpfs when the machine allows a mount) and the agent, then the clients.
func newWorld(t *testing.T) (*world, error) {
	w := &world{t: t, root: t.TempDir(), ledger: newLedger(), setAside: map[string]bool{},
		answers: &answers{byOutcome: map[string]int{}}}
	b, err := NewBackend(harness.FreePort(t))
	if err != nil {
		return nil, err
	}
	w.backend = b
	t.Cleanup(b.Stop)
	for i := range processesCount {
		p := &proc{id: i, port: harness.FreePort(t), pprofPort: harness.FreePort(t), dir: filepath.Join(w.root, fmt.Sprintf("p%d", i))}
		p.name = fmt.Sprintf("gateway%d", i)
		if i == agentID {
			p.name = "agent"
		}
		if err := os.MkdirAll(p.dir, 0o755); err != nil {
			return nil, err
		}
		w.procs[i] = p
	}
	w.mountTmpfs()
	w.ring = []int{0, 1}
	for i := range processesCount {
		if err := w.start(i); err != nil {
			return nil, err
		}
	}
	go w.monitorHealth(t.Context())
	return w, nil
}

// mountTmpfs puts gateway 0's state on a tmpfs of tmpfsBytes, for the
// disk-full faults; without the right to mount, those faults are skipped.
func (w *world) mountTmpfs() {
	dir := w.procs[0].dir
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,nr_inodes=%d", tmpfsBytes, tmpfsInodes), "tmpfs", dir).CombinedOutput()
	if err != nil {
		w.t.Logf("chaos: no tmpfs for gateway0 (%v: %s): disk-full faults are skipped", err, out)
		return
	}
	w.tmpfs = dir
	w.t.Cleanup(func() {
		// Lazy: a process killed a moment ago may still hold a file.
		_ = exec.Command("umount", "-l", dir).Run()
	})
}

func (w *world) gatewaySets(p *proc) []string {
	return append(harness.GatewaySets(p.dir),
		"exporters::otlp_retry::timeout=3s",
		"processors::memory_limiter::limit_percentage=0",
		"processors::memory_limiter::spike_limit_percentage=0",
		fmt.Sprintf("processors::memory_limiter::limit_mib=%d", memLimitMiB),
		fmt.Sprintf("processors::memory_limiter::spike_limit_mib=%d", memSpikeMiB),
		"exporters::otlp_retry::retry_on_failure::initial_interval=200ms",
		"exporters::otlp_retry::retry_on_failure::max_interval=2s",
		"exporters::otlp_retry::circuit_breaker::open_duration=2s",
		"exporters::otlp_retry::dead_letter::replay_interval=1s",
		fmt.Sprintf("exporters::otlp_retry::dead_letter::max_bytes=%d", deadLetterMax),
		fmt.Sprintf("exporters::otlp_retry::quarantine::max_bytes=%d", quarantineMax),
		fmt.Sprintf("exporters::otlp_retry::persistent_queue::max_bytes=%d", walMaxBytes),
		fmt.Sprintf("exporters::otlp_retry::persistent_queue::segment_bytes=%d", segmentBytes),
		"exporters::otlp_retry::persistent_queue::drain_timeout=2s",
	)
}

func (w *world) agentSets(p *proc) []string {
	queue := filepath.Join(p.dir, "queue")
	hosts := ""
	for i, g := range w.ring {
		if i > 0 {
			hosts += ","
		}
		hosts += fmt.Sprintf("127.0.0.1:%d", w.procs[g].port)
	}
	return []string{
		"extensions::guarded_file_storage/queue::directory=" + queue,
		"extensions::guarded_file_storage/queue::compaction::directory=" + queue,
		"exporters::load_balancing::resolver::k8s=null",
		"exporters::load_balancing::resolver::static::hostnames=[" + hosts + "]",
		"exporters::load_balancing::retry_on_failure::initial_interval=200ms",
		"exporters::load_balancing::retry_on_failure::max_interval=1s",
		fmt.Sprintf("exporters::otlp_grpc/gateway::endpoint=127.0.0.1:%d", w.procs[0].port),
		"extensions::health::drain_delay=0s",
		"processors::memory_limiter::limit_percentage=0",
		"processors::memory_limiter::spike_limit_percentage=0",
		fmt.Sprintf("processors::memory_limiter::limit_mib=%d", memLimitMiB),
		fmt.Sprintf("processors::memory_limiter::spike_limit_mib=%d", memSpikeMiB),
	}
}

// start runs process i on its fixed gRPC port and waits until it is ready.
func (w *world) start(i int) error {
	p := w.procs[i]
	opts := harness.Options{GRPCPort: p.port}
	config := harness.Config("gateway.yaml")
	if i == agentID {
		config = harness.Config("agent.yaml")
		opts.Set = w.agentSets(p)
	} else {
		opts.Set = w.gatewaySets(p)
		opts.Env = []string{"OTLP_ENDPOINT=" + w.backend.Endpoint(), "API_KEY=chaos"}
	}
	pprof, err := withPprof(config, p.pprofPort)
	if err != nil {
		return err
	}
	opts.Set = append(opts.Set, pprof...)
	p.c = harness.Start(w.t, config, opts)
	deadline := time.Now().Add(readyTimeout)
	for {
		if p.c.Exited() {
			if p.c.RestartOnBindConflict() {
				continue
			}
			return fmt.Errorf("%s exited at start:\n%s", p.name, tail(p.c.Output(), 30))
		}
		if code, _, err := harness.Get(p.c.HealthURL("/ready")); err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s:\n%s", p.name, readyTimeout, tail(p.c.Output(), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.up.Store(true)
	return nil
}

// withPprof: the --set values that add the pprof extension on port to the
// config's own extensions, so that the campaign can count goroutines.
func withPprof(config string, port int) ([]string, error) {
	ext, err := harness.ServiceExtensions(config)
	if err != nil {
		return nil, err
	}
	return []string{
		fmt.Sprintf("extensions::pprof::endpoint=127.0.0.1:%d", port),
		"service::extensions=[" + strings.Join(append(ext, "pprof"), ",") + "]",
	}, nil
}

// kill ends process i with SIGKILL.
func (w *world) kill(i int) {
	p := w.procs[i]
	p.up.Store(false)
	w.notePeak(p)
	p.c.Kill()
}

// term stops process i with SIGTERM; a shutdown that takes longer than
// shutdownLimit is a violation (the process is then killed).
func (w *world) term(i int) {
	p := w.procs[i]
	p.up.Store(false)
	w.notePeak(p)
	start := time.Now()
	p.c.Signal(syscall.SIGTERM)
	err, ok := p.c.Wait(shutdownLimit)
	if !ok {
		// SIGQUIT makes the Go runtime print every goroutine: the
		// hang's stack, kept in a file for the report.
		p.c.Signal(syscall.SIGQUIT)
		_, _ = p.c.Wait(5 * time.Second)
		p.c.Kill()
		dump := w.saveLog(p, "shutdown-hang")
		w.violation("%s: shutdown hang: still running %s after SIGTERM (log and goroutine dump: %s); last lines:\n%s",
			p.name, shutdownLimit, dump, tail(p.c.Output(), 8))
		return
	}
	if err != nil {
		w.violation("%s: unclean exit after SIGTERM (%v, after %s):\n%s", p.name, err, time.Since(start).Round(time.Millisecond), tail(p.c.Output(), 20))
	}
}

// saveLog writes process p's output to a file that outlives the test and
// returns its path.
func (w *world) saveLog(p *proc, what string) string {
	f, err := os.CreateTemp("", fmt.Sprintf("chaos-%s-%s-*.log", p.name, what))
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	_, _ = f.WriteString(p.c.Output())
	return f.Name()
}

func (w *world) notePeak(p *proc) {
	if v, err := p.c.PeakRSS(); err == nil && v > p.peak {
		p.peak = v
	}
}

// monitorHealth polls /health of every process meant to be up; two
// failures in a row (5 s each at most) are a violation.
func (w *world) monitorHealth(ctx context.Context) {
	fails := make([]int, processesCount)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for i, p := range w.procs {
			if !p.up.Load() {
				fails[i] = 0
				continue
			}
			c := p.c
			code, body, err := harness.Get(c.HealthURL("/health"))
			if !p.up.Load() || c != p.c {
				fails[i] = 0
				continue // stopped meanwhile
			}
			if err == nil && code == http.StatusOK {
				fails[i] = 0
				continue
			}
			fails[i]++
			if fails[i] == 2 {
				w.violation("%s: /health answered %d %q (%v) twice in a row while it should be up; exited=%v", p.name, code, body, err, c.Exited())
			}
		}
	}
}

// startLoad starts the clients: raw gRPC and HTTP clients of all three
// signals to each gateway and to the agent, a Go SDK application to the
// agent, and the marker and giant-label clients (idle until a step wakes
// them).
func (w *world) startLoad() error {
	ctx, cancel := context.WithCancel(context.Background())
	w.stopLd = cancel
	grpcEP := func(i int) func() string {
		return func() string { return fmt.Sprintf("127.0.0.1:%d", w.procs[i].port) }
	}
	httpEP := func(i int) func() string { return func() string { return w.procs[i].c.HTTPEndpoint() } }
	mk := func(name string, http bool, ep func() string) *rawClient {
		return &rawClient{name: name, http: http, endpoint: ep, ledger: w.ledger, answers: w.answers, pad: padBytes}
	}
	w.raw = []*rawClient{
		mk("g0grpc", false, grpcEP(0)),
		// HTTP has no deadline of its own: a request the collector never
		// answers shows as one (gRPC clients end it at their deadline).
		mk("g0http", true, httpEP(0)),
		mk("g1http", true, httpEP(1)),
		mk("agrpc", false, grpcEP(agentID)),
		mk("ahttp", true, httpEP(agentID)),
	}
	w.marker = mk("mark", false, grpcEP(0))
	w.marker.marker = true
	w.giant = mk("giant", false, grpcEP(0))
	w.giant.pad = giantLabelBytes
	w.probeGRPC = mk("probegrpc", false, grpcEP(0))
	w.probeHTTP = mk("probehttp", true, httpEP(0))
	sdk, err := newSDKClient("sdk", fmt.Sprintf("127.0.0.1:%d", w.procs[agentID].port), w.ledger)
	if err != nil {
		cancel()
		return err
	}
	w.sdk = sdk
	for _, c := range append(w.raw, w.marker) {
		w.loadWG.Add(1)
		go func() { defer w.loadWG.Done(); c.run(ctx) }()
	}
	w.loadWG.Add(1)
	go func() { defer w.loadWG.Done(); sdk.run(ctx) }()
	return nil
}

// stopLoad stops every client and flushes the SDK: from then on the set of
// acknowledged items is final.
func (w *world) stopLoad() {
	if w.stopLd == nil {
		return
	}
	w.stopLd()
	w.loadWG.Wait()
	w.sdk.shutdown()
	w.stopLd = nil
}

// close stops every process (SIGTERM, checked for hangs) and the backend.
// CHAOS_KEEP_LOGS=1 keeps each process's last output in a file.
func (w *world) close() {
	w.stopLoad()
	for i, p := range w.procs {
		if p.c != nil && !p.c.Exited() {
			w.term(i)
			if os.Getenv("CHAOS_KEEP_LOGS") == "1" {
				w.t.Logf("chaos: %s output: %s", p.name, w.saveLog(p, "end"))
			}
		}
	}
}

func tail(s string, n int) string {
	lines := 0
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			lines++
			if lines > n {
				return s[i+1:]
			}
		}
	}
	return s
}
