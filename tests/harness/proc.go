package harness

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PID is the process ID of the running collector (0 before it started).
func (c *Collector) PID() int {
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// RSSBytes reads the collector's resident set size (VmRSS) from /proc; it
// returns 0 when the process is gone.
func (c *Collector) RSSBytes() int64 {
	pid := c.PID()
	if pid == 0 || c.Exited() {
		return 0
	}
	return ProcRSS(pid)
}

// ProcRSS reads VmRSS of process pid from /proc/pid/status, in bytes (0 when
// it cannot be read).
func ProcRSS(pid int) int64 {
	v, _ := procStatusBytes(pid, "VmRSS")
	return v
}

// ProcPeakRSS reads VmHWM, the resident set's high-water mark since the
// process started, of process pid from /proc/pid/status, in bytes: the true
// peak, which no sampling can miss.
func ProcPeakRSS(pid int) (int64, error) { return procStatusBytes(pid, "VmHWM") }

// PeakRSS is the collector's VmHWM in bytes (see ProcPeakRSS).
func (c *Collector) PeakRSS() (int64, error) { return ProcPeakRSS(c.PID()) }

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

// RSSSampler records the peak resident set size of a collector, sampled
// every interval until Stop.
type RSSSampler struct {
	mu   sync.Mutex
	peak int64
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// SampleRSS starts sampling c's VmRSS every interval.
func (c *Collector) SampleRSS(interval time.Duration) *RSSSampler {
	s := &RSSSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			s.observe(c.RSSBytes())
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	c.t.Cleanup(s.Stop)
	return s
}

func (s *RSSSampler) observe(v int64) {
	s.mu.Lock()
	if v > s.peak {
		s.peak = v
	}
	s.mu.Unlock()
}

// Peak is the highest RSS seen so far, in bytes.
func (s *RSSSampler) Peak() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// Stop ends sampling (safe to call twice) and returns the peak.
func (s *RSSSampler) Stop() {
	s.once.Do(func() { close(s.stop); <-s.done })
}
