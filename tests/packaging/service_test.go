package packaging

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// service is the unit's ExecStart run by hand: systemd is not PID 1 on the
// test machine, so setpriv does what the unit's User=, Group=,
// NoNewPrivileges= and CapabilityBoundingSet= do, with the unit's
// EnvironmentFile= and WorkingDirectory=. The unit file itself is what
// systemd-analyze checks.
type service struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error
}

func startService(t *testing.T, u unit) *service {
	t.Helper()
	pw, err := user.Lookup(u.user)
	require.NoError(t, err)
	args := append([]string{
		"--reuid=" + u.user, "--regid=" + u.group, "--init-groups",
		"--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--",
	}, u.execStart...)
	s := &service{out: &lockedBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command("setpriv", args...)
	s.cmd.Dir = u.workDir
	// systemd's environment for a User= service, then the env file.
	s.cmd.Env = append([]string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + pw.HomeDir, "USER=" + u.user, "LOGNAME=" + u.user, "SHELL=/usr/sbin/nologin",
	}, readEnvFile(t, u.envF)...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, s.cmd.Start())
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("otlpcol output:\n%s", s.out.String())
		}
	})
	return s
}

func (s *service) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *service) kill() {
	if !s.exited() {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

// waitHTTP polls url until it answers 200; it fails when the process ends first.
func (s *service) waitHTTP(t *testing.T, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		if s.exited() {
			t.Fatalf("otlpcol exited while waiting for %s: %v\n%s", url, s.err, s.out.String())
		}
		code, body, err := harness.Get(url)
		if err == nil && code == http.StatusOK {
			return
		}
		last = fmt.Sprintf("%d %s %v", code, strings.TrimSpace(body), err)
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200 within %s (last: %s)", url, timeout, last)
}

// stop sends SIGTERM, as systemctl stop does, and wants a clean exit within
// the unit's TimeoutStopSec.
func (s *service) stop(t *testing.T, timeout time.Duration) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		require.NoError(t, s.err, "otlpcol exit after SIGTERM\n%s", s.out.String())
	case <-time.After(timeout):
		s.kill()
		t.Fatalf("otlpcol did not stop within %s", timeout)
	}
}

// runAsService runs the installed unit's ExecStart as the service user with
// the filled-in env file against a loopback backend: /health and /ready
// answer, the listeners are on 127.0.0.1 only, every span arrives, and the
// persistent queue is written under the state directory by the service user.
func runAsService(t *testing.T) {
	u := readUnit(t)
	sink := harness.StartSink(t)
	ports := map[string]int{
		"OTLPCOL_GRPC_PORT":      harness.FreePort(t),
		"OTLPCOL_HTTP_PORT":      harness.FreePort(t),
		"OTLPCOL_HEALTH_PORT":    harness.FreePort(t),
		"OTLPCOL_TELEMETRY_PORT": harness.FreePort(t),
	}
	fillEnvFile(t, sink.GRPCEndpoint(), ports)

	s := startService(t, u)
	health := fmt.Sprintf("http://127.0.0.1:%d", ports["OTLPCOL_HEALTH_PORT"])
	s.waitHTTP(t, health+"/health", 2*time.Minute)
	s.waitHTTP(t, health+"/ready", time.Minute)

	for name, port := range ports {
		require.Equal(t, []string{"127.0.0.1"}, listeners(t, port), "%s %d listens on localhost only", name, port)
	}

	const batches, perBatch = 5, 20
	var tds []ptrace.Traces
	for b := range batches {
		tds = append(tds, harness.TraceBatch("package-test", b, perBatch))
	}
	harness.ExportTraces(t, fmt.Sprintf("127.0.0.1:%d", ports["OTLPCOL_GRPC_PORT"]), tds...)
	require.Equal(t, batches*perBatch, sink.WaitSpans(batches*perBatch, time.Minute), "spans at the loopback backend")

	pw, err := user.Lookup(u.user)
	require.NoError(t, err)
	entries, err := os.ReadDir(stateDir + "/queue")
	require.NoError(t, err, "the persistent queue under the state directory")
	require.NotEmpty(t, entries, "the persistent queue under the state directory")
	for _, e := range entries {
		fi, err := e.Info()
		require.NoError(t, err)
		require.Equal(t, pw.Uid, strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)), "%s written by the service user", e.Name())
	}

	s.stop(t, time.Minute)
}

// listeners returns the local addresses listening on TCP port, from
// /proc/net/tcp and tcp6 (the kernel's own table).
func listeners(t *testing.T, port int) []string {
	t.Helper()
	var addrs []string
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 4 || f[3] != "0A" { // 0A: LISTEN
				continue
			}
			hexAddr, hexPort, ok := strings.Cut(f[1], ":")
			p, err := strconv.ParseUint(hexPort, 16, 16)
			if !ok || err != nil || int(p) != port {
				continue
			}
			addrs = append(addrs, procAddr(hexAddr))
		}
	}
	return addrs
}

// procAddr turns /proc/net/tcp's little-endian hex address into text.
func procAddr(h string) string {
	if len(h) != 8 {
		return "ipv6:" + h
	}
	v, _ := strconv.ParseUint(h, 16, 32)
	return fmt.Sprintf("%d.%d.%d.%d", byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
