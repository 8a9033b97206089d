// Package harness runs the built bin/otlpcol for tests: free ports, readiness
// waits, scraping, and a stop that always happens, even when a test fails.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/otlpcol/otlpcol/components/pkg/promtext"
)

// RepoRoot is the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binary is the otlpcol binary under test: $OTLPCOL_BIN, else bin/otlpcol.
// `make test` builds it first; a test run without it fails with a clear hint.
func Binary(t TB) string {
	t.Helper()
	bin := os.Getenv("OTLPCOL_BIN")
	if bin == "" {
		bin = filepath.Join(RepoRoot(), "bin", "otlpcol")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("otlpcol binary %s not found (run `make build` or set OTLPCOL_BIN): %v", bin, err)
	}
	return bin
}

// Config returns the path of a file in configs/.
func Config(name string) string { return filepath.Join(RepoRoot(), "configs", name) }

// TB is what Start needs of its caller, a subset of testing.TB: a test
// passes its *testing.T; the bench passes its round, which fails and
// cleans up the same way without being a test.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	Failed() bool
}

// Collector is one running otlpcol process.
type Collector struct {
	t      TB
	config string
	opts   Options
	run    atomic.Pointer[run] // the current process; replaced by a restart after a bind conflict
	tries  int

	GRPCPort      int // OTLP gRPC receiver
	HTTPPort      int // OTLP HTTP receiver
	HealthPort    int // health extension
	TelemetryPort int // internal telemetry (Prometheus)
}

// run is one start of the process.
type run struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
	peak *peakWatch
}

// Options change how Start runs the collector.
type Options struct {
	// Overlays are more config files merged over config, in order (the
	// collector's repeated --config), e.g. configs/mtls/gateway.yaml.
	Overlays []string
	// Set holds extra --set key=value overrides.
	Set []string
	// Wrapper, when set, is the command that runs the binary: the binary
	// and its arguments follow it (e.g. unshare, to give the process a
	// mount namespace of its own).
	Wrapper []string
	// Env holds extra environment variables (KEY=value).
	Env []string
	// NoReceiverPorts skips the otlp receiver --set overrides, for configs
	// whose receivers are named otherwise.
	NoReceiverPorts bool
	// NoHealthPort skips the health extension --set override.
	NoHealthPort bool
	// GRPCPort fixes the OTLP gRPC receiver's port (from FreePort), for a
	// collector restarted on the port its clients know; 0 picks one.
	GRPCPort int
	// Cgroup runs the process inside this memory cgroup from its first
	// instruction (MemoryCgroup), as a container runtime would.
	Cgroup *Cgroup
}

// Start runs bin/otlpcol on config with fresh loopback ports for the OTLP
// receiver, the health extension and internal telemetry; the process is
// killed when the test ends. Should the process fail to bind one of the
// ports the harness picked (another process took it all the same), WaitHTTP
// and WaitReady start it again on fresh ports.
func Start(t TB, config string, opts Options) *Collector {
	t.Helper()
	checkStateMoved(t, config, opts.Set)
	c := &Collector{t: t, config: config, opts: opts}
	c.pickPorts()
	c.launch()
	t.Cleanup(func() {
		c.Kill()
		if t.Failed() {
			t.Logf("otlpcol output (last 60 lines):\n%s", lastLines(c.Output(), 60))
		}
	})
	return c
}

// pickPorts chooses fresh ports for every port the harness owns.
func (c *Collector) pickPorts() {
	c.GRPCPort = c.opts.GRPCPort
	if c.GRPCPort == 0 {
		c.GRPCPort = FreePort(c.t)
	}
	c.HTTPPort = FreePort(c.t)
	c.HealthPort = FreePort(c.t)
	c.TelemetryPort = FreePort(c.t)
	notePicked(c.ownedPorts()...)
}

// ownedPorts are the ports the harness picked and may change on a restart.
func (c *Collector) ownedPorts() []int {
	owned := []int{c.TelemetryPort}
	if !c.opts.NoReceiverPorts {
		if c.opts.GRPCPort == 0 {
			owned = append(owned, c.GRPCPort)
		}
		owned = append(owned, c.HTTPPort)
	}
	if !c.opts.NoHealthPort {
		owned = append(owned, c.HealthPort)
	}
	return owned
}

