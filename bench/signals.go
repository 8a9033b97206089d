package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The signals scenario: metrics and logs through the shipped gateway
// (gateway-wal.yaml with fsync always: memory_limiter -> otlp_retry on its
// write-ahead log, as configs/gateway.yaml ships them) against stock
// (memory_limiter -> batch -> otlp_grpc), per data point and per log
// record. The trace rows' load and sink tell every span apart; here the
// sink counts items (data points, log records) from the wire, so loss is
// accepted minus delivered, and a duplicate could hide a loss.

// itemsPerRequest is the size of every metrics and logs request.
const itemsPerRequest = 1000

// signalRow is one pipeline for one signal.
type signalRow struct {
	Signal   string // metrics or logs
	Name     string // stock or gateway-wal-always
	Set      []string
	Samples  []signalSample
	Failures []string
}

type signalSample struct {
	ItemsPerSec float64
	CPUPerM     float64 // collector CPU s per million items delivered in the window
	PeakRSSMiB  float64
	Accepted    int64
	Delivered   int64
	Lost        int64
}

func (r *signalRow) items() spread {
	return r.over(func(s signalSample) float64 { return s.ItemsPerSec })
}
func (r *signalRow) cpu() spread { return r.over(func(s signalSample) float64 { return s.CPUPerM }) }

func (r *signalRow) over(f func(signalSample) float64) spread {
	var v []float64
	for _, s := range r.Samples {
		v = append(v, f(s))
	}
	return spreadOf(v)
}

// signalRows are the rows of the selected signals: stock, then the
// shipped gateway, per signal.
func signalRows(signals []string) []signalRow {
	var rows []signalRow
	for _, sig := range signals {
		pipe := "service::pipelines::" + sig + "::"
		rows = append(rows,
			signalRow{Signal: sig, Name: stockName, Set: []string{
				pipe + "receivers=[otlp]", pipe + "processors=[memory_limiter,batch]", pipe + "exporters=[otlp_grpc]"}},
			signalRow{Signal: sig, Name: "gateway-wal-always", Set: []string{
				"exporters::otlp_retry::persistent_queue::fsync=always",
				pipe + "receivers=[otlp]", pipe + "processors=[memory_limiter]", pipe + "exporters=[otlp_retry]"}})
	}
	return rows
}

func (r *signalRow) config() string {
	if r.Name == stockName {
		return "stock.yaml"
	}
	return "gateway-wal.yaml"
}

// parseSignals reads "metrics,logs"; none or "" is none.
func parseSignals(list string) ([]string, error) {
	if list == "" || list == "none" {
		return nil, nil
	}
	var out []string
	for _, s := range strings.Split(list, ",") {
		switch s = strings.TrimSpace(s); s {
		case "metrics", "logs":
			out = append(out, s)
		default:
			return nil, fmt.Errorf("-signals: unknown signal %q (metrics, logs)", s)
		}
	}
	return out, nil
}

// runSignals runs every row o.Rounds times, interleaved as the trace rows.
func runSignals(o options, logf func(string, ...any)) []signalRow {
	rows := signalRows(o.Signals)
	for round := 1; round <= o.Rounds; round++ {
		for i := range rows {
			r := &rows[i]
			prefix := fmt.Sprintf("signals round %d/%d %s %s", round, o.Rounds, r.Signal, r.Name)
			rlogf := func(format string, args ...any) { logf(prefix+": "+format, args...) }
			t := newRoundT(rlogf)
			var s signalSample
			t.run(func() { s = signalRound(t, o, r, rlogf) })
			t.finish()
			if e := t.err(); e != "" {
				r.Failures = append(r.Failures, e)
				rlogf("FAILED: %s", firstLine(e))
				continue
			}
			r.Samples = append(r.Samples, s)
		}
	}
	return rows
}

