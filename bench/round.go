package main

import (
	"fmt"
	"time"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// sample is what one round of one pipeline measured.
type sample struct {
	Seconds      float64 // measured window
	SpansPerSec  float64 // distinct spans delivered at the sink (accepted, for the ceiling)
	CPUCores     float64 // collector CPU seconds per second
	CPUPerM      float64 // collector CPU seconds per million spans
	HarnessPerM  float64 // load generator + sink CPU seconds per million spans
	HarnessCores float64 // load generator + sink CPU seconds per second
	OtherCores   float64 // CPU seconds per second used by every other process on the machine
	IdleCores    float64 // CPU seconds per second nobody used
	PeakRSSMiB   float64

	// Whole round, after the drain.
	Accepted       int64 // spans the collector answered OK for
	Refused        int64 // spans of refused requests
	Delivered      int64 // distinct spans the sink received
	Dups           int64 // receptions of a span the sink already had
	Lost           int64 // accepted spans the sink never received
	Unasked        int64 // spans received from requests the collector refused (allowed: at least once)
	Foreign        int64 // spans whose IDs the load generator did not make
	BadRequests    int64 // export requests the sink could not read
	ExportRequests int64
	Active         float64 // otlp_traces_active at the end
	HasActive      bool

	Wall time.Duration // the round's wall time, start to stop
	Err  string

	Profile    *cpuProfile // the measured window's CPU profile, for profiled rounds
	ProfileErr string
}

// runRound runs one round of p: a fresh sink, collector and load generator,
// warm-up, the measured window, the drain and the counts.
func runRound(o options, p pipeline, logf func(string, ...any)) sample {
	start := time.Now()
	t := newRoundT(logf)
	var res sample
	t.run(func() { res = measureRound(t, o, p, logf) })
	t.finish()
	if res.Err == "" {
		res.Err = t.err()
	}
	res.Wall = time.Since(start)
	if res.Err != "" {
		logf("FAILED: %s", res.Err)
	}
	return res
}

// rig is one round's setup.
type rig struct {
	t    *roundT
	o    options
	p    pipeline
	logf func(string, ...any)
	sink *sink
	col  *harness.Collector
	gen  *loadGen
	// pprofPort is the collector's pprof extension, 0 when not profiled.
	pprofPort int
}

func measureRound(t *roundT, o options, p pipeline, logf func(string, ...any)) sample {
	r := setUp(t, o, p, logf)
	r.gen.start()
	t.Cleanup(r.gen.stop)
	r.warmUp()
	res := r.measure()
	r.gen.stop()
	r.drain(&res)
	r.readCollector(&res)
	r.col.Stop(15 * time.Second)
	logf("done: %.0f spans/s, %.2f CPU s per million spans, peak RSS %.0f MiB; accepted %d, refused %d, delivered %d, duplicates %d, lost %d",
		res.SpansPerSec, res.CPUPerM, res.PeakRSSMiB, res.Accepted, res.Refused, res.Delivered, res.Dups, res.Lost)
	logf("cores used: collector %.2f, load generator and sink %.2f, other processes %.2f, idle %.2f",
		res.CPUCores, res.HarnessCores, res.OtherCores, res.IdleCores)
	if res.Refused > 0 {
		if e := r.gen.lastErr.Load(); e != nil {
			logf("last refusal: %v", *e)
		}
	}
	res.Err = res.problem(p.Exports)
	return res
}

// setUp starts the sink, the collector and the load generator, and waits
// until the collector's receiver answers.
func setUp(t *roundT, o options, p pipeline, logf func(string, ...any)) *rig {
	d := ids{seed: uint64(time.Now().UnixNano()), cycle: p.Cycle}
	s, err := startSink(d)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(s.stop)
	set := ""
	for _, kv := range p.Set {
		set += " --set " + kv
	}
	logf("starting %s --config %s%s", o.Bin, p.configFile(), set)
	pprofPort := 0
	if p.Profile {
		if pprofPort, err = harness.Port(); err != nil {
			t.Fatalf("pprof port: %v", err)
		}
	}
	c := startCollector(t, o.Root, p, s, pprofPort)
	g, err := newLoadGen(c.GRPCEndpoint(), o.Conns, o.Workers, d)
	if err != nil {
		t.Fatalf("load generator: %v", err)
	}
	if p.SpansPerRequest > 0 {
		g.traces = max(1, p.SpansPerRequest/spansPerTrace)
	}
	t.Cleanup(g.close)
	if err := g.waitReady(30*time.Second, c.Exited); err != nil {
		t.Fatalf("collector not ready: %v", err)
	}
	return &rig{t: t, o: o, p: p, logf: logf, sink: s, col: c, gen: g, pprofPort: pprofPort}
}

// warmUp runs the load for the warm-up time; scale-N pipelines also wait
// until each of their N traces was sent once.
func (r *rig) warmUp() {
	start := time.Now()
	if r.p.Cycle > 0 {
		r.logf("warm-up: filling the registry with %d traces", r.p.Cycle)
	} else {
		r.logf("warm-up %s", r.o.Warmup)
	}
	for time.Since(start) < r.o.Warmup || r.gen.nextTrace.Load() < r.p.Cycle {
		if r.col.Exited() {
			r.t.Fatalf("collector exited during warm-up")
		}
		if time.Since(start) > 5*time.Minute {
			r.t.Fatalf("warm-up did not send %d traces within 5m", r.p.Cycle)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r.p.Cycle > 0 {
		if v, ok := metric(r.col, "otlp_traces_active"); ok {
			r.logf("registry holds %.0f active traces after %s", v, time.Since(start).Round(100*time.Millisecond))
		}
	}
}

// count is what throughput is measured by: distinct spans at the sink, or
// accepted spans where nothing is exported.
func (r *rig) count() int64 {
	if r.p.Exports {
		return r.sink.count()
	}
	return r.gen.accepted.Load()
}

// reading is everything read at one end of the measured window.
type reading struct {
	at                 time.Time
	spans              int64
	cpu, own           float64 // collector's, this process's CPU seconds
	machBusy, machTime float64 // the machine's busy and total CPU seconds
}

func (r *rig) read() reading {
	cpu, err := r.col.CPUSeconds()
	if err != nil {
		r.t.Fatalf("read collector CPU: %v", err)
	}
	busy, total, _ := harness.MachineCPU()
	return reading{at: time.Now(), spans: r.count(), cpu: cpu, own: processCPU(), machBusy: busy, machTime: total}
}

// measure reads the window's figures, logging progress every 5 s.
func (r *rig) measure() sample {
	prof := r.startProfile()
	res := r.measureWindow()
	if prof != nil {
		p := <-prof
		res.Profile, res.ProfileErr = p.cp, p.err
		if p.err != "" {
			r.logf("profile: %s", p.err)
		} else {
			r.logf("profile: %.1f CPU s sampled over %s; otlpcol's own stages %.0f%%", p.cp.Seconds, p.cp.Window, 100*p.cp.ours())
		}
	}
	return res
}

type profileResult struct {
	cp  *cpuProfile
	err string
}

// startProfile starts a CPU profile over the measured window (a second
// shorter, so that it ends inside it), nil when the round is not profiled.
func (r *rig) startProfile() <-chan profileResult {
	if r.pprofPort == 0 {
		return nil
	}
	ch := make(chan profileResult, 1)
	go func() {
		cp, err := fetchProfile(r.pprofPort, max(time.Second, r.o.Duration-time.Second))
		if err != nil {
			ch <- profileResult{err: err.Error()}
			return
		}
		ch <- profileResult{cp: cp}
	}()
	return ch
}

func (r *rig) measureWindow() sample {
	first := r.read()
	last := first
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	deadline := time.NewTimer(r.o.Duration)
	defer deadline.Stop()
	for {
		select {
		case <-deadline.C:
			return window(first, r.read())
		case <-tick.C:
			if r.col.Exited() {
				r.t.Fatalf("collector exited under load")
			}
			now := r.read()
			dt := now.at.Sub(last.at).Seconds()
			r.logf("%4.0fs/%s  %9.0f spans/s  collector %.2f cores", now.at.Sub(first.at).Seconds(), r.o.Duration,
				float64(now.spans-last.spans)/dt, (now.cpu-last.cpu)/dt)
			last = now
		}
	}
}

// window turns the readings at both ends of the window into rates.
func window(a, b reading) sample {
	var res sample
	res.Seconds = b.at.Sub(a.at).Seconds()
	spans := float64(b.spans - a.spans)
	res.SpansPerSec = spans / res.Seconds
	res.CPUCores = (b.cpu - a.cpu) / res.Seconds
	res.HarnessCores = (b.own - a.own) / res.Seconds
	if b.machTime > a.machTime {
		// /proc/stat's total counts every core: scale it to wall seconds.
		busy := (b.machBusy - a.machBusy) / res.Seconds
		res.IdleCores = max(0, (b.machTime-a.machTime)/res.Seconds-busy)
		res.OtherCores = max(0, busy-res.CPUCores-res.HarnessCores)
	}
	if spans > 0 {
		res.CPUPerM = (b.cpu - a.cpu) / (spans / 1e6)
		res.HarnessPerM = (b.own - a.own) / (spans / 1e6)
	}
	return res
}

// drain waits, after the load stopped, until the sink holds every accepted
// span, nothing has arrived for 10 s, or the drain time is up; then counts.
func (r *rig) drain(res *sample) {
	res.Accepted, res.Refused = r.gen.accepted.Load(), r.gen.refused.Load()
	if !r.p.Exports {
		res.Delivered = res.Accepted
		return
	}
	lost := func() int64 { return r.gen.acceptedSpans.missingFrom(&r.sink.delivered) }
	r.logf("load stopped; draining (%d spans accepted, %d not delivered yet)", res.Accepted, lost())
	end := time.Now().Add(r.o.Drain)
	last, lastMove := lost(), time.Now()
	for last > 0 && time.Now().Before(end) && time.Since(lastMove) < 10*time.Second {
		time.Sleep(100 * time.Millisecond)
		if n := lost(); n != last {
			last, lastMove = n, time.Now()
		}
	}
	// Let late duplicates, if any, show up before counting.
	time.Sleep(200 * time.Millisecond)
	s := r.sink
	res.Lost = lost()
	res.Delivered = s.count()
	res.Dups = s.dups.Load()
	res.Foreign = s.foreign.Load()
	res.BadRequests = s.bad.Load()
	res.Unasked = s.delivered.missingFrom(&r.gen.acceptedSpans)
	res.ExportRequests = s.requests.Load()
}

// readCollector reads the collector's own figures before it stops.
func (r *rig) readCollector(res *sample) {
	if r.p.Gateway {
		res.Active, res.HasActive = metric(r.col, "otlp_traces_active")
	}
	if rss, err := r.col.PeakRSS(); err == nil {
		res.PeakRSSMiB = float64(rss) / (1 << 20)
	}
	if r.col.Exited() {
		r.t.Fatalf("collector exited before the end of the round")
	}
}

// problem is why the round failed, "" when it did not: every accepted span
// must arrive exactly once, and only spans the load generator sent.
func (res *sample) problem(exports bool) string {
	switch {
	case res.Accepted == 0:
		return "the collector accepted no span"
	case res.SpansPerSec == 0:
		return "nothing was delivered during the measured window"
	case !exports:
		return ""
	case res.Lost > 0:
		return fmt.Sprintf("%d accepted spans never reached the sink", res.Lost)
	case res.Dups > 0:
		return fmt.Sprintf("%d spans reached the sink more than once", res.Dups)
	case res.Foreign > 0:
		return fmt.Sprintf("the sink received %d spans the load generator did not send", res.Foreign)
	case res.BadRequests > 0:
		return fmt.Sprintf("the sink could not read %d export requests", res.BadRequests)
	}
	return ""
}
