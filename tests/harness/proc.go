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
	r := c.run.Load()
	if r == nil || r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
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
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "VmRSS:") {
			continue
		}
		fields := strings.Fields(line) // VmRSS: 12345 kB
		if len(fields) < 2 {
			return 0
		}
		kb, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return 0
		}
		return kb * 1024
	}
	return 0
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