func signalRound(t *roundT, o options, r *signalRow, logf func(string, ...any)) signalSample {
	s, err := startSink(ids{seed: 1})
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(s.stop)
	c := startCollector(t, o.Root, pipeline{Name: r.Name, Config: r.config(), Set: r.Set}, s, 0)
	g, err := newSignalLoad(c.GRPCEndpoint(), r.Signal, o.Conns, o.Workers)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(g.stop)
	if err := g.waitReady(30*time.Second, c.Exited); err != nil {
		t.Fatalf("collector not ready: %v", err)
	}
	delivered := func() int64 { return s.points.Load() + s.records.Load() }
	g.start()
	time.Sleep(o.Warmup)
	cpu0, err := c.CPUSeconds()
	if err != nil {
		t.Fatalf("cpu: %v", err)
	}
	d0, t0 := delivered(), time.Now()
	time.Sleep(o.Duration)
	cpu1, err := c.CPUSeconds()
	if err != nil {
		t.Fatalf("cpu: %v", err)
	}
	d1, secs := delivered(), time.Since(t0).Seconds()
	g.stop()
	var res signalSample
	res.ItemsPerSec = float64(d1-d0) / secs
	if d1 > d0 {
		res.CPUPerM = (cpu1 - cpu0) / (float64(d1-d0) / 1e6)
	}
	res.Accepted = g.accepted.Load()
	end := time.Now().Add(o.Drain)
	for delivered() < res.Accepted && time.Now().Before(end) {
		time.Sleep(100 * time.Millisecond)
	}
	res.Delivered = delivered()
	res.Lost = max(0, res.Accepted-res.Delivered)
	if rss, err := c.PeakRSS(); err == nil {
		res.PeakRSSMiB = float64(rss) / (1 << 20)
	}
	logf("%.0f %s/s, %.2f CPU s per M, accepted %d, delivered %d, refused %d", res.ItemsPerSec, r.unit(), res.CPUPerM,
		res.Accepted, res.Delivered, g.refused.Load())
	c.Stop(15 * time.Second)
	switch {
	case res.Accepted == 0:
		t.Fatalf("the collector accepted nothing (last error: %v)", g.lastErr())
	case res.Lost > 0:
		t.Fatalf("%d accepted %s never reached the sink", res.Lost, r.unit())
	case s.bad.Load() > 0:
		t.Fatalf("the sink could not read %d export requests", s.bad.Load())
	}
	return res
}

func (r *signalRow) unit() string {
	if r.Signal == "metrics" {
		return "data points"
	}
	return "log records"
}

// signalLoad sends one pre-built request of itemsPerRequest items back to
// back from each worker (the same bytes every time: the sink only counts).
type signalLoad struct {
	conns    []*grpc.ClientConn
	export   []func(ctx context.Context) error
	empty    func(ctx context.Context) error
	workers  int
	accepted atomic.Int64
	refused  atomic.Int64
	errMu    sync.Mutex
	err      error
	quit     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
}

func newSignalLoad(endpoint, signal string, conns, workers int) (*signalLoad, error) {
	g := &signalLoad{workers: workers, quit: make(chan struct{})}
	for i := 0; i < conns; i++ {
		cc, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			g.stop()
			return nil, err
		}
		g.conns = append(g.conns, cc)
	}
	for w := 0; w < workers; w++ {
		cc := g.conns[w%len(g.conns)]
		switch signal {
		case "metrics":
			client, req := pmetricotlp.NewGRPCClient(cc), pmetricotlp.NewExportRequestFromMetrics(buildMetrics(w))
			g.export = append(g.export, func(ctx context.Context) error {
				resp, err := client.Export(ctx, req)
				if err == nil && resp.PartialSuccess().RejectedDataPoints() > 0 {
					err = errors.New("partial success")
				}
				return err
			})
			if g.empty == nil {
				g.empty = func(ctx context.Context) error {
					_, err := client.Export(ctx, pmetricotlp.NewExportRequest())
					return err
				}
			}
		default:
			client, req := plogotlp.NewGRPCClient(cc), plogotlp.NewExportRequestFromLogs(buildLogs(w))
			g.export = append(g.export, func(ctx context.Context) error {
				resp, err := client.Export(ctx, req)
				if err == nil && resp.PartialSuccess().RejectedLogRecords() > 0 {
					err = errors.New("partial success")
				}
				return err
			})
			if g.empty == nil {
				g.empty = func(ctx context.Context) error { _, err := client.Export(ctx, plogotlp.NewExportRequest()); return err }
			}
		}
	}
	return g, nil
}

