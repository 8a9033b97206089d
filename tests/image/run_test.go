package image

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// container is one otlpcol container of the test, on harness ports.
type container struct {
	t    *testing.T
	p    *podman
	name string

	grpcPort, httpPort, healthPort, telemetryPort int
}

// runGateway starts the image's default command (configs/gateway.yaml) in a
// container as Kubernetes would run it: the image's user, a read-only root
// filesystem, the state directory on volume vol, the backend and API key
// from the environment. Only what a loopback test needs is changed: the
// ports move to harness ports with --set (host network, so the test reaches
// them on 127.0.0.1), and the backend is the plaintext sink.
func runGateway(t *testing.T, p *podman, ref string, cmd []string, sink *harness.Sink, vol, name string) *container {
	t.Helper()
	c := &container{t: t, p: p, name: name,
		grpcPort: harness.FreePort(t), httpPort: harness.FreePort(t),
		healthPort: harness.FreePort(t), telemetryPort: harness.FreePort(t)}
	args := []string{"run", "--detach", "--name", name,
		"--network", "host", "--read-only",
		// The machine lacks CAP_SYS_RESOURCE: runc fails on setrlimit
		// without explicit limits.
		"--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096",
		"--volume", vol + ":/var/lib/otlpcol",
		"--env", "OTLP_ENDPOINT=" + sink.GRPCEndpoint(),
		"--env", "API_KEY=image-test",
		"--env", "OTLPCOL_TELEMETRY_PORT=" + strconv.Itoa(c.telemetryPort),
		ref}
	args = append(args, cmd...)
	args = append(args,
		"--set", fmt.Sprintf("receivers::otlp::protocols::grpc::endpoint=127.0.0.1:%d", c.grpcPort),
		"--set", fmt.Sprintf("receivers::otlp::protocols::http::endpoint=127.0.0.1:%d", c.httpPort),
		"--set", fmt.Sprintf("extensions::health::endpoint=127.0.0.1:%d", c.healthPort),
		"--set", "exporters::otlp_retry::tls::insecure=true")
	p.must(2*time.Minute, args...)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := p.run(time.Minute, "logs", "--tail", "60", name)
			t.Logf("container %s logs (last 60 lines):\n%s", name, logs)
		}
	})
	return c
}

