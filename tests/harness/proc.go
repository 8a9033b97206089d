package harness

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// PID is the process ID of the running collector (0 before it started).
func (c *Collector) PID() int {
	r := c.run.Load()
	if r == nil || r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// PeakRSS is the highest resident set size the collector process reached,
// in bytes: the kernel's high-water mark (VmHWM), read now while the
// process runs, and the last reading before it ended otherwise. It covers
// the current process only: read it before a restart.
func (c *Collector) PeakRSS() (int64, error) {
	r := c.run.Load()
	if r == nil {
		return 0, errors.New("peak RSS: not started")
	}
	return r.peak.Peak()
}

// hwmPollInterval is how often a running process's VmHWM is read. VmHWM
// only grows, so polling loses nothing but growth in the last interval
// before an exit the harness did not cause (Signal and Kill read it first).
// The kernel's ru_maxrss cannot stand in after the exit: Go starts a child
// with vfork, and exec folds the parent's (the test binary's) high-water
// mark into the child's.
const hwmPollInterval = 50 * time.Millisecond

// peakWatch keeps the last VmHWM read of a process until it ends.
type peakWatch struct {
	pid  int
	done <-chan struct{}
	peak atomic.Int64
}

// watchPeak reads pid's VmHWM every hwmPollInterval until done closes.
func watchPeak(pid int, done <-chan struct{}) *peakWatch {
	w := &peakWatch{pid: pid, done: done}
	w.read()
	go func() {
		tick := time.NewTicker(hwmPollInterval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				w.read()
			}
		}
	}()
	return w
}

// read records the current VmHWM while the process still runs.
func (w *peakWatch) read() {
	select {
	case <-w.done:
		return
	default:
	}
	v, err := ProcPeakRSS(w.pid)
	if err != nil {
		return
	}
	for old := w.peak.Load(); v > old && !w.peak.CompareAndSwap(old, v); old = w.peak.Load() {
	}
}

// Peak is the high-water mark, read now when the process runs.
func (w *peakWatch) Peak() (int64, error) {
	w.read()
	if v := w.peak.Load(); v > 0 {
		return v, nil
	}
	return 0, fmt.Errorf("peak RSS of process %d: never read", w.pid)
}

// ProcPeakRSS reads VmHWM, the resident set's high-water mark since the
// process started, of process pid from /proc/pid/status, in bytes.
func ProcPeakRSS(pid int) (int64, error) { return procStatusBytes(pid, "VmHWM") }

func procStatusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return ParseStatusBytes(string(b), field)
}

// ParseStatusBytes reads a "Field:  1234 kB" line of /proc/<pid>/status, in bytes.
func ParseStatusBytes(status, field string) (int64, error) {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		f := strings.Fields(v) // 12345 kB
		if len(f) == 0 {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc status %s: %w", field, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no %s in /proc status", field)
}
