package main

import (
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"
)

// The catch-up scenario: a gateway coming back from a backend outage with
// a backlog while live traffic keeps coming. Each catch-up pipeline runs
// once: live load at a fixed rate (half of the slowest catch-up pipeline's
// saturation, measured first, so every pipeline gets the same traffic),
// the backend down for -outage, then back; measured until the backlog
// (every span accepted before the backend returned) is delivered.

// catchupResult is one pipeline's catch-up run.
type catchupResult struct {
	Name        string
	Saturation  float64 // spans/s the pipeline delivered at saturation (probe)
	Rate        float64 // live load, spans/s
	Outage      time.Duration
	Backlog     int64         // spans accepted and not delivered when the backend returned
	DrainTime   time.Duration // backend back -> backlog delivered
	Resume      time.Duration // backend back -> first span delivered (0.5 s resolution): how long the pipeline took to notice
	Drained     bool
	DrainRate   float64 // distinct spans/s delivered while draining (backlog and live)
	LiveP50     time.Duration
	LiveP99     time.Duration
	LiveSpans   int64 // live spans (sent after the backend returned) delivered while draining
	PeakRSSMiB  float64
	Accepted    int64
	Refused     int64 // spans of refused requests, the whole run
	Lost, Dups  int64
	Err         string
	SinkCeiling float64 // the sink's own spans/s, fed directly (same for every row)
}

// ageHistogram counts spans by their age at delivery in buckets 5% apart,
// from 100 µs up to about 10 h; safe for concurrent use.
type ageHistogram struct {
	buckets [400]atomic.Int64
}

const ageBase = 100 * time.Microsecond

func (h *ageHistogram) observe(age time.Duration, n int64) {
	i := 0
	if age > ageBase {
		i = int(math.Log(float64(age)/float64(ageBase)) / math.Log(1.05))
	}
	h.buckets[min(i, len(h.buckets)-1)].Add(n)
}

func (h *ageHistogram) quantile(q float64) time.Duration {
	var total int64
	for i := range h.buckets {
		total += h.buckets[i].Load()
	}
	if total == 0 {
		return 0
	}
	want := int64(math.Ceil(q * float64(total)))
	var seen int64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= want {
			return time.Duration(float64(ageBase) * math.Pow(1.05, float64(i+1)))
		}
	}
	return 0
}

func (h *ageHistogram) count() int64 {
	var total int64
	for i := range h.buckets {
		total += h.buckets[i].Load()
	}
	return total
}

// sendTimes records when each request was sent, by request number (a
// request's spans are numbers [n*1000, n*1000+1000)), so the sink can tell
// a live span's age at delivery.
type sendTimes struct {
	at       []atomic.Int64 // UnixNano, 0 when not recorded
	liveFrom atomic.Int64   // spans sent at or after this UnixNano are live; 0: none yet
	ages     ageHistogram
}

const maxTimedRequests = 1 << 22

func newSendTimes() *sendTimes { return &sendTimes{at: make([]atomic.Int64, maxTimedRequests)} }

func (st *sendTimes) sent(request uint64, now time.Time) {
	if request < maxTimedRequests {
		st.at[request].Store(now.UnixNano())
	}
}

// delivered observes n spans of request arriving now.
func (st *sendTimes) delivered(request uint64, n int64, now time.Time) {
	from := st.liveFrom.Load()
	if from == 0 || request >= maxTimedRequests {
		return
	}
	if sent := st.at[request].Load(); sent >= from {
		st.ages.observe(now.Sub(time.Unix(0, sent)), n)
	}
}

// runCatchup measures every catch-up pipeline: the sink's ceiling, each
// pipeline's saturation, then the scenario at half the lowest saturation.
func runCatchup(o options, logf func(string, ...any)) []catchupResult {
	if len(o.Catchup) == 0 {
		return nil
	}
	res := make([]catchupResult, len(o.Catchup))
	ceiling := sinkCeiling(o, logf)
	lowest := math.Inf(1)
	for i, p := range o.Catchup {
		res[i] = catchupResult{Name: p.Name, Outage: o.Outage, SinkCeiling: ceiling}
		plog := func(format string, args ...any) { logf("catch-up "+p.Name+": "+format, args...) }
		t := newRoundT(plog)
		t.run(func() { res[i].Saturation = probeSaturation(t, o, p, plog) })
		t.finish()
		if e := t.err(); e != "" {
			res[i].Err = "saturation probe: " + e
			continue
		}
		lowest = min(lowest, res[i].Saturation)
	}
	rate := lowest / 2
	if o.CatchupRate > 0 {
		rate = o.CatchupRate
	}
	for i, p := range o.Catchup {
		if res[i].Err != "" || math.IsInf(rate, 0) {
			continue
		}
		res[i].Rate = rate
		plog := func(format string, args ...any) { logf("catch-up "+p.Name+": "+format, args...) }
		t := newRoundT(plog)
		t.run(func() { catchupScenario(t, o, p, &res[i], plog) })
		t.finish()
		if e := t.err(); e != "" && res[i].Err == "" {
			res[i].Err = e
		}
		if res[i].Err == "" && res[i].Lost > 0 {
			res[i].Err = fmt.Sprintf("%d accepted spans never reached the sink", res[i].Lost)
		}
	}
	return res
}