func (c *Collector) launch() {
	c.t.Helper()
	args := []string{"--config", c.config}
	for _, o := range c.opts.Overlays {
		args = append(args, "--config", o)
	}
	if !c.opts.NoReceiverPorts {
		args = append(args,
			"--set", fmt.Sprintf("receivers::otlp::protocols::grpc::endpoint=127.0.0.1:%d", c.GRPCPort),
			"--set", fmt.Sprintf("receivers::otlp::protocols::http::endpoint=127.0.0.1:%d", c.HTTPPort))
	}
	if !c.opts.NoHealthPort {
		args = append(args, "--set", fmt.Sprintf("extensions::health::endpoint=127.0.0.1:%d", c.HealthPort))
	}
	for _, s := range c.opts.Set {
		args = append(args, "--set", s)
	}
	r := &run{out: &syncBuffer{}, done: make(chan struct{})}
	bin, pre := Binary(c.t), []string(nil)
	if w := c.opts.Wrapper; len(w) > 0 {
		bin, pre = w[0], append(w[1:len(w):len(w)], Binary(c.t))
	}
	r.cmd = exec.Command(bin, append(pre, args...)...)
	if c.opts.Cgroup != nil {
		// The shell joins the cgroup, then execs the collector in its
		// place (same PID), so nothing runs outside the limit.
		r.cmd = exec.Command("/bin/sh", append([]string{"-c", `echo $$ > "$0" && exec "$@"`, c.opts.Cgroup.ProcsFile(), bin}, append(pre, args...)...)...)
	}
	r.cmd.Env = append(os.Environ(), fmt.Sprintf("OTLPCOL_TELEMETRY_PORT=%d", c.TelemetryPort))
	r.cmd.Env = append(r.cmd.Env, c.opts.Env...)
	r.cmd.Stdout = r.out
	r.cmd.Stderr = r.out
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		c.t.Fatalf("start otlpcol: %v", err)
	}
	r.peak = watchPeak(r.cmd.Process.Pid, r.done)
	go func() { r.err = r.cmd.Wait(); close(r.done) }()
	c.run.Store(r)
}

// RestartOnBindConflict starts the process again on fresh ports when it
// ended because one of the harness's ports was taken; it reports whether it
// did. Ports a test fixed itself are never changed. WaitReady calls it; a
// caller that waits for readiness otherwise (no health extension) can too.
func (c *Collector) RestartOnBindConflict() bool {
	c.t.Helper()
	r := c.run.Load()
	port, ok := BindConflict(r.out.String(), c.ownedPorts()...)
	if !ok || c.tries >= maxBindTries {
		return false
	}
	c.tries++
	c.t.Logf("otlpcol could not bind port %d (taken by another process): starting it again on fresh ports", port)
	c.pickPorts()
	c.launch()
	return true
}

// GRPCEndpoint is host:port of the OTLP gRPC receiver.
func (c *Collector) GRPCEndpoint() string { return fmt.Sprintf("127.0.0.1:%d", c.GRPCPort) }

// HTTPEndpoint is the base URL of the OTLP HTTP receiver.
func (c *Collector) HTTPEndpoint() string { return fmt.Sprintf("http://127.0.0.1:%d", c.HTTPPort) }

// HealthURL is the health extension's URL for path.
func (c *Collector) HealthURL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", c.HealthPort, path)
}

// TelemetryURL is the internal telemetry Prometheus endpoint.
func (c *Collector) TelemetryURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/metrics", c.TelemetryPort)
}

// Output is everything the process wrote so far (since its last start).
func (c *Collector) Output() string { return c.run.Load().out.String() }

// Exited reports whether the process has ended.
func (c *Collector) Exited() bool {
	select {
	case <-c.run.Load().done:
		return true
	default:
		return false
	}
}

// Wait waits up to timeout for the process to end and returns its error.
func (c *Collector) Wait(timeout time.Duration) (error, bool) {
	r := c.run.Load()
	select {
	case <-r.done:
		return r.err, true
	case <-time.After(timeout):
		return nil, false
	}
}

