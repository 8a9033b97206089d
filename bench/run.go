package main

import (
	"fmt"
	"path/filepath"
	"time"
)

// result is what one pipeline measured.
type result struct {
	Name    string
	Desc    string
	Exports bool
	Gateway bool

	Seconds        float64 // measured window
	SpansPerSec    float64 // delivered at the sink (accepted, for the ceiling)
	CPUCores       float64 // collector CPU seconds per second
	CPUPerM        float64 // collector CPU seconds per million spans
	HarnessPerM    float64 // load generator + sink CPU seconds per million spans
	HarnessCores   float64 // load generator + sink CPU seconds per second
	OtherCores     float64 // CPU seconds per second used by every other process on the machine
	IdleCores      float64 // CPU seconds per second nobody used
	PeakRSSMiB     float64
	Accepted       int64 // spans the collector answered OK for, whole run
	Refused        int64 // spans of refused requests, whole run
	Delivered      int64 // spans the sink received, whole run
	Lost           int64 // Accepted - Delivered after the drain (0 expected)
	ExportRequests int64 // export requests the sink received
	Active         float64
	HasActive      bool

	SpansRatio float64 // to the stock pipeline
	CPURatio   float64
	Err        string
}

func runPipeline(o options, p pipeline, logf func(string, ...any)) (res result) {
	res = result{Name: p.Name, Desc: p.Desc, Exports: p.Exports, Gateway: p.Gateway}
	fail := func(format string, args ...any) result {
		res.Err = fmt.Sprintf(format, args...)
		logf("FAILED: %s", res.Err)
		return res
	}

	s, err := startSink()
	if err != nil {
		return fail("%v", err)
	}
	defer s.stop()

	config := filepath.Join(o.Root, "bench", "configs", p.Config)
	logf("starting %s --config %s", filepath.Base(o.Bin), relPath(o.Root, config))
	c, err := startCollector(o.Bin, config, s.grpcPort, s.httpPort, p.Env)
	if err != nil {
		return fail("%v", err)
	}
	defer func() {
		if err := c.stop(15 * time.Second); err != nil && res.Err == "" {
			logf("collector stop: %v", err)
		}
	}()

	g, err := newLoadGen(c.endpoint(), o.Conns, o.Workers, p.Cycle)
	if err != nil {
		return fail("load generator: %v", err)
	}
	defer g.close()
	if err := g.waitReady(30*time.Second, c.exited); err != nil {
		return fail("collector not ready: %v\n%s", err, c.out.lastLines(30))
	}

	g.start()
	stopped := false
	stopLoad := func() {
		if !stopped {
			g.stop()
			stopped = true
		}
	}
	defer stopLoad()

	// Warm-up; scale-N pipelines also wait until each of the N traces was sent once.
	warmStart := time.Now()
	if p.Cycle > 0 {
		logf("warm-up: filling the registry with %d traces", p.Cycle)
	} else {
		logf("warm-up %s", o.Warmup)
	}
	for time.Since(warmStart) < o.Warmup || g.nextTrace.Load() < p.Cycle {
		if c.exited() {
			return fail("collector exited during warm-up: %v\n%s", c.err, c.out.lastLines(30))
		}
		if time.Since(warmStart) > 5*time.Minute {
			return fail("warm-up did not send %d traces within 5m", p.Cycle)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p.Cycle > 0 {
		if v, ok := c.metric("otlp_traces_active"); ok {
			logf("registry holds %.0f active traces after %s", v, time.Since(warmStart).Round(100*time.Millisecond))
		}
	}

	count := func() int64 {
		if p.Exports {
			return s.count()
		}
		return g.accepted.Load()
	}
	cpu0, err := c.cpuSeconds()
	if err != nil {
		return fail("read collector CPU: %v", err)
	}
	busy0, total0, _ := machineCPU()
	own0, n0, t0 := processCPU(), count(), time.Now()
	lastN, lastT, lastCPU := n0, t0, cpu0
	tick := time.NewTicker(5 * time.Second)
	deadline := time.NewTimer(o.Duration)
measure:
	for {
		select {
		case <-deadline.C:
			break measure
		case <-tick.C:
			if c.exited() {
				tick.Stop()
				return fail("collector exited under load: %v\n%s", c.err, c.out.lastLines(30))
			}
			n, now := count(), time.Now()
			cpu, _ := c.cpuSeconds()
			dt := now.Sub(lastT).Seconds()
			logf("%4.0fs/%s  %9.0f spans/s  collector %.2f cores", now.Sub(t0).Seconds(), o.Duration,
				float64(n-lastN)/dt, (cpu-lastCPU)/dt)
			lastN, lastT, lastCPU = n, now, cpu
		}
	}
	tick.Stop()
	cpu1, err := c.cpuSeconds()
	if err != nil {
		return fail("read collector CPU: %v", err)
	}
	n1, t1, own1 := count(), time.Now(), processCPU()
	busy1, total1, _ := machineCPU()
	stopLoad()

	res.Seconds = t1.Sub(t0).Seconds()
	spans := float64(n1 - n0)
	res.SpansPerSec = spans / res.Seconds
	res.CPUCores = (cpu1 - cpu0) / res.Seconds
	res.HarnessCores = (own1 - own0) / res.Seconds
	if total1 > total0 {
		// /proc/stat's total counts every core: scale it to wall seconds.
		res.IdleCores = ((total1 - total0) - (busy1 - busy0)) / res.Seconds
		res.OtherCores = max(0, (busy1-busy0)/res.Seconds-res.CPUCores-res.HarnessCores)
	}
	if spans > 0 {
		res.CPUPerM = (cpu1 - cpu0) / (spans / 1e6)
		res.HarnessPerM = (own1 - own0) / (spans / 1e6)
	}
	res.Accepted, res.Refused = g.accepted.Load(), g.refused.Load()

	if p.Exports {
		// Drain: wait until every accepted span reached the sink, or nothing
		// more arrives for 10 s, or the drain time is up.
		logf("load stopped; draining (%d spans accepted, %d delivered so far)", res.Accepted, s.count())
		drainEnd := time.Now().Add(o.Drain)
		last, lastMove := s.count(), time.Now()
		for s.count() < res.Accepted && time.Now().Before(drainEnd) && time.Since(lastMove) < 10*time.Second {
			time.Sleep(100 * time.Millisecond)
			if n := s.count(); n != last {
				last, lastMove = n, time.Now()
			}
		}
		// Let late duplicates (if any) show up before counting.
		time.Sleep(200 * time.Millisecond)
		res.Delivered = s.count()
		res.ExportRequests = s.requests.Load()
		res.ExportRequests = s.requests.Load()
		res.Lost = res.Accepted - res.Delivered
	} else {
		res.Delivered = res.Accepted
	}
	if p.Gateway {
		res.Active, res.HasActive = c.metric("otlp_traces_active")
	}
	if rss, err := c.peakRSS(); err == nil {
		res.PeakRSSMiB = float64(rss) / (1 << 20)
	}
	if c.exited() {
		return fail("collector exited: %v\n%s", c.err, c.out.lastLines(30))
	}
	logf("done: %.0f spans/s, %.2f CPU s per million spans, peak RSS %.0f MiB, accepted %d, refused %d, delivered %d, lost %d",
		res.SpansPerSec, res.CPUPerM, res.PeakRSSMiB, res.Accepted, res.Refused, res.Delivered, res.Lost)
	logf("cores used: collector %.2f, load generator and sink %.2f, other processes %.2f, idle %.2f",
		res.CPUCores, res.HarnessCores, res.OtherCores, res.IdleCores)
	if res.Refused > 0 {
		if e := g.lastErr.Load(); e != nil {
			logf("last refusal: %v", *e)
		}
	}
	if res.Accepted == 0 {
		return fail("the collector accepted no span")
	}
	if res.Lost > 0 {
		return fail("%d accepted spans never reached the sink", res.Lost)
	}
	if res.Lost < 0 {
		return fail("the sink received %d spans more than were accepted (duplicates)", -res.Lost)
	}
	return res
}

func relPath(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil {
		return r
	}
	return p
}