// sinkCeiling feeds the sink directly at saturation for the measured time:
// the backend's own ceiling, against which the drain rate is read.
func sinkCeiling(o options, logf func(string, ...any)) float64 {
	d := ids{seed: uint64(time.Now().UnixNano())}
	s, err := startSink(d)
	if err != nil {
		logf("catch-up: sink ceiling: %v", err)
		return 0
	}
	defer s.stop()
	g, err := newLoadGen(fmt.Sprintf("127.0.0.1:%d", s.grpcPort), o.Conns, o.Workers, d)
	if err != nil {
		logf("catch-up: sink ceiling: %v", err)
		return 0
	}
	defer g.close()
	g.start()
	time.Sleep(o.Warmup)
	a, at := s.count(), time.Now()
	time.Sleep(probeTime(o))
	rate := float64(s.count()-a) / time.Since(at).Seconds()
	g.stop()
	logf("catch-up: the sink alone takes %.0f spans/s", rate)
	return rate
}

func probeTime(o options) time.Duration { return min(o.Duration, 10*time.Second) }

// probeSaturation runs the pipeline at saturation and returns its delivered
// spans/s.
func probeSaturation(t *roundT, o options, p pipeline, logf func(string, ...any)) float64 {
	r := setUp(t, o, p, logf)
	r.gen.start()
	t.Cleanup(r.gen.stop)
	time.Sleep(o.Warmup)
	a, at := r.sink.count(), time.Now()
	time.Sleep(probeTime(o))
	rate := float64(r.sink.count()-a) / time.Since(at).Seconds()
	r.gen.stop()
	r.col.Stop(15 * time.Second)
	logf("saturation %.0f spans/s", rate)
	return rate
}

func catchupScenario(t *roundT, o options, p pipeline, res *catchupResult, logf func(string, ...any)) {
	r := setUp(t, o, p, logf)
	st := newSendTimes()
	r.sink.times = st
	r.gen.times = st
	r.gen.pace(res.Rate)
	r.gen.start()
	t.Cleanup(r.gen.stop)
	logf("live load %.0f spans/s; %s before the outage", res.Rate, o.Warmup)
	time.Sleep(o.Warmup)

	logf("backend down for %s", o.Outage)
	r.sink.down.Store(true)
	time.Sleep(o.Outage)
	up := time.Now()
	boundary := r.gen.nextTrace.Load() * spansPerTrace // spans numbered below were sent before the backend returned
	st.liveFrom.Store(up.UnixNano())
	res.Backlog = r.gen.acceptedSpans.missingFromBelow(&r.sink.delivered, boundary)
	r.sink.down.Store(false)
	deliveredAtUp := r.sink.count()
	logf("backend back; backlog %d spans", res.Backlog)

	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	lastLog := time.Now()
	for range tick.C {
		if r.col.Exited() {
			t.Fatalf("collector exited while draining")
		}
		if res.Resume == 0 && r.sink.count() > deliveredAtUp {
			res.Resume = time.Since(up)
			logf("first delivery %s after the backend returned", res.Resume.Round(100*time.Millisecond))
		}
		left := r.gen.acceptedSpans.missingFromBelow(&r.sink.delivered, boundary)
		if left == 0 {
			res.Drained = true
			break
		}
		if time.Since(up) > o.MaxDrain {
			logf("backlog not drained after %s: %d spans left", o.MaxDrain, left)
			break
		}
		if time.Since(lastLog) >= 10*time.Second {
			logf("%s after the backend returned: %d backlog spans left, live p99 age so far %s",
				time.Since(up).Round(time.Second), left, st.ages.quantile(0.99).Round(time.Millisecond))
			lastLog = time.Now()
		}
	}
	res.DrainTime = time.Since(up)
	res.DrainRate = float64(r.sink.count()-deliveredAtUp) / res.DrainTime.Seconds()
	st.liveFrom.Store(math.MaxInt64) // stop observing: the drain is over
	res.LiveP50, res.LiveP99, res.LiveSpans = st.ages.quantile(0.5), st.ages.quantile(0.99), st.ages.count()
	logf("drained=%v in %s at %.0f spans/s; live spans' age p50 %s, p99 %s",
		res.Drained, res.DrainTime.Round(100*time.Millisecond), res.DrainRate,
		res.LiveP50.Round(time.Millisecond), res.LiveP99.Round(time.Millisecond))

	r.gen.stop()
	var s sample
	r.drain(&s)
	r.readCollector(&s)
	r.col.Stop(15 * time.Second)
	res.Accepted, res.Refused, res.Lost, res.Dups, res.PeakRSSMiB = s.Accepted, s.Refused, s.Lost, s.Dups, s.PeakRSSMiB
}

