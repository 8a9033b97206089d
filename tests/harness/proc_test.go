package harness

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// peakChildEnv makes the test binary a child that touches peakChildMiB of
// memory, gives it back to the kernel, says "freed" and waits for stdin to close.
const (
	peakChildEnv  = "OTLPCOL_HARNESS_PEAK_CHILD"
	peakChildMiB  = 96
	peakParentMiB = 192
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

func touch(mib int) {
	b := make([]byte, mib<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	runtime.KeepAlive(b)
}

// TestPeakRSSIsTheChildsHighWaterMark: a child that used 96 MiB and gave it
// back shows a current RSS well below that and a peak above it, while it
// runs and after it ended; and the peak is the child's own, not the test
// process's larger one (which ru_maxrss would report: exec after vfork
// folds the parent's high-water mark into the child's).
func TestPeakRSSIsTheChildsHighWaterMark(t *testing.T) {
	if os.Getenv(peakChildEnv) != "" {
		touch(peakChildMiB)
		debug.FreeOSMemory()
		fmt.Println("freed")
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	touch(peakParentMiB) // the test process's own high-water mark, above the child's
	debug.FreeOSMemory()

	cmd := exec.Command(os.Args[0], "-test.run=^TestPeakRSSIsTheChildsHighWaterMark$")
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
	done := make(chan struct{})
	w := watchPeak(cmd.Process.Pid, done)
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "freed" {
	}
	const want, parent = int64(peakChildMiB) << 20, int64(peakParentMiB) << 20
	now := vmRSS(t, cmd.Process.Pid)
	peak, _ := w.Peak()
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
	close(done)
	peak, _ = w.Peak()
	var maxrss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		maxrss = ru.Maxrss << 10
	}
	t.Logf("ended: peak %d MiB (ru_maxrss %d MiB)", peak>>20, maxrss>>20)
	if peak < want || peak >= parent {
		t.Errorf("peak RSS after exit %d MiB, want the child's, >= %d and < %d MiB", peak>>20, want>>20, parent>>20)
	}
}