func (g *signalLoad) waitReady(timeout time.Duration, exited func() bool) error {
	end := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := g.empty(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if exited() || time.Now().After(end) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (g *signalLoad) start() {
	for w := 0; w < g.workers; w++ {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			for {
				select {
				case <-g.quit:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := g.export[w](ctx)
				cancel()
				if err != nil {
					g.refused.Add(itemsPerRequest)
					g.errMu.Lock()
					g.err = err
					g.errMu.Unlock()
					time.Sleep(10 * time.Millisecond)
					continue
				}
				g.accepted.Add(itemsPerRequest)
			}
		}()
	}
}

func (g *signalLoad) lastErr() error {
	g.errMu.Lock()
	defer g.errMu.Unlock()
	return g.err
}

// stop ends the workers after their request in flight and closes the
// connections; safe to call twice.
func (g *signalLoad) stop() {
	g.stopOnce.Do(func() {
		close(g.quit)
		g.wg.Wait()
		for _, cc := range g.conns {
			_ = cc.Close()
		}
	})
}

// buildMetrics is one request of itemsPerRequest data points: 100 metrics
// (gauges and cumulative sums, as host and runtime instrumentation sends)
// of 10 points each, with the attributes such points carry.
func buildMetrics(worker int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	res := rm.Resource().Attributes()
	res.PutStr("service.name", "checkout")
	res.PutStr("service.instance.id", fmt.Sprintf("checkout-%d", worker))
	res.PutStr("host.name", "node-17.prod.example.internal")
	res.PutStr("k8s.pod.name", fmt.Sprintf("checkout-7d9f8b6c4-%05d", worker))
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/runtime")
	now := pcommon.NewTimestampFromTime(time.Now())
	for m := 0; m < itemsPerRequest/10; m++ {
		metric := sm.Metrics().AppendEmpty()
		metric.SetName(fmt.Sprintf("http.server.request.metric_%d", m))
		metric.SetUnit("ms")
		var dps pmetric.NumberDataPointSlice
		if m%2 == 0 {
			dps = metric.SetEmptyGauge().DataPoints()
		} else {
			sum := metric.SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dps = sum.DataPoints()
		}
		for p := 0; p < 10; p++ {
			dp := dps.AppendEmpty()
			dp.SetTimestamp(now)
			dp.SetStartTimestamp(now - 60e9)
			dp.SetDoubleValue(float64(m*10+p) * 1.5)
			dp.Attributes().PutStr("http.route", fmt.Sprintf("/api/v1/orders/%d", p))
			dp.Attributes().PutStr("http.request.method", "GET")
			dp.Attributes().PutInt("http.response.status_code", int64(200+p%3))
		}
	}
	return md
}

// buildLogs is one request of itemsPerRequest log records shaped like an
// application's structured logs.
func buildLogs(worker int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	res := rl.Resource().Attributes()
	res.PutStr("service.name", "checkout")
	res.PutStr("service.instance.id", fmt.Sprintf("checkout-%d", worker))
	res.PutStr("host.name", "node-17.prod.example.internal")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("go.uber.org/zap")
	now := pcommon.NewTimestampFromTime(time.Now())
	for i := 0; i < itemsPerRequest; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(now + pcommon.Timestamp(i))
		lr.SetObservedTimestamp(now)
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		lr.Body().SetStr(fmt.Sprintf("order %d placed: 3 items, total 42.%02d EUR, payment authorised by provider in %d ms", worker*itemsPerRequest+i, i%100, 20+i%80))
		lr.Attributes().PutStr("code.function", "checkout.(*Service).PlaceOrder")
		lr.Attributes().PutStr("user.id", fmt.Sprintf("u-%08d", i*7919%100000))
		lr.Attributes().PutInt("order.items", int64(1+i%5))
	}
	return ld
}