// mdCatchup is results.md's catch-up table.
func (r *report) mdCatchup(b *strings.Builder) {
	if len(r.Catchup) == 0 {
		return
	}
	c0 := r.Catchup[0]
	fmt.Fprintf(b, "## Catching up after an outage\n\n")
	fmt.Fprintf(b, "Live load at a fixed rate (half the lowest saturation of these rows, measured first: %s spans/s), the backend down for %s, then back. ",
		thousands(c0.Rate), c0.Outage)
	fmt.Fprintf(b, "The backlog is every span accepted before the backend returned; drain time runs from the backend's return until the last of them is delivered; resumed is when the first span arrived after the return (polled every 0.5 s): the time the pipeline took to notice (otlp_retry's circuit breaker stays open for open_duration, upstream's retry waits out its backoff). ")
	fmt.Fprintf(b, "Drain rate counts every distinct span delivered meanwhile, backlog and live; the sink alone takes %s spans/s. ", thousands(c0.SinkCeiling))
	fmt.Fprintf(b, "Live age is, for spans sent after the backend returned and delivered before the backlog was gone, the time from the client's send to the sink. One run each.\n\n")
	fmt.Fprintf(b, "| pipeline | saturation spans/s | backlog spans | resumed after | drain time | drain spans/s | live age p50 | live age p99 | live spans | peak RSS MiB | refused | lost | dup | result |\n")
	fmt.Fprintf(b, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, c := range r.Catchup {
		result := "PASS"
		if c.Err != "" {
			result = "FAIL: " + firstLine(c.Err)
		} else if !c.Drained {
			result = "not drained within -max-drain"
		}
		fmt.Fprintf(b, "| %s | %s | %d | %s | %s | %s | %s | %s | %d | %.0f | %d | %d | %d | %s |\n", c.Name, thousands(c.Saturation), c.Backlog,
			c.Resume.Round(100*time.Millisecond), c.DrainTime.Round(100*time.Millisecond), thousands(c.DrainRate), c.LiveP50.Round(time.Millisecond), c.LiveP99.Round(time.Millisecond),
			c.LiveSpans, c.PeakRSSMiB, c.Refused, c.Lost, c.Dups, result)
	}
	fmt.Fprintf(b, "\n")
}

// selectCatchup resolves -catchup's names ("" or "none": no scenario).
func selectCatchup(list string) ([]pipeline, error) {
	if list == "" || list == "none" {
		return nil, nil
	}
	// The live-first row is a catch-up row only: in steady state nothing
	// waits on disk, and it runs exactly as gateway-wal-always.
	lf := liveFirstPipeline()
	var rest []string
	var ps []pipeline
	for _, name := range strings.Split(list, ",") {
		if strings.TrimSpace(name) == lf.Name {
			ps = append(ps, lf)
		} else {
			rest = append(rest, name)
		}
	}
	if len(rest) > 0 {
		more, err := selectPipelines(strings.Join(rest, ","))
		if err != nil {
			return nil, err
		}
		ps = append(more, ps...)
	}
	for _, p := range ps {
		if !p.Exports {
			return nil, fmt.Errorf("-catchup: %s exports nothing", p.Name)
		}
	}
	return ps, nil
}

// catchupFailures lists the catch-up rows that failed.
func catchupFailures(rs []catchupResult) []string {
	var out []string
	for _, c := range rs {
		if c.Err != "" {
			out = append(out, "catch-up "+c.Name+": "+c.Err)
		}
	}
	return out
}

// liveFirstPipeline is gateway-wal-always with otlp_retry's
// persistent_queue::live_first: spans that arrive during the catch-up go
// before the backlog.
func liveFirstPipeline() pipeline {
	for _, p := range knownPipelinesBase() {
		if p.Name == "gateway-wal-always" {
			p.Name = "gateway-wal-always-live-first"
			p.Desc = "gateway-wal-always with persistent_queue::live_first: new spans before the backlog"
			p.Set = append(append([]string(nil), p.Set...), "exporters::otlp_retry::persistent_queue::live_first=true")
			p.Baseline, p.Profile = "gateway-wal-always", false
			return p
		}
	}
	panic("liveFirstPipeline: no gateway-wal-always row")
}
