package reliability

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// smallVolumeCompaction lets compaction return a drained queue file's
// space on the 64 MiB test volume, where the file never reaches the
// shipped rebound_needed_threshold_mib (100): bbolt never shrinks a file
// itself, so the agent would keep refusing after the queue drained (the
// guard warns at start about a volume that small).
const smallVolumeCompaction = "extensions::guarded_file_storage/queue::compaction::rebound_needed_threshold_mib=16"

// fillAgentVolume is issue 26 item 1's repro up to the full disk:
// configs/agent.yaml with its queue on a 64 MiB volume, the gateway (gw)
// answering Unavailable, applications sending 64 KiB spans until the volume
// is full. It checks what the applications see once there is no room
// (retryable refusals, with RetryInfo over gRPC and Retry-After over HTTP),
// that the agent's queue_size is the number of spans it acknowledged, and
// returns the agent and those spans.
func fillAgentVolume(t *testing.T, gw *harness.Sink, vol string) (*harness.Collector, []string) {
	t.Helper()
	gw.SetFailure(outage)
	c := startAgent(t, gw, vol, smallVolumeCompaction)
	return c, fillVolume(t, c, "load_balancing")
}

// fillVolume sends 64 KiB spans to c until its volume is full and checks
// the refusals and exporter's queue_size; it returns the spans c
// acknowledged.
func fillVolume(t *testing.T, c *harness.Collector, exporter string) []string {
	t.Helper()
	l := startLoad(t, c.GRPCEndpoint(), loadSpec{scenario: "agent-disk-full", workers: 4, spansPerBatch: 2,
		interval: 10 * time.Millisecond, attrBytes: 64 << 10, deadline: 5 * time.Second})
	require.True(t, waitFor(90*time.Second, func() bool {
		n := 0
		for _, k := range l.Refused() {
			n += k
		}
		return n >= 200
	}), "the applications were never refused; acknowledged %d spans", len(l.Accepted()))
	time.Sleep(scaled(5*time.Second, 30*time.Second))
	l.Stop()
	sent, refused := l.Accepted(), l.Refused()
	require.NotEmpty(t, sent, "nothing acknowledged: %v", refused)
	queued := metric(t, c, "otelcol_exporter_queue_size", `exporter="`+exporter+`"`)
	t.Logf("volume full: acknowledged %d spans, refused %v; queue_size %g", len(sent), refused, queued)
	for code := range refused {
		assert.Contains(t, []codes.Code{codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded}, code,
			"a refusal the applications do not retry")
	}
	// A request whose client gave up (DeadlineExceeded) may still have
	// been queued: a duplicate to be, not a count gone wrong.
	late := float64(refused[codes.DeadlineExceeded])
	if late == 0 {
		assert.Equal(t, float64(len(sent)), queued, "queue_size is not what the agent acknowledged")
	} else {
		assert.True(t, queued >= float64(len(sent)) && queued <= float64(len(sent))+late,
			"queue_size %g, acknowledged %d, timed out %g", queued, len(sent), late)
	}

	// The shape of a refusal, over both protocols.
	b := genBatch("agent-disk-full-probe", 1, 2)
	err := exportGRPC(grpcConn(t, c.GRPCEndpoint()), b.td)
	require.Error(t, err, "accepted with the volume full")
	st := status.Convert(err)
	assert.Equal(t, codes.Unavailable, st.Code(), "%v", err)
	hasRetryInfo := false
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.RetryInfo); ok {
			hasRetryInfo = true
		}
	}
	assert.True(t, hasRetryInfo, "gRPC refusal without RetryInfo: %v", err)
	resp, err := http.Post(c.HTTPEndpoint()+"/v1/traces", "application/x-protobuf", strings.NewReader(string(protoBody(t, b.td))))
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"), "HTTP refusal without Retry-After")
	assert.Positive(t, metric(t, c, "otelcol_guarded_file_storage_refused_requests"))
	assert.NotContains(t, c.Output(), "no space left on device", "the volume filled")
	return sent
}

