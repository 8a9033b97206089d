package harness

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// PID is the process ID of the running collector (0 before it started).
func (c *Collector) PID() int {
	r := c.run.Load()
	if r == nil || r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// PeakRSS is the highest resident set size the collector process reached
// since it started, in bytes: the kernel's high-water mark (VmHWM) while it
// runs, its ru_maxrss once it has ended (the same mark, kept by wait4), so a
// peak between two looks is never missed. It covers the current process
// only: read it before a restart. 0 when it cannot be read.
func (c *Collector) PeakRSS() int64 {
	r := c.run.Load()
	if r == nil {
		return 0
	}
	return peakRSS(r.cmd, c.Exited())
}

// peakRSS reads cmd's peak RSS; exited says cmd.Wait has returned.
func peakRSS(cmd *exec.Cmd, exited bool) int64 {
	if cmd.Process == nil {
		return 0
	}
	if exited {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			return ru.Maxrss << 10 // kB on Linux
		}
		return 0
	}
	peak, err := ProcPeakRSS(cmd.Process.Pid)
	if err != nil {
		return 0
	}
	return peak
}

// ProcPeakRSS reads the resident set high-water mark (VmHWM) of process pid
// from /proc/pid/status, in bytes.
func ProcPeakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseVmHWM(f)
}

func parseVmHWM(f *os.File) (int64, error) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		fields := strings.Fields(v) // 12345 kB
		if len(fields) == 0 {
			break
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmHWM %q: %w", v, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no VmHWM in %s", f.Name())
}