// waitHTTP polls the health extension's path until it answers 200, failing
// the test when the container ends first or timeout passes.
func (c *container) waitHTTP(path string, timeout time.Duration) {
	c.t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d%s", c.healthPort, path)
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for i := 0; time.Now().Before(deadline); i++ {
		code, body, err := harness.Get(url)
		if err == nil && code == http.StatusOK {
			return
		}
		last = fmt.Sprintf("%d %s %v", code, strings.TrimSpace(body), err)
		if i%10 == 9 && c.inspect("{{.State.Running}}") != "true" {
			c.t.Fatalf("container %s ended while waiting for %s (exit code %s)", c.name, path, c.inspect("{{.State.ExitCode}}"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.t.Fatalf("%s did not answer 200 within %s (last: %s)", url, timeout, last)
}

func (c *container) inspect(format string) string {
	c.t.Helper()
	return c.p.must(time.Minute, "inspect", "--format", format, c.name)
}

// stop is `podman stop`: SIGTERM (the image sets no other stop signal), and
// SIGKILL only after timeout. It fails the test unless the process exited
// by itself with status 0, and returns how long the stop took.
func (c *container) stop(timeout time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	c.p.must(timeout+time.Minute, "stop", "--time", strconv.Itoa(int(timeout.Seconds())), c.name)
	took := time.Since(start)
	require.Less(c.t, took, timeout, "otlpcol did not stop on SIGTERM within %s: podman killed it", timeout)
	require.Equal(c.t, "0", c.inspect("{{.State.ExitCode}}"), "exit code after SIGTERM")
	return took
}

// procStatus returns the container process's /proc/<pid>/status fields.
func (c *container) procStatus() map[string]string {
	c.t.Helper()
	pid := c.inspect("{{.State.Pid}}")
	b, err := os.ReadFile("/proc/" + pid + "/status")
	require.NoError(c.t, err)
	fields := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return fields
}

// mountOptions returns the options of the container's mount on target.
func (c *container) mountOptions(target string) string {
	c.t.Helper()
	pid := c.inspect("{{.State.Pid}}")
	b, err := os.ReadFile("/proc/" + pid + "/mountinfo")
	require.NoError(c.t, err)
	opts := ""
	for _, line := range strings.Split(string(b), "\n") {
		// id parent major:minor root mountpoint options ...
		if f := strings.Fields(line); len(f) > 5 && f[4] == target {
			opts = f[5] // the last mount on target is the one in use
		}
	}
	require.NotEmpty(c.t, opts, "no mount on %s in the container", target)
	return opts
}

// batches returns trace batches from..to-1 (10 spans each) and their span IDs.
func batches(from, to int) ([]ptrace.Traces, []string) {
	var tds []ptrace.Traces
	var ids []string
	for b := from; b < to; b++ {
		td := harness.TraceBatch("image-test", b, 10)
		for sp := range harness.Spans(td) {
			ids = append(ids, sp.SpanID().String())
		}
		tds = append(tds, td)
	}
	return tds, ids
}

// requireDelivered fails unless the sink holds every span of ids.
func requireDelivered(t *testing.T, sink *harness.Sink, ids []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var missing int
	for {
		got := sink.SpanIDs()
		missing = 0
		for _, id := range ids {
			if got[id] == 0 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.Zero(t, missing, "spans accepted but not delivered (of %d)", len(ids))
}

// TestRunGateway runs the host architecture's image, loaded from the OCI
// archive with `podman load`, on the shipped gateway config against a
// loopback backend: as uid 65532 on a read-only root, probes answer, a
// trace goes through, a SIGTERM stop delivers what was accepted, and what
// the backend could not take before a stop waits on the volume for the next
// container.
func TestRunGateway(t *testing.T) {
	o := record(t)
	a := loadArchive(t)
	cmd := a.image(t, runtime.GOARCH).config.Config.Cmd
	p := newPodman(t)
	timings := map[string]time.Duration{}
	defer func() {
		var parts []string
		for _, k := range []string{"load", "start to ready", "stop (backend up)", "stop (backend down)", "restart to ready", "replay"} {
			t.Logf("%-20s %6.1f s", k, timings[k].Seconds())
			parts = append(parts, fmt.Sprintf("%s %.1f s", k, timings[k].Seconds()))
		}
		o.Measured = "linux/" + runtime.GOARCH + ", podman load: " + strings.Join(parts, ", ")
	}()

	start := time.Now()
	out := p.must(5*time.Minute, "load", "--input", archivePath(t))
	timings["load"] = time.Since(start)
	ref := "localhost/" + imageName(t)
	require.Contains(t, out, ref, "podman load names the image as the archive says")
	require.Equal(t, runtime.GOARCH, p.must(time.Minute, "image", "inspect", "--format", "{{.Architecture}}", ref),
		"podman load picks the host's image from the manifest list")

	sink := harness.StartSink(t)
	const vol = "otlpcol-state"
	p.must(time.Minute, "volume", "create", vol)

	start = time.Now()
	c := runGateway(t, p, ref, cmd, sink, vol, "otlpcol-1")
	c.waitHTTP("/health", 2*time.Minute)
	c.waitHTTP("/ready", 2*time.Minute)
	timings["start to ready"] = time.Since(start)

	st := c.procStatus()
	require.Equal(t, "65532 65532 65532 65532", st["Uid"], "the process runs as the image's user")
	require.Equal(t, "65532 65532 65532 65532", st["Gid"])
	require.Contains(t, strings.Split(c.mountOptions("/"), ","), "ro", "the root filesystem is read-only")
	require.Contains(t, strings.Split(c.mountOptions("/var/lib/otlpcol"), ","), "rw", "the state volume is writable")

	// A trace in, delivered.
	tds, up := batches(0, 20)
	harness.ExportTraces(t, c.grpcEndpoint(), tds...)
	requireDelivered(t, sink, up, 2*time.Minute)

	// Accepted right before SIGTERM: delivered by the time the stop ends.
	tds, last := batches(20, 40)
	harness.ExportTraces(t, c.grpcEndpoint(), tds...)
	timings["stop (backend up)"] = c.stop(90 * time.Second)
	requireDelivered(t, sink, last, 0)

	// Backend down: accepted into the write-ahead log on the volume, kept
	// there through a clean stop, delivered by the next container.
	c2 := runGateway(t, p, ref, cmd, sink, vol, "otlpcol-2")
	c2.waitHTTP("/ready", 2*time.Minute)
	sink.SetFailure(errors.New("backend down"))
	tds, held := batches(40, 60)
	harness.ExportTraces(t, c2.grpcEndpoint(), tds...)
	timings["stop (backend down)"] = c2.stop(90 * time.Second)
	got := sink.SpanIDs()
	kept := 0
	for _, id := range held {
		if got[id] == 0 {
			kept++
		}
	}
	require.Equal(t, len(held), kept, "the backend refused everything: every accepted span waits on the volume")
	sink.SetFailure(nil)

	start = time.Now()
	c3 := runGateway(t, p, ref, cmd, sink, vol, "otlpcol-3")
	c3.waitHTTP("/ready", 2*time.Minute)
	timings["restart to ready"] = time.Since(start)
	start = time.Now()
	requireDelivered(t, sink, held, 2*time.Minute)
	timings["replay"] = time.Since(start)
	c3.stop(90 * time.Second)
}

func (c *container) grpcEndpoint() string { return fmt.Sprintf("127.0.0.1:%d", c.grpcPort) }
