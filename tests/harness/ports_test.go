package harness

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestBlockStartsAvoidEphemeralRange(t *testing.T) {
	for _, r := range [][2]int{{32768, 60999}, {1024, 65535}, {20000, 30000}, {49152, 65535}} {
		lo, hi := r[0], r[1]
		starts := blockStarts(lo, hi)
		if len(starts) == 0 {
			t.Fatalf("ephemeral %d-%d: no blocks", lo, hi)
		}
		whole := lo <= lowestPort && hi >= 65535-blockSize
		for _, s := range starts {
			end := s + blockSize - 1
			if s < lowestPort || end > 65535 {
				t.Errorf("ephemeral %d-%d: block %d-%d out of [%d, 65535]", lo, hi, s, end, lowestPort)
			}
			if !whole && end >= lo && s <= hi {
				t.Errorf("ephemeral %d-%d: block %d-%d overlaps it", lo, hi, s, end)
			}
		}
	}
}

func TestPortOutsideEphemeralRangeDistinctAndFree(t *testing.T) {
	lo, hi := ephemeralRange()
	seen := map[int]bool{}
	// More than a block: the second block must be taken, not the first reused.
	for range blockSize + 10 {
		p := FreePort(t)
		if p >= lo && p <= hi {
			t.Fatalf("port %d is in the ephemeral range %d-%d", p, lo, hi)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
	l, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if p := l.Addr().(*net.TCPAddr).Port; seen[p] || (p >= lo && p <= hi) {
		t.Fatalf("Listen got port %d: seen before or ephemeral", p)
	}
}

// childEnv makes the test binary a child that prints the ports it picks and
// holds its blocks until its stdin closes.
const childEnv = "OTLPCOL_HARNESS_PORT_CHILD"

func TestPortsApartAcrossProcesses(t *testing.T) {
	if n := os.Getenv(childEnv); n != "" {
		count, _ := strconv.Atoi(n)
		for range count {
			p, err := Port()
			if err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
			fmt.Println(p)
		}
		fmt.Println("done")
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	// Two processes at once, each taking more than one block.
	type child struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		ports []int
	}
	var kids [2]*child
	for i := range kids {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPortsApartAcrossProcesses$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", childEnv, blockSize+50))
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		k := &child{cmd: cmd, stdin: stdin}
		kids[i] = k
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		sc := bufio.NewScanner(stdout)
		for sc.Scan() && sc.Text() != "done" {
			p, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
			if err != nil {
				t.Fatalf("child %d: %q", i, sc.Text())
			}
			k.ports = append(k.ports, p)
		}
	}
	owner := map[int]int{}
	for i, k := range kids {
		if len(k.ports) != blockSize+50 {
			t.Fatalf("child %d picked %d ports", i, len(k.ports))
		}
		for _, p := range k.ports {
			if j, ok := owner[p]; ok && j != i {
				t.Fatalf("port %d handed to both processes", p)
			}
			owner[p] = i
		}
	}
	for _, k := range kids {
		k.stdin.Close()
		done := make(chan error, 1)
		go func() { done <- k.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("child: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("child did not end")
		}
	}
}

func TestBindConflict(t *testing.T) {
	out := `{"level":"error","msg":"cannot start pipelines: listen tcp 127.0.0.1:20001: bind: address already in use"}` + "\n" +
		`Error: failed to start extensions: health: cannot listen on 127.0.0.1:20002: listen tcp 127.0.0.1:20002: bind: address already in use`
	if p, ok := BindConflict(out, 20000, 20002); !ok || p != 20002 {
		t.Fatalf("BindConflict = %d, %v; want 20002", p, ok)
	}
	if _, ok := BindConflict(out, 20003); ok {
		t.Fatal("conflict reported on a port not named")
	}
	if _, ok := BindConflict("listen tcp 127.0.0.1:20003: connection refused", 20003); ok {
		t.Fatal("conflict reported for another error")
	}
}

// takeFirstPicked makes the next Collector or Sink find its first port
// taken between the pick and the bind, as a port stolen by another process.
func takeFirstPicked(t *testing.T) *int {
	t.Helper()
	taken := new(int)
	portsPicked = func(ports ...int) {
		portsPicked = nil
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0]))
		if err != nil {
			t.Errorf("take port %d: %v", ports[0], err)
			return
		}
		*taken = ports[0]
		t.Cleanup(func() { l.Close() })
	}
	t.Cleanup(func() { portsPicked = nil })
	return taken
}

func TestSinkRetriesTakenPort(t *testing.T) {
	taken := takeFirstPicked(t)
	s := StartSink(t)
	if *taken == 0 || s.GRPCPort == *taken || s.HTTPPort == *taken {
		t.Fatalf("sink on %d/%d, taken %d: no retry on fresh ports", s.GRPCPort, s.HTTPPort, *taken)
	}
	if _, err := Listen(); err != nil {
		t.Fatal(err)
	}
}

func TestCollectorRestartsOnTakenPort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs bin/otlpcol")
	}
	taken := takeFirstPicked(t)
	c := Start(t, Config("local.yaml"), Options{})
	c.WaitReady(30 * time.Second)
	if *taken == 0 || c.tries != 1 {
		t.Fatalf("taken %d, restarts %d: want one restart", *taken, c.tries)
	}
	for _, p := range []int{c.GRPCPort, c.HTTPPort, c.HealthPort, c.TelemetryPort} {
		if p == *taken {
			t.Fatalf("still on the taken port %d", p)
		}
	}
	if _, ok := MetricValue(t, c.TelemetryURL(), "otelcol_process_uptime"); !ok {
		if _, ok := MetricValue(t, c.TelemetryURL(), "otelcol_process_uptime_seconds_total"); !ok {
			t.Fatal("no telemetry on the new port")
		}
	}
}
