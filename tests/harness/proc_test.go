package harness

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// peakChildEnv makes the test binary a child that touches peakChildMiB of
// memory, gives it back to the kernel, says "freed" and waits for stdin to close.
const (
	peakChildEnv = "OTLPCOL_HARNESS_PEAK_CHILD"
	peakChildMiB = 96
)

// vmRSS reads the current resident set size (VmRSS) of pid, in bytes.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestPeakRSSIsTheHighWaterMark: a process that used 96 MiB and gave it
// back shows a current RSS well below that, and a peak above it, both while
// it runs (VmHWM) and after it ended (ru_maxrss).
func TestPeakRSSIsTheHighWaterMark(t *testing.T) {
	if os.Getenv(peakChildEnv) != "" {
		b := make([]byte, peakChildMiB<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		b = nil
		debug.FreeOSMemory()
		fmt.Println("freed")
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPeakRSSIsTheHighWaterMark$")
	cmd.Env = append(os.Environ(), peakChildEnv+"=1")
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
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "freed" {
	}
	const want = int64(peakChildMiB) << 20
	now, peak := vmRSS(t, cmd.Process.Pid), peakRSS(cmd, false)
	t.Logf("running: VmRSS %d MiB, peak %d MiB", now>>20, peak>>20)
	if now >= want/2 {
		t.Fatalf("VmRSS %d MiB: the child did not give its memory back, the test proves nothing", now>>20)
	}
	if peak < want {
		t.Errorf("peak RSS while running %d MiB, want >= %d MiB", peak>>20, want>>20)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if peak := peakRSS(cmd, true); peak < want {
		t.Errorf("peak RSS after exit %d MiB, want >= %d MiB", peak>>20, want>>20)
	}
}