// WaitReady polls the health extension's /ready until it answers 200. A
// process that ended because one of the harness's ports was taken is
// started again on fresh ports (read the ports after WaitReady).
func (c *Collector) WaitReady(timeout time.Duration) {
	c.t.Helper()
	c.waitHTTP(func() string { return c.HealthURL("/ready") }, http.StatusOK, timeout, true)
}

// WaitHTTP polls url until it answers with status, the process ends, or timeout.
func (c *Collector) WaitHTTP(url string, status int, timeout time.Duration) {
	c.t.Helper()
	c.waitHTTP(func() string { return url }, status, timeout, false)
}

func (c *Collector) waitHTTP(url func() string, status int, timeout time.Duration, restart bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		if c.Exited() {
			if restart && c.RestartOnBindConflict() {
				continue
			}
			err, _ := c.Wait(0)
			c.t.Fatalf("otlpcol exited while waiting for %s: %v\n%s", url(), err, lastLines(c.Output(), 40))
		}
		code, body, err := Get(url())
		if err == nil && code == status {
			return
		}
		last = fmt.Sprintf("%d %s %v", code, strings.TrimSpace(body), err)
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s did not answer %d within %s (last: %s)", url(), status, timeout, last)
}

// Signal sends sig to the process, reading its peak RSS first.
func (c *Collector) Signal(sig os.Signal) {
	r := c.run.Load()
	if r.cmd.Process != nil && !c.Exited() {
		r.peak.read()
		_ = r.cmd.Process.Signal(sig)
	}
}

// Stop sends SIGTERM and waits up to timeout for a clean exit; it kills the
// process if it does not end in time and fails the test on an unclean exit.
func (c *Collector) Stop(timeout time.Duration) {
	c.t.Helper()
	c.Signal(syscall.SIGTERM)
	err, ok := c.Wait(timeout)
	if !ok {
		c.Kill()
		c.t.Fatalf("otlpcol did not stop within %s after SIGTERM", timeout)
	}
	if err != nil {
		c.t.Fatalf("otlpcol exited uncleanly: %v\n%s", err, lastLines(c.Output(), 40))
	}
}

// Kill ends the process (and its group) with SIGKILL and waits for it.
func (c *Collector) Kill() {
	r := c.run.Load()
	if r.cmd.Process == nil || c.Exited() {
		return
	}
	r.peak.read()
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	<-r.done
}

// Get fetches url and returns the status code and body.
func Get(url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// MetricValue scrapes a Prometheus text endpoint and sums the samples of the
// series named name whose labels contain every given label (`key="value"`).
// It returns false when no sample matches.
func MetricValue(t testing.TB, url, name string, labels ...string) (float64, bool) {
	t.Helper()
	code, body, err := Get(url)
	if err != nil || code != http.StatusOK {
		t.Fatalf("scrape %s: %d %v", url, code, err)
	}
	v, ok, err := sumSamples(body, name, labels...)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return v, ok
}

// SumSamples sums the samples of series name in Prometheus text exposition
// (read with the Prometheus project's parser, through promtext) whose
// labels include every given label, each written as in the exposition:
// key="value", with its escapes. Histograms are flattened as Prometheus
// stores them (name_bucket{le="+Inf"}, name_sum, name_count). It returns
// false when no sample matches or the exposition does not parse; a label
// not written key="value" is the caller's mistake, and panics.
func SumSamples(exposition, name string, labels ...string) (float64, bool) {
	v, ok, err := sumSamples(exposition, name, labels...)
	if errors.Is(err, errLabelSyntax) {
		panic(err)
	}
	return v, ok
}

var errLabelSyntax = errors.New(`want key="value"`)

func sumSamples(exposition, name string, labels ...string) (float64, bool, error) {
	want := make(map[string]string, len(labels))
	for _, l := range labels {
		k, quoted, ok := strings.Cut(l, "=")
		v, err := strconv.Unquote(quoted)
		if !ok || err != nil {
			return 0, false, fmt.Errorf("label %s: %w", l, errLabelSyntax)
		}
		want[k] = v
	}
	samples, err := promtext.Samples(strings.NewReader(exposition))
	if err != nil {
		return 0, false, err
	}
	v, ok := promtext.Sum(samples, name, want)
	return v, ok, nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