// TestAgentQueueDiskFull: the volume fills, then the gateway recovers.
// Expected: every acknowledged span arrives, 0 lost. (Before the
// free-space reserve: 976 acknowledged, 856 delivered, 120 lost, and
// queue_size 2610.)
func TestAgentQueueDiskFull(t *testing.T) {
	needBinary(t)
	o := record(t)
	vol := mountTmpfs(t, "64m")
	gw := harness.StartSink(t)
	c, sent := fillAgentVolume(t, gw, vol)
	gw.SetFailure(nil)
	tl := waitDelivered(sent, 90*time.Second, gw)
	tl.fill(o)
	o.PeakRSS = peakRSS(c)
	t.Logf("gateway back: acknowledged %d, delivered %d, duplicates %d, lost %d", len(sent), tl.delivered, tl.duplicates, tl.lost)
	require.Zero(t, tl.lost, "acknowledged spans lost, e.g. %v", tl.missing)
	assert.Equal(t, 0.0, metric(t, c, "otelcol_exporter_queue_size", `exporter="load_balancing"`), "queue_size after delivering everything")
	requireAcceptsAgain(t, c)
	assert.NotContains(t, c.Output(), "no space left on device", "the volume filled")
	requireAlive(t, c)
}

// TestAgentQueueDiskFullRestart: the volume fills, the agent is killed
// (SIGKILL) and a new one starts on the same full volume, then the gateway
// recovers. Expected: the new agent replays the queue, 0 lost.
func TestAgentQueueDiskFullRestart(t *testing.T) {
	needBinary(t)
	o := record(t)
	vol := mountTmpfs(t, "64m")
	gw := harness.StartSink(t)
	c, sent := fillAgentVolume(t, gw, vol)
	o.PeakRSS = peakRSS(c)
	c.Kill()
	restartAgentDelivers(t, o, gw, vol, sent)
}

// TestAgentHostQueueDiskFull is the same repro with configs/agent-host.yaml
// (the deb/rpm agent: otlp_retry with upstream's persistent queue in
// guarded_file_storage, and its dead letter, on one state volume).
func TestAgentHostQueueDiskFull(t *testing.T) {
	needBinary(t)
	o := record(t)
	vol := mountTmpfs(t, "64m")
	gw := harness.StartSink(t)
	gw.SetFailure(outage)
	c := harness.Start(t, harness.Config("agent-host.yaml"), harness.Options{
		Env: []string{"OTLP_ENDPOINT=" + gw.GRPCEndpoint(), "API_KEY=test", "OTLP_INSECURE=true"},
		Set: []string{
			"extensions::guarded_file_storage/queue::directory=" + vol + "/queue",
			"extensions::guarded_file_storage/queue::compaction::directory=" + vol + "/queue",
			"exporters::otlp_retry::dead_letter::directory=" + vol + "/deadletter",
			"extensions::health::drain_delay=0s",
			// Recovery within the scenario, not the shipped minutes.
			"exporters::otlp_retry::retry_on_failure::initial_interval=100ms",
			"exporters::otlp_retry::retry_on_failure::max_interval=1s",
			"exporters::otlp_retry::circuit_breaker::open_duration=1s",
			"exporters::otlp_retry::dead_letter::replay_interval=1s",
			smallVolumeCompaction,
		},
	})
	c.WaitReady(time.Minute)
	sent := fillVolume(t, c, "otlp_retry")
	gw.SetFailure(nil)
	tl := waitDelivered(sent, 2*time.Minute, gw)
	tl.fill(o)
	o.PeakRSS = peakRSS(c)
	t.Logf("gateway back: acknowledged %d, delivered %d, duplicates %d, lost %d", len(sent), tl.delivered, tl.duplicates, tl.lost)
	require.Zero(t, tl.lost, "acknowledged spans lost, e.g. %v", tl.missing)
	requireAcceptsAgain(t, c)
	requireAlive(t, c)
}

// requireAcceptsAgain: once the queue drained, the volume has room again
// (compaction shrinks the queue file; bbolt never returns space itself) and
// c accepts new data.
func requireAcceptsAgain(t *testing.T, c *harness.Collector) {
	t.Helper()
	conn := grpcConn(t, c.GRPCEndpoint())
	began := time.Now()
	var err error
	ok := waitFor(90*time.Second, func() bool {
		err = exportGRPC(conn, genBatch("agent-disk-full-after", 1, 2).td)
		return err == nil
	})
	require.True(t, ok, "still refusing 90 s after the queue drained: %v", err)
	t.Logf("accepting again %s after the queue drained", time.Since(began).Round(100*time.Millisecond))
}
