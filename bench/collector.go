package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat
// (100 on every Linux architecture Go supports).
const clockTicks = 100

// collector is one running bin/otlpcol under test.
type collector struct {
	cmd           *exec.Cmd
	out           *tailBuffer
	done          chan struct{}
	err           error
	receiverPort  int
	telemetryPort int
	dataDir       string // BENCH_DATA_DIR: the persistent queue's directory
}

// startCollector runs bin --config config with the bench's ports and extra
// environment; the configs read them through ${env:...}.
func startCollector(bin, config string, sinkGRPC, sinkHTTP int, env []string) (*collector, error) {
	c := &collector{out: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	var err error
	if c.receiverPort, err = freePort(); err != nil {
		return nil, err
	}
	if c.telemetryPort, err = freePort(); err != nil {
		return nil, err
	}
	if c.dataDir, err = os.MkdirTemp("", "otlpcol-bench-"); err != nil {
		return nil, err
	}
	c.cmd = exec.Command(bin, "--config", config)
	c.cmd.Env = append(os.Environ(),
		"BENCH_DATA_DIR="+c.dataDir,
		fmt.Sprintf("BENCH_RECEIVER_PORT=%d", c.receiverPort),
		fmt.Sprintf("BENCH_TELEMETRY_PORT=%d", c.telemetryPort),
		fmt.Sprintf("BENCH_SINK_GRPC_PORT=%d", sinkGRPC),
		fmt.Sprintf("BENCH_SINK_HTTP_PORT=%d", sinkHTTP))
	c.cmd.Env = append(c.cmd.Env, env...)
	c.cmd.Stdout = c.out
	c.cmd.Stderr = c.out
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.done) }()
	return c, nil
}

func (c *collector) endpoint() string { return fmt.Sprintf("127.0.0.1:%d", c.receiverPort) }

func (c *collector) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// cpuSeconds is the user plus system CPU time the process used so far.
func (c *collector) cpuSeconds() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/<pid>/stat line; the command name in field 2 may hold spaces.
func parseStatCPU(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc stat: %q", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat: %q", stat)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc stat: %q", stat)
	}
	return float64(utime+stime) / clockTicks, nil
}

// peakRSS is the process's resident set high-water mark (VmHWM) in bytes.
func (c *collector) peakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	return parseVmHWM(string(b))
}

func parseVmHWM(status string) (int64, error) {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc status")
}

// metric sums the samples of the Prometheus series name on the collector's
// internal telemetry endpoint; ok is false when it has none.
func (c *collector) metric(name string) (float64, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
		fmt.Sprintf("http://127.0.0.1:%d/metrics", c.telemetryPort), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, false
	}
	return sumSamples(string(body), name)
}

func sumSamples(exposition, name string) (float64, bool) {
	var sum float64
	found := false
	for _, line := range strings.Split(exposition, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		metric, _, _ := strings.Cut(series, "{")
		if metric != name {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err == nil {
			sum += v
			found = true
		}
	}
	return sum, found
}

// stop sends SIGTERM, waits up to timeout, then kills the process group.
func (c *collector) stop(timeout time.Duration) error {
	defer os.RemoveAll(c.dataDir)
	if c.exited() {
		return c.err
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return c.err
	case <-time.After(timeout):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
		return fmt.Errorf("did not stop within %s after SIGTERM; killed", timeout)
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	if over := t.b.Len() - t.max; over > 0 {
		t.b.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) lastLines(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimRight(t.b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// machineCPU returns the busy and total CPU seconds of the whole machine so
// far, from the first line of /proc/stat (busy is everything but idle and
// iowait; guest time is already inside user).
func machineCPU() (busy, total float64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("unexpected /proc/stat: %q", line)
	}
	var sum, idle uint64
	for i, v := range f[1:] {
		if i >= 8 { // guest and guest_nice are counted in user and nice
			break
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("unexpected /proc/stat: %q", line)
		}
		sum += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return float64(sum-idle) / clockTicks, float64(sum) / clockTicks, nil
}
